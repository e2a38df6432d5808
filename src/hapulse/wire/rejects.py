"""One global budget for "rejected packet" log lines, whatever the sources (pure).

A flood of garbage from random source addresses and ports must not become a
flood of log lines (issue 15 measured 54,000 lines/s with a per-source
limit). :class:`RejectBudget` is a token bucket shared by every source:
``rate`` lines per second on average, ``burst`` at once. Every rejected
packet is counted under its :class:`RejectReason`; the ones whose line is
suppressed are summed up by :meth:`RejectBudget.summary`, which the daemon
calls when :meth:`RejectBudget.next_deadline` comes::

    budget = RejectBudget()
    if budget.note("10.0.0.9:40112", RejectReason.BAD_SIGNATURE, now):
        log.warning("rejected packet from ...")
    ...
    line = budget.summary(now)   # "suppressed 81234 packets from 5120 sources in the last 10 s"

The summary line takes a token from the same budget: it may run the bucket
into a debt of at most ``burst`` tokens, and waits (later ``next_deadline``)
rather than go deeper, so in any window of T seconds the lines written are at
most ``2 * burst + rate * T``. Memory is bounded: at most
``max_sources`` distinct sources are remembered per summary period.
"""

from __future__ import annotations

from dataclasses import dataclass

from hapulse.wire.errors import RejectReason


@dataclass(frozen=True, slots=True)
class RejectLimits:
    """The budget's settings: lines per second, burst, summary period, sources remembered."""

    # 0.8/s and a burst of 3: with the summaries, at most 2 * 3 + 0.8 * T lines in any T
    # seconds, so a flood of any length averages under one line per second (T >= 30 s)
    rate: float = 0.8
    burst: int = 3
    interval: float = 10.0
    max_sources: int = 10_000

    def __post_init__(self) -> None:
        if not (self.rate > 0 and self.burst >= 1 and self.interval > 0 and self.max_sources >= 1):
            raise ValueError(f"invalid reject log limits {self!r}")


class RejectBudget:
    """Counts rejected packets by reason and decides which ones get a log line."""

    def __init__(self, limits: RejectLimits | None = None) -> None:
        self.limits = limits or RejectLimits()
        self._tokens = float(self.limits.burst)
        self._refilled: float | None = None  # when _tokens was last brought up to date
        self._counts = dict.fromkeys((r.value for r in RejectReason), 0)
        self._suppressed = 0
        self._sources: set[str] = set()
        self._sources_overflow = False
        self._since: float | None = None  # start of the period the next summary covers

    # ---- the budget -----------------------------------------------------------
    def _refill(self, now: float) -> None:
        if self._refilled is not None and now > self._refilled:
            self._tokens = min(float(self.limits.burst),
                               self._tokens + (now - self._refilled) * self.limits.rate)
        if self._refilled is None or now > self._refilled:
            self._refilled = now

    def note(self, source: str, reason: RejectReason, now: float) -> bool:
        """Count one rejected packet; True when its log line fits in the budget."""
        self._counts[reason.value] += 1
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        if self._suppressed == 0:
            self._since = now
        self._suppressed += 1
        if len(self._sources) < self.limits.max_sources:
            self._sources.add(source)
        elif source not in self._sources:
            self._sources_overflow = True
        return False

    def next_deadline(self) -> float | None:
        """When :meth:`summary` has a line to give; None while nothing was suppressed."""
        if self._suppressed == 0 or self._since is None:
            return None
        due = self._since + self.limits.interval
        floor = 1.0 - self.limits.burst  # the tokens a summary needs: debt stays <= burst
        if self._tokens < floor and self._refilled is not None:
            due = max(due, self._refilled + (floor - self._tokens) / self.limits.rate)
        return due

    def summary(self, now: float) -> str | None:
        """The summary line of the suppressed packets once its period is over, else None."""
        self._refill(now)
        deadline = self.next_deadline()
        if deadline is None or now < deadline - 1e-9 or self._since is None:
            return None
        sources = f"{len(self._sources)}{'+' if self._sources_overflow else ''}"
        line = (f"suppressed {self._suppressed} packets from {sources} sources "
                f"in the last {now - self._since:.0f} s")
        self._tokens = max(self._tokens - 1.0, -float(self.limits.burst))
        self._suppressed = 0
        self._sources = set()
        self._sources_overflow = False
        self._since = None
        return line

    # ---- views ----------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Rejected packets since start, by reason (every reason, zeros included)."""
        return dict(self._counts)

    def total(self) -> int:
        return sum(self._counts.values())
