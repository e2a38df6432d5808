"""hapulse's benchmarks.

- ``python -m bench`` (``bash bench/run.sh``): hapulse beside Heartbeat 3.0.6 and
  keepalived on the lab's seed topology, in network namespaces (root); the
  report goes to docs/benchmarks.md.
- ``python -m bench.micro`` (``bash bench/run.sh --micro``): the heartbeat path
  in-process, µs per heartbeat received and sent (seconds, no root, no network).

Modules: ``systems`` (the three daemons, configured for the lab), ``testbed`` (one
two-node lab with a client probing it every millisecond, hapulse.lab.udpprobe),
``cluster`` (N hapulse nodes on one switch), ``measure`` (CPU, memory, packets read
from /proc and ip), ``scenarios`` (gaps, N nodes, the largest N at 250 ms, soak),
``results`` and ``report`` (the table), ``cli`` (the command); ``programs/`` holds
the files run or written into the lab (the lossy wire, keepalived's configuration).
"""
