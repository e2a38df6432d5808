"""The shipped alert rules cover what an operator must hear of, and their unit test
(`promtool test rules`) exercises every one of those alerts. promtool itself runs in
tests/unit/test_prometheus_files.py (skipped without it)."""

from __future__ import annotations

import re
from pathlib import Path

DIR = Path(__file__).resolve().parents[2] / "packaging" / "prometheus"

# alert -> a series (and matcher) its expression must read
REQUIRED = {
    "HapulseNodeDead": 'hapulse_node_state{state="dead"}',  # a node dead
    "HapulseLinkDown": "hapulse_link_up",  # a link down
    "HapulseLateHeartbeats": "hapulse_late_heartbeats_total",  # late heartbeats
    "HapulseSplitBrain": "hapulse_split_brains_total",  # a split brain
    "HapulseGroupFailed": 'hapulse_group_state{state="failed"}',  # a group failed
}


def alerts(text: str) -> dict[str, str]:
    """alert name -> its expr, from the rules file (no YAML library needed: one line each)."""
    found = re.findall(r"-\s*alert:\s*(\S+)\s*\n\s*expr:\s*(.+)", text)
    return dict(found)


def test_the_required_alerts_exist_on_the_right_series() -> None:
    rules = alerts((DIR / "hapulse.rules.yml").read_text())
    for name, series in REQUIRED.items():
        assert name in rules, f"{name} missing from hapulse.rules.yml"
        assert series in rules[name], f"{name}: {rules[name]!r} does not read {series}"


def test_each_required_alert_is_unit_tested_firing() -> None:
    text = (DIR / "hapulse.rules.test.yml").read_text()
    firing = set(re.findall(r"alertname:\s*(\S+)\s*\n\s*exp_alerts:\s*\n\s*- exp_labels", text))
    assert set(REQUIRED) <= firing, set(REQUIRED) - firing
