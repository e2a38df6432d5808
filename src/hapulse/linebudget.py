"""Token buckets for log lines, with summaries of the lines they held back (pure).

Two storms meet them: rejected packets (a flood of garbage, `wire.rejects`)
and membership churn (a starved machine where a hundred peers flap: the
N-node bench at 250 ms logged 773,509 deaths, 1.4 GB, and writing them took
the CPU the heartbeats needed).

:class:`LineBudget` is one bucket for a whole stream: ``rate`` lines a second
on average and ``burst`` at once; the lines it holds back are counted, and
:meth:`LineBudget.due` hands their count to a summary line once ``interval``
has passed since the first one::

    budget = LineBudget(BudgetLimits(rate=0.8, burst=3, interval=10.0))
    if budget.take(now):
        log.warning(line)
    ...
    held = budget.due(now)          # (81234, 10.0): lines held back, over how many s

The summary takes a token too: it may run the bucket into a debt of at most
``burst`` tokens, and waits (a later :meth:`next_deadline`) rather than go
deeper, so in any window of T seconds at most ``2 * burst + rate * T`` lines
are written.

:class:`ChurnBudget` gives each peer a bucket of its own, so a cluster coming
up (every peer's status and link lines at once, whatever the number of
peers) is logged whole, and only a peer that keeps changing is held back; its
summary is one line per ``interval`` at most.
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


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; starts full."""

    __slots__ = ("burst", "rate", "refilled", "tokens")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, float(burst)
        self.tokens = float(burst)
        self.refilled: float | None = None  # when `tokens` was last brought up to date

    def refill(self, now: float) -> None:
        if self.refilled is not None and now > self.refilled:
            self.tokens = min(self.burst, self.tokens + (now - self.refilled) * self.rate)
        if self.refilled is None or now > self.refilled:
            self.refilled = now

    def take(self, now: float) -> bool:
        self.refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class LineBudget:
    """Decides which lines are written; counts the others until their summary."""

    def __init__(self, limits: BudgetLimits) -> None:
        self.limits = limits
        self._bucket = TokenBucket(limits.rate, limits.burst)
        self.held = 0  # lines held back since the last summary
        self._since: float | None = None  # when the first of them was held back

    def take(self, now: float) -> bool:
        """True when one more line may be written now; else it is counted as held back."""
        if self._bucket.take(now):
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
        bucket = self._bucket
        if bucket.tokens < floor and bucket.refilled is not None:
            due = max(due, bucket.refilled + (floor - bucket.tokens) / self.limits.rate)
        return due

    def due(self, now: float) -> tuple[int, float] | None:
        """(lines held back, seconds they cover) once a summary is due, else None; resets."""
        self._bucket.refill(now)
        deadline = self.next_deadline()
        if deadline is None or now < deadline - 1e-9 or self._since is None:
            return None
        out = (self.held, now - self._since)
        self._bucket.tokens = max(self._bucket.tokens - 1.0, -float(self.limits.burst))
        self.held = 0
        self._since = None
        return out


# Membership churn, per peer: a flap is about six lines (late, dead, the node's status
# and link going down, then up again); the burst lets a peer's first few flaps through
# whole, then a line every 10 s on average.
CHURN = BudgetLimits(rate=0.1, burst=20, interval=10.0)
CHURN_NAMED = 5  # peers named in a summary line


class ChurnBudget:
    """The daemon's budget for membership lines: a bucket per peer, one summary line
    per ``interval`` for all of them (each change is still an event)."""

    def __init__(self, limits: BudgetLimits = CHURN) -> None:
        self.limits = limits
        self._peers: dict[str, TokenBucket] = {}
        self.held = 0  # lines held back since the last summary
        self._held_for: dict[str, int] = {}
        self._since: float | None = None

    def take(self, peer: str, now: float) -> bool:
        """True when one more line about `peer` may be written now; else counted."""
        bucket = self._peers.get(peer)
        if bucket is None:
            bucket = self._peers[peer] = TokenBucket(self.limits.rate, self.limits.burst)
        if bucket.take(now):
            return True
        if self.held == 0:
            self._since = now
        self.held += 1
        self._held_for[peer] = self._held_for.get(peer, 0) + 1
        return False

    def next_deadline(self) -> float | None:
        return None if self._since is None else self._since + self.limits.interval

    def summary(self, now: float) -> str | None:
        """One line for what was held back once `interval` has passed, else None."""
        if self._since is None or now < self._since + self.limits.interval - 1e-9:
            return None
        most = sorted(self._held_for.items(), key=lambda kv: (-kv[1], kv[0]))
        names = ", ".join(f"{p} ({n})" for p, n in most[:CHURN_NAMED])
        more = f" and {len(most) - CHURN_NAMED} more" if len(most) > CHURN_NAMED else ""
        line = (f"membership churn: {self.held} log lines held back in the last "
                f"{now - self._since:.0f} s, about {names}{more} (late heartbeats, deaths, "
                f"node and link changes; each is still an event: hapulse events, "
                f"metrics; hapulse status shows where each node is now)")
        self.held, self._held_for, self._since = 0, {}, None
        return line
