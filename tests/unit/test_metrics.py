"""The exporter: events fed in, the exposition text parsed back; one real scrape on loopback."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from hapulse.membership.core import INTERVAL_BUCKETS, LinkIntervals, LinkView, NodeView
from hapulse.metrics import Metrics, ScrapeView
from hapulse.states import GroupState, LinkState, NodeState
from hapulse.wire.errors import RejectReason


def peer(name: str, heard_ago: float | None, late: int = 0,
         intervals: tuple[LinkIntervals, ...] = ()) -> NodeView:
    """A peer as the membership core's view shows it."""
    return NodeView(name, NodeState.ACTIVE, False, 5, heard_ago,
                    (LinkView("eth2", LinkState.UP),), late, intervals)


def counts(**per_bucket: int) -> tuple[int, ...]:
    """Bucket counts (not cumulative) from {"le_0_15": 2, "inf": 1}."""
    out = [0] * (len(INTERVAL_BUCKETS) + 1)
    for key, n in per_bucket.items():
        out[len(INTERVAL_BUCKETS) if key == "inf" else
            INTERVAL_BUCKETS.index(float(key[3:].replace("_", ".")))] = n
    return tuple(out)


Sample = tuple[str, tuple[tuple[str, str], ...]]


def samples(m: Metrics) -> dict[Sample, float]:
    out: dict[Sample, float] = {}
    for family in text_string_to_metric_families(m.exposition()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(m: Metrics, name: str, **labels: str) -> float:
    return samples(m)[(name, tuple(sorted(labels.items())))]


def test_node_states_deaths_and_up() -> None:
    m = Metrics("f802")
    m.declare(["f801", "f802"], ["IPaddr::192.168.1.118/24/eth0"])
    assert value(m, "hapulse_node_state", node="f801", state="init") == 1
    assert value(m, "hapulse_node_up", node="f801") == 0
    assert value(m, "hapulse_node_deaths_total", node="f801") == 0
    m.node_status("f801", NodeState.ACTIVE)
    assert value(m, "hapulse_node_up", node="f801") == 1
    assert value(m, "hapulse_node_state", node="f801", state="active") == 1
    assert value(m, "hapulse_node_state", node="f801", state="init") == 0
    m.node_status("f801", NodeState.DEAD)
    m.declare(["f801", "f802"], [])  # a reload re-declares: the state is kept
    assert value(m, "hapulse_node_up", node="f801") == 0
    assert value(m, "hapulse_node_state", node="f801", state="dead") == 1
    assert value(m, "hapulse_node_deaths_total", node="f801") == 1
    assert sum(v for (n, lab), v in samples(m).items()
               if n == "hapulse_node_state" and ("node", "f801") in lab) == 1


def test_links_heartbeats_and_seconds_since_heard_at_scrape_time() -> None:
    m = Metrics("f802")
    m.declare(["f801", "f802"], [])
    # declared, no view yet: late heartbeats from 0, nothing heard
    assert value(m, "hapulse_late_heartbeats_total", node="f801") == 0
    assert ("hapulse_late_heartbeats_total", (("node", "f802"),)) not in samples(m)
    assert not any(n == "hapulse_peer_seconds_since_heard" for n, _ in samples(m))
    m.link_status("f801", "eth2", LinkState.UP)
    m.link_status("f801", "eth0", LinkState.DEAD)
    views = [ScrapeView(at=1002.5, peers=(peer("f801", 2.5, late=1, intervals=(
        LinkIntervals("eth2", counts(le_0_1=1, le_0_15=1, le_0_5=1), 0.62),)),))]
    asked: list[int] = []

    def source() -> ScrapeView:
        asked.append(1)
        return views[-1]

    m.set_source(source)
    assert value(m, "hapulse_link_up", node="f801", link="eth2") == 1
    assert value(m, "hapulse_link_up", node="f801", link="eth0") == 0
    assert value(m, "hapulse_heartbeat_interval_seconds_count", node="f801", link="eth2") == 3
    assert value(m, "hapulse_heartbeat_interval_seconds_sum", node="f801",
                 link="eth2") == pytest.approx(0.62)
    assert value(m, "hapulse_heartbeat_interval_seconds_bucket", node="f801", link="eth2",
                 le="0.15") == 2
    assert value(m, "hapulse_heartbeat_interval_seconds_bucket", node="f801", link="eth2",
                 le="0.5") == 3
    assert value(m, "hapulse_heartbeat_interval_seconds_bucket", node="f801", link="eth2",
                 le="+Inf") == 3
    assert value(m, "hapulse_peer_last_heard_timestamp_seconds", node="f801") == 1000.0
    assert value(m, "hapulse_peer_seconds_since_heard", node="f801") == 2.5
    assert value(m, "hapulse_late_heartbeats_total", node="f801") == 1
    assert len(asked) == 10  # one view per scrape, taken before the families are read
    views.append(ScrapeView(at=1010.0, peers=(peer("f801", 0.25, late=2),)))
    assert value(m, "hapulse_peer_seconds_since_heard", node="f801") == 0.25
    assert value(m, "hapulse_late_heartbeats_total", node="f801") == 2


def test_a_failing_source_costs_only_the_scrape_time_series(
        caplog: pytest.LogCaptureFixture) -> None:
    m = Metrics("f802")
    m.declare(["f801", "f802"], [])
    m.node_status("f801", NodeState.DEAD)

    def broken() -> ScrapeView:
        raise RuntimeError("the loop is gone")

    m.set_source(broken)
    assert value(m, "hapulse_node_up", node="f801") == 0
    assert value(m, "hapulse_late_heartbeats_total", node="f801") == 0
    assert value(m, "hapulse_rejected_packets_total", reason="malformed") == 0
    assert "taking the scrape-time view failed" in caplog.text


def test_failover_groups_owner_and_split_brain() -> None:
    m = Metrics("f802")
    g = "IPaddr::192.168.1.118/24/eth0"
    m.declare(["f801", "f802"], [g])
    assert value(m, "hapulse_group_state", group=g, state="stopped") == 1
    assert value(m, "hapulse_failovers_total", group=g) == 0
    m.group_status(g, GroupState.STOPPED, "f801")
    m.group_status(g, GroupState.STARTING, "f802")
    m.group_status(g, GroupState.RUNNING, "f802")
    m.failover(g, 1.75)
    m.split_brain(g)
    assert value(m, "hapulse_group_state", group=g, state="running") == 1
    assert value(m, "hapulse_group_state", group=g, state="starting") == 0
    assert value(m, "hapulse_group_owner", group=g, node="f802") == 1
    assert value(m, "hapulse_group_owner", group=g, node="f801") == 0
    assert value(m, "hapulse_failovers_total", group=g) == 1
    assert value(m, "hapulse_failover_duration_seconds_sum", group=g) == 1.75
    assert value(m, "hapulse_failover_duration_seconds_bucket", group=g, le="1.0") == 0
    assert value(m, "hapulse_failover_duration_seconds_bucket", group=g, le="2.0") == 1
    assert value(m, "hapulse_split_brains_total", group=g) == 1
    m.group_status(g, GroupState.FAILED, None)
    assert value(m, "hapulse_group_state", group=g, state="failed") == 1
    assert value(m, "hapulse_group_owner", group=g, node="f802") == 0


def test_monitors_fail_counts_and_rejects() -> None:
    m = Metrics("f801")
    assert {lab[0][1] for (n, lab) in samples(m) if n == "hapulse_rejected_packets_total"} \
        == {r.value for r in RejectReason}
    m.monitor_result("httpd", "ok", 0.02)
    m.monitor_result("httpd", "timeout", 5.0)
    m.fail_count_set("IPaddr::192.168.1.118/24/eth0", "f801", 2)
    m.set_source(lambda: ScrapeView(at=0.0, rejected={"bad_signature": 1, "malformed": 40}))
    assert value(m, "hapulse_monitor_checks_total", resource="httpd", result="ok") == 1
    assert value(m, "hapulse_monitor_checks_total", resource="httpd", result="timeout") == 1
    assert value(m, "hapulse_monitor_up", resource="httpd") == 0
    assert value(m, "hapulse_monitor_duration_seconds_count", resource="httpd") == 2
    assert value(m, "hapulse_fail_count", group="IPaddr::192.168.1.118/24/eth0",
                 node="f801") == 2
    assert value(m, "hapulse_rejected_packets_total", reason="bad_signature") == 1
    assert value(m, "hapulse_rejected_packets_total", reason="malformed") == 40
    assert value(m, "hapulse_rejected_packets_total", reason="no_key") == 0
    with pytest.raises(ValueError, match="monitor result 'crashed'"):
        m.monitor_result("httpd", "crashed", 0.1)


def test_registry_is_private() -> None:
    a, b = Metrics("f801"), Metrics("f802")  # two in one process: no duplicate series
    a.node_status("f802", NodeState.DEAD)
    assert ("hapulse_node_deaths_total", (("node", "f802"),)) not in samples(b)
    assert not any(n.startswith(("process_", "python_")) for n, _ in samples(a))


def test_served_on_loopback_and_scraped() -> None:
    m = Metrics("f801")
    m.node_status("f802", NodeState.DEAD)
    port = m.start("127.0.0.1", 0)
    try:
        assert port > 0
        with pytest.raises(RuntimeError, match="already started"):
            m.start("127.0.0.1", 0)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain")
            body = resp.read().decode("utf-8")
    finally:
        m.stop()
    m.stop()  # idempotent
    scraped = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(body) for s in f.samples}
    assert scraped[("hapulse_node_deaths_total", (("node", "f802"),))] == 1
    assert scraped[("hapulse_node_up", (("node", "f802"),))] == 0
