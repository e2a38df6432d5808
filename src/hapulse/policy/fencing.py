"""STONITH bookkeeping (pure): which peers were reset, how often it was tried, when next.

The policy asks for a reset (:class:`~hapulse.actions.Fence`) before it takes
a dead peer's groups, or a live peer's whose stop failed; the daemon runs
cluster-glue's `stonith` and reports back. A failed reset is retried every
FENCE_RETRY seconds, FENCE_ATTEMPTS times in all (each failure at CRIT), then
given up: the groups stay down until an operator resets the node by hand. A
peer seen alive again must be reset again should it die again.
"""

from __future__ import annotations

from dataclasses import dataclass

from hapulse.actions import Fence, Log
from hapulse.states import LogLevel

FENCE_RETRY = 5.0  # seconds between two tries to reset a peer (Heartbeat's interval)
FENCE_ATTEMPTS = 12  # then give up (a minute): the groups stay down, at CRIT


@dataclass
class FenceTry:
    """Resetting one peer: how often it was tried, when next, whether one runs now."""

    attempts: int = 0
    next_at: float = 0.0
    running: bool = False
    done: bool = False  # the peer was reset since it was last seen alive


class Fencing:
    def __init__(self) -> None:
        self.tries: dict[str, FenceTry] = {}
        self.failures = 0

    def reset(self, node: str) -> bool:
        """Was `node` reset since it was last seen alive?"""
        t = self.tries.get(node)
        return t is not None and t.done

    def request(self, node: str, now: float) -> list[Log | Fence]:
        """Reset `node` now, unless one runs, it is done, not due yet, or given up."""
        t = self.tries.setdefault(node, FenceTry())
        if t.running or t.done or now < t.next_at or t.attempts >= FENCE_ATTEMPTS:
            return []
        t.running = True
        t.attempts += 1
        return [Log(LogLevel.INFO, f"Resetting node {node} before taking its resources "
                                   f"(attempt {t.attempts}/{FENCE_ATTEMPTS})"), Fence(node)]

    def finished(self, node: str, ok: bool, now: float) -> Log:
        """A reset ended; the log line says what follows."""
        t = self.tries.setdefault(node, FenceTry())
        t.running = False
        if ok:
            t.done = True
            return Log(LogLevel.INFO, f"node {node} now reset: its resources may be taken")
        self.failures += 1
        t.next_at = now + FENCE_RETRY
        then = ("; giving up: reset it by hand, then `hapulse takeover`"
                if t.attempts >= FENCE_ATTEMPTS else f"; retrying in {FENCE_RETRY:g} s")
        return Log(LogLevel.CRITICAL, f"Host {node} not reset! (attempt {t.attempts}/"
                                      f"{FENCE_ATTEMPTS}); its resources are not taken over"
                                      + then)

    def forget(self, node: str) -> None:
        """`node` is alive again: should it die again, it must be reset again."""
        self.tries.pop(node, None)

    def next_deadline(self, now: float) -> float | None:
        due = [t.next_at for t in self.tries.values()
               if not t.done and not t.running and t.next_at > now
               and t.attempts < FENCE_ATTEMPTS]
        return min(due) if due else None

    def fenced(self) -> tuple[str, ...]:
        return tuple(sorted(n for n, t in self.tries.items() if t.done))
