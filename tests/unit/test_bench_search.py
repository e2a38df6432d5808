"""The bench's search for the largest N that holds at keepalive 250 ms: which sizes it
tries and what it concludes (the clusters replaced by a rule: sizes up to LIMIT hold)."""

from __future__ import annotations

import pytest

import bench.scenarios as scenarios
from bench.results import Results


def _search(monkeypatch: pytest.MonkeyPatch, limit: int, start: int,
            trials: int) -> tuple[list[int], Results]:
    tried: list[int] = []

    def hold_one(n: int, idle_s: float) -> dict[str, float]:
        tried.append(n)
        return {"nodes": float(n), "held": float(n <= limit)}

    monkeypatch.setattr(scenarios, "_hold_one", hold_one)
    res = Results()
    scenarios.hold_search(res, start, 300.0, trials)
    return tried, res


def test_doubles_then_halves_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    tried, res = _search(monkeypatch, limit=50, start=16, trials=10)
    assert tried == [16, 32, 64, 48, 56, 52]
    assert (res.hold_max, res.hold_fail, res.hold_idle) == (48, 52, 300.0)


def test_stops_at_maxnode_when_everything_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    tried, res = _search(monkeypatch, limit=100, start=32, trials=10)
    assert tried == [32, 64, 100]
    assert (res.hold_max, res.hold_fail) == (100, 0)


def test_a_first_failure_searches_below_and_trials_bound_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    tried, res = _search(monkeypatch, limit=10, start=32, trials=3)
    assert tried == [32, 16, 8]
    assert (res.hold_max, res.hold_fail) == (8, 16)
