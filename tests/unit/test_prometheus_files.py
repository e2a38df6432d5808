"""packaging/prometheus: promtool accepts the files, the alerts fire, every series exists."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hapulse.membership.core import INTERVAL_BUCKETS, LinkIntervals, LinkView, NodeView
from hapulse.metrics import Metrics, ScrapeView
from hapulse.states import GroupState, LinkState, NodeState

DIR = Path(__file__).resolve().parents[2] / "packaging" / "prometheus"
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None,
                                    reason="promtool absent (apt-get install prometheus)")


def promtool(*args: str) -> str:
    assert PROMTOOL is not None
    done = subprocess.run([PROMTOOL, *args], cwd=DIR, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@needs_promtool
def test_promtool_check_config() -> None:
    assert "SUCCESS: prometheus.yml is valid" in promtool("check", "config", "prometheus.yml")


@needs_promtool
def test_promtool_check_rules() -> None:
    assert "SUCCESS: 7 rules found" in promtool("check", "rules", "hapulse.rules.yml")


@needs_promtool
def test_promtool_rule_unit_tests() -> None:
    assert "SUCCESS" in promtool("test", "rules", "hapulse.rules.test.yml")


def exported_names() -> set[str]:
    """Every sample name an exporter with one event of each kind serves."""
    m = Metrics("f802")
    m.declare(["f801", "f802"], ["192.168.1.118"])
    m.node_status("f801", NodeState.DEAD)
    m.link_status("f801", "eth2", LinkState.DEAD)
    one = (1,) + (0,) * len(INTERVAL_BUCKETS)
    m.set_source(lambda: ScrapeView(at=1000.0, peers=(NodeView(
        "f801", NodeState.DEAD, False, 5, 31.0, (LinkView("eth2", LinkState.DEAD),), 1,
        (LinkIntervals("eth2", one, 0.05),)),), rejected={"malformed": 1}))
    m.failover("192.168.1.118", 1.0)
    m.group_status("192.168.1.118", GroupState.RUNNING, "f802")
    m.monitor_result("httpd", "ok", 0.1)
    m.fail_count_set("192.168.1.118", "f801", 1)
    m.split_brain("192.168.1.118")
    return {s.name for f in text_string_to_metric_families(m.exposition()) for s in f.samples}


def used_names(text: str) -> set[str]:
    return set(re.findall(r"\bhapulse_[a-z_]+\b", text))


def test_rules_and_dashboard_name_only_exported_series() -> None:
    exported = exported_names()
    rules = used_names((DIR / "hapulse.rules.yml").read_text())
    dashboard = used_names((DIR / "grafana-hapulse.json").read_text())
    assert len(rules) >= 6 and len(dashboard) >= 12
    assert rules - exported == set()
    assert dashboard - exported == set()


def test_dashboard_is_importable_json() -> None:
    dash = json.loads((DIR / "grafana-hapulse.json").read_text())
    assert dash["uid"] == "hapulse"
    panels = dash["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for p in panels:
        assert p["targets"] and all(t["expr"].strip() for t in p["targets"]), p["title"]
        assert p["datasource"]["uid"] == "${datasource}"
    assert {v["name"] for v in dash["templating"]["list"]} == {"datasource", "observer"}
