"""Keep heartbeats on time under load: Heartbeat's `realtime` and `rtprio`.

Heartbeat runs its heartbeat path at SCHED_FIFO priority and locks its
memory (mlockall) so a busy or swapping machine does not delay heartbeats
into a false failover. hapulse does the same, and also keeps Python's
cyclic garbage collector out of the heartbeat path: objects alive after
start-up are frozen (never scanned again) and collection thresholds raised.
Each step that fails (an unprivileged container, a memory limit) is
reported and skipped, as Heartbeat does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os

MCL_CURRENT = 1
MCL_FUTURE = 2
MCL_ONFAULT = 4  # lock pages as they are touched: RSS stays honest


def apply(realtime: bool, rtprio: int | None) -> list[tuple[str, str]]:
    """Apply the settings; return (level, message) pairs for the log."""
    out: list[tuple[str, str]] = []
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)
    if not realtime:
        out.append(("info", "realtime off: normal scheduling, memory not locked"))
        return out
    prio = rtprio if rtprio is not None else max(1, os.sched_get_priority_max(os.SCHED_FIFO) // 2)
    try:
        # RESET_ON_FORK: resource scripts started by the daemon run at normal priority.
        policy = os.SCHED_FIFO | getattr(os, "SCHED_RESET_ON_FORK", 0)
        os.sched_setscheduler(0, policy, os.sched_param(prio))
        out.append(("info", f"realtime scheduling SCHED_FIFO priority {prio}"))
    except (OSError, AttributeError) as exc:
        out.append(("warning", f"cannot set SCHED_FIFO priority {prio}: {exc}; continuing"))
    libc_name = ctypes.util.find_library("c") or "libc.so.6"
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        if libc.mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) != 0:
            err = ctypes.get_errno()
            out.append(("error", f"mlockall failed: {os.strerror(err)}; continuing unlocked"))
        else:
            out.append(("info", "memory locked (mlockall)"))
    except OSError as exc:
        out.append(("error", f"mlockall unavailable: {exc}; continuing unlocked"))
    return out
