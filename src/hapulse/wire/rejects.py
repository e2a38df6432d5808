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

The bucket is :class:`hapulse.linebudget.LineBudget`: in any window of T
seconds the lines written, summaries included, are at most
``2 * burst + rate * T``. Memory is bounded: at most
``max_sources`` distinct sources are remembered per summary period.
"""

from __future__ import annotations

from dataclasses import dataclass

from hapulse.linebudget import BudgetLimits, LineBudget
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


class RejectBudget(LineBudget):
    """Counts rejected packets by reason and decides which ones get a log line."""

    def __init__(self, limits: RejectLimits | None = None) -> None:
        given = limits or RejectLimits()
        super().__init__(BudgetLimits(given.rate, given.burst, given.interval))
        self._max_sources = given.max_sources
        self._counts = dict.fromkeys((r.value for r in RejectReason), 0)
        self._sources: set[str] = set()
        self._sources_overflow = False

    def note(self, source: str, reason: RejectReason, now: float) -> bool:
        """Count one rejected packet; True when its log line fits in the budget."""
        self._counts[reason.value] += 1
        if self.take(now):
            return True
        if len(self._sources) < self._max_sources:
            self._sources.add(source)
        elif source not in self._sources:
            self._sources_overflow = True
        return False

    def summary(self, now: float) -> str | None:
        """The summary line of the suppressed packets once its period is over, else None."""
        held = self.due(now)
        if held is None:
            return None
        count, seconds = held
        sources = f"{len(self._sources)}{'+' if self._sources_overflow else ''}"
        self._sources = set()
        self._sources_overflow = False
        return f"suppressed {count} packets from {sources} sources in the last {seconds:.0f} s"

    # ---- views ----------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        """Rejected packets since start, by reason (every reason, zeros included)."""
        return dict(self._counts)

    def total(self) -> int:
        return sum(self._counts.values())
