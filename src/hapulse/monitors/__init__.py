"""Resource monitors: each monitored resource checked at its interval, restarted in
place on failure, its group moved away when that does not help (issue 16).

- :mod:`hapulse.monitors.policy`: the decisions (pure): when to check, restart,
  move; fail counts.
- :mod:`hapulse.monitors.checks`: the checks themselves (async edge): lsb, ocf,
  systemd, ipaddr, http, tcp, each bounded by its timeout.
"""

from hapulse.monitors.policy import (
    FailCount,
    MonitorAction,
    MonitorPolicy,
    MonitorView,
    Move,
    Notify,
    Restart,
    RunCheck,
)

__all__ = ["FailCount", "MonitorAction", "MonitorPolicy", "MonitorView", "Move", "Notify",
           "Restart", "RunCheck"]
