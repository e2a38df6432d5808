"""Test hosts as network namespaces: the seed's topology on one machine.

Used by the netns tests, the interop tests against Heartbeat 3.0.6, the
demo and the benchmarks.

- :mod:`hapulse.lab.host`: :class:`Host`, one namespace run as a machine.
- :mod:`hapulse.lab.topology`: :class:`Lab` (hosts, cables, switches) and
  :func:`seed_lab`, the guide's f801/f802/client topology.
- :mod:`hapulse.lab.wait`: :func:`wait_for`, a condition with a deadline.
- :mod:`hapulse.lab.paths`: the shared folder, the seed's files and captures.
- :mod:`hapulse.lab.ha_d`: a node's three configuration files on disk.
- :mod:`hapulse.lab.nodes`, :mod:`hapulse.lab.heartbeat`: real daemons in hosts.
- :mod:`hapulse.lab.demo`: ``hapulse demo``.
"""

from hapulse.lab.host import Host, netns_ok
from hapulse.lab.topology import Lab, seed_lab
from hapulse.lab.wait import wait_for

__all__ = ["Host", "Lab", "netns_ok", "seed_lab", "wait_for"]
