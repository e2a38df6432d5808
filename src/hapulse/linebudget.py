"""A token bucket for log lines, with a summary of the lines it held back (pure).

Two storms share it: rejected packets (a flood of garbage, `wire.rejects`)
and membership churn (a starved machine where a hundred peers flap: the
N-node bench at 250 ms logged 773,509 deaths, 1.4 GB, and writing them took
the CPU the heartbeats needed). :class:`LineBudget` lets ``rate`` lines a
second through on average and ``burst`` at once; the lines it holds back are
counted, and :meth:`LineBudget.due` hands their count to a summary line once
``interval`` has passed since the first one::

    budget = LineBudget(rate=5.0, burst=300, interval=10.0)
    if budget.take(now):
        log.warning(line)
    ...
    held = budget.due(now)          # (81234, 10.0): lines held back, over how many s

The summary takes a token too: it may run the bucket into a debt of at most
``burst`` tokens, and waits (a later :meth:`next_deadline`) rather than go
deeper, so in any window of T seconds at most ``2 * burst + rate * T`` lines
are written.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """Lines per second, burst, and the period a summary covers."""

    rate: float
    burst: int
    interval: float

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1 and self.interval > 0):
            raise ValueError(f"invalid log budget {self!r}")


class LineBudget:
    """Decides which lines are written; counts the others until their summary."""

    def __init__(self, limits: BudgetLimits) -> None:
        self.limits = limits
        self._tokens = float(limits.burst)
        self._refilled: float | None = None  # when _tokens was last brought up to date
        self.held = 0  # lines held back since the last summary
        self._since: float | None = None  # when the first of them was held back

    def _refill(self, now: float) -> None:
        if self._refilled is not None and now > self._refilled:
            self._tokens = min(float(self.limits.burst),
                               self._tokens + (now - self._refilled) * self.limits.rate)
        if self._refilled is None or now > self._refilled:
            self._refilled = now

    def take(self, now: float) -> bool:
        """True when one more line may be written now; else it is counted as held back."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        if self.held == 0:
            self._since = now
        self.held += 1
        return False

    def next_deadline(self) -> float | None:
        """When :meth:`due` has a count to give; None while nothing was held back."""
        if self.held == 0 or self._since is None:
            return None
        due = self._since + self.limits.interval
        floor = 1.0 - self.limits.burst  # the tokens a summary needs: debt stays <= burst
        if self._tokens < floor and self._refilled is not None:
            due = max(due, self._refilled + (floor - self._tokens) / self.limits.rate)
        return due

    def due(self, now: float) -> tuple[int, float] | None:
        """(lines held back, seconds they cover) once a summary is due, else None; resets."""
        self._refill(now)
        deadline = self.next_deadline()
        if deadline is None or now < deadline - 1e-9 or self._since is None:
            return None
        out = (self.held, now - self._since)
        self._tokens = max(self._tokens - 1.0, -float(self.limits.burst))
        self.held = 0
        self._since = None
        return out


# Membership churn (late heartbeats, deaths, node and link changes): a real event in
# a 100-node cluster is a few lines per peer (about 500 in all when every peer comes
# up), so the burst lets any one event through whole; a storm averages 5 lines a second.
CHURN = BudgetLimits(rate=5.0, burst=500, interval=10.0)


class ChurnBudget(LineBudget):
    """The daemon's budget for membership lines (each change is still an event)."""

    def __init__(self, limits: BudgetLimits = CHURN) -> None:
        super().__init__(limits)

    def summary(self, now: float) -> str | None:
        held = self.due(now)
        if held is None:
            return None
        count, seconds = held
        return (f"membership churn: {count} log lines held back in the last {seconds:.0f} s "
                f"(late heartbeats, deaths, node and link changes; each is still an event: "
                f"hapulse events, metrics)")
