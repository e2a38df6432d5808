"""What a run measured, filled in by the scenarios and read by the report."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Results:
    # (system, setting, metric) -> one value per repetition, seconds (to the microsecond)
    rows: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    # (system, setting) -> idle cost (cpu_s_per_min, rss_mb, pps, false_failovers)
    idle: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    scaling: list[dict[str, float]] = field(default_factory=list)  # bench.cluster rows
    # the search at keepalive 250 ms: one row per size tried, the largest that held,
    # the smallest that failed (0: none), the idle window used (s)
    hold: list[dict[str, float]] = field(default_factory=list)
    hold_max: int = 0
    hold_fail: int = 0
    hold_idle: float = 0.0
    soak: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: tuple[str, str, str], value: float) -> None:
        self.rows.setdefault(key, []).append(value)
