"""Resource agents and the group manager (async edge).

Agents, chosen per haresources word, in Heartbeat's order:
- ``IPaddr`` / ``IPaddr2`` (and the bare address shorthand): native, via
  netlink (pyroute2), with a burst of gratuitous ARP (request and reply
  forms) so switches and clients move to this node's MAC at once. With no
  interface given, the one whose subnet holds the address is used, so the
  seed's LAN (eth0 on f801, eth1 on f802) fails over both ways.
- ``CONFDIR/resource.d/NAME ARGS start|stop|status`` (Heartbeat's scripts
  and resource-agents' wrappers), else ``/etc/init.d/NAME`` (LSB).
- ``ocf:PROVIDER:TYPE::name=value...``: OCF agents with OCF_RESKEY_*.
- a systemd unit ``NAME.service`` when no script exists and systemd runs.

Every program runs from an argv list with a timeout; its output goes to
the log, one line each.
"""

from hapulse.resources.agent import Agent, LogFn, Result
from hapulse.resources.ipaddr import IPaddr
from hapulse.resources.manager import ResourceManager
from hapulse.resources.scripts import MissingAgent, ScriptAgent, make_agent

__all__ = ["Agent", "IPaddr", "LogFn", "MissingAgent", "Result", "ResourceManager",
           "ScriptAgent", "make_agent"]
