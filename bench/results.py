"""What a run measured, filled in by the scenarios and read by the report."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Results:
    # (system, setting, metric) -> one value per repetition, seconds
    rows: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    # (system, setting) -> idle cost (cpu_s_per_min, rss_mb, pps, false_failovers)
    idle: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    scaling: list[dict[str, float]] = field(default_factory=list)
    soak: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: tuple[str, str, str], value: float) -> None:
        self.rows.setdefault(key, []).append(value)
