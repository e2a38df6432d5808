"""The daemon's metrics wiring: enabled by hapulse.toml, fed by events and scrapes,
served on loopback, moved by a reload, and absent (no prometheus_client) otherwise."""

from __future__ import annotations

import asyncio
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from factories import solo_daemon, solo_ha_cf
from prometheus_client.parser import text_string_to_metric_families

from hapulse.config import load_config_or_raise
from hapulse.daemon import Daemon
from hapulse.events import EventKind
from hapulse.states import GroupState, NodeState
from hapulse.wire.auth import Authenticator
from hapulse.wire.message import Message

AUTH = Authenticator("sha1", 1, b"k")
GROUP = "192.168.1.118"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def toml(port: int, enabled: bool = True) -> str:
    return f'[metrics]\naddress = "127.0.0.1"\nport = {port}\nenabled = {str(enabled).lower()}\n'


def solo(tmp_path: Path, settings: str | None) -> Daemon:
    """The solo daemon, the peer's group in haresources, `settings` its hapulse.toml."""
    return solo_daemon(tmp_path, hacf=solo_ha_cf(warntime="2"), haresources=f"peer {GROUP}\n",
                       settings=settings)


def heartbeat(seq: int) -> bytes:
    return AUTH.sign_and_encode(Message.from_pairs([
        ("t", "status"), ("st", "active"), ("src", "peer"), ("seq", f"{seq:x}"), ("hg", "1"),
        ("ts", f"{0x6b060ff7 + seq:x}")]))


def scraped(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def value(d: Daemon, name: str, **labels: str) -> float:
    assert d.metrics is not None
    return scraped(d.metrics.exposition())[(name, tuple(sorted(labels.items())))]


def get(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            return str(resp.read().decode("utf-8"))
    except (urllib.error.URLError, ConnectionError):
        return None


def test_importing_the_daemon_leaves_prometheus_client_out() -> None:
    code = ("import sys, hapulse.daemon, hapulse.cli\n"
            "print(sorted(m for m in sys.modules if m.startswith('prometheus_client')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_no_metrics_section_no_exporter(tmp_path: Path) -> None:
    assert solo(tmp_path, None).metrics is None
    assert solo(tmp_path, toml(9694, enabled=False)).metrics is None


def test_declared_fed_by_packets_events_and_scrapes(tmp_path: Path) -> None:
    d = solo(tmp_path, toml(free_port()))
    assert d.metrics is not None
    assert value(d, "hapulse_node_state", node="peer", state="init") == 1
    assert value(d, "hapulse_node_up", node="solo") == 1  # this node's own state: up
    assert value(d, "hapulse_group_state", group=GROUP, state="stopped") == 1
    assert value(d, "hapulse_rejected_packets_total", reason="malformed") == 0

    t0 = time.monotonic()
    clock = [t0]
    d.now = lambda: clock[0]  # type: ignore[method-assign]
    d._on_packet(heartbeat(1), "127.0.0.2:694", "lo")
    for seq, dt in ((2, 1.0), (3, 2.0), (4, 5.0)):  # the last one 3 s after: late
        clock[0] = t0 + dt
        d._on_packet(heartbeat(seq), "127.0.0.2:694", "lo")
    d._on_packet(b"garbage", "10.9.9.9:694", "lo")
    assert value(d, "hapulse_node_up", node="peer") == 1
    assert value(d, "hapulse_link_up", node="peer", link="lo") == 1
    assert value(d, "hapulse_heartbeat_interval_seconds_count", node="peer", link="lo") == 3
    assert value(d, "hapulse_heartbeat_interval_seconds_sum", node="peer", link="lo") == 5.0
    assert value(d, "hapulse_heartbeat_interval_seconds_bucket", node="peer", link="lo",
                 le="1.0") == 2
    assert value(d, "hapulse_late_heartbeats_total", node="peer") == 1
    assert value(d, "hapulse_rejected_packets_total", reason="malformed") == 1
    assert value(d, "hapulse_peer_seconds_since_heard", node="peer") >= 0

    # the peer dies; 2.5 s later this node has taken its group over: one failover
    d.events.publish(EventKind.NODE, "peer", NodeState.DEAD, NodeState.ACTIVE)
    assert value(d, "hapulse_node_deaths_total", node="peer") == 1
    assert value(d, "hapulse_node_up", node="peer") == 0
    clock[0] = t0 + 7.5
    d.events.publish(EventKind.GROUP, GROUP, "acquired", detail="0.1 s, takeover")
    assert value(d, "hapulse_failovers_total", group=GROUP) == 1
    assert value(d, "hapulse_failover_duration_seconds_sum", group=GROUP) == 2.5
    # acquired again (no death in between): no second failover
    d.events.publish(EventKind.GROUP, GROUP, "acquired")
    assert value(d, "hapulse_failovers_total", group=GROUP) == 1
    d.events.publish(EventKind.SPLIT_BRAIN, GROUP, "kept", detail="also held by peer")
    assert value(d, "hapulse_split_brains_total", group=GROUP) == 1


def test_owner_follows_the_policy(tmp_path: Path) -> None:
    d = solo(tmp_path, toml(free_port()))
    assert d.metrics is not None
    d.node.policy.state[GROUP] = GroupState.RUNNING  # as after an acquisition here
    d.events.publish(EventKind.GROUP, GROUP, "acquired")
    assert value(d, "hapulse_group_owner", group=GROUP, node="solo") == 1
    assert value(d, "hapulse_group_state", group=GROUP, state="running") == 1
    d.node.policy.state[GROUP] = GroupState.STOPPED
    d.events.publish(EventKind.GROUP, GROUP, "released")
    assert value(d, "hapulse_group_owner", group=GROUP, node="solo") == 0
    assert value(d, "hapulse_group_state", group=GROUP, state="stopped") == 1


def test_bind_failure_is_a_clear_error_not_a_crash(tmp_path: Path,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        d = solo(tmp_path, toml(port))
        with caplog.at_level(logging.ERROR):
            d.feed.start()
    assert d.metrics is not None and not d.metrics.serving
    assert f"cannot serve /metrics on 127.0.0.1:{port}" in caplog.text
    assert str(tmp_path / "hapulse.toml") in caplog.text


async def until(what: str, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def test_served_from_its_thread_and_moved_by_reload(tmp_path: Path) -> None:
    first, second = free_port(), free_port()
    d = solo(tmp_path, toml(first))

    async def main() -> None:
        d._loop = asyncio.get_running_loop()
        d.feed.attach(d._loop)
        d.feed.start()
        d._on_packet(b"garbage", "10.9.9.9:694", "lo")
        # a scrape on the server's thread: the view is handed over by the loop
        body = await asyncio.to_thread(get, first)
        assert body is not None
        assert scraped(body)[("hapulse_rejected_packets_total", (("reason", "malformed"),))] \
            == 1
        (tmp_path / "hapulse.toml").write_text(toml(second))
        reply = d.reload()
        assert reply["ok"] and f"metrics (127.0.0.1:{first} -> 127.0.0.1:{second})" \
            in reply["changes"]  # type: ignore[operator]
        await until("the endpoint on the new port", lambda: d.metrics is not None
                    and d.metrics.bound == ("127.0.0.1", second))
        moved = await asyncio.to_thread(get, second)
        assert moved is not None and "hapulse_rejected_packets_total" in moved
        assert await asyncio.to_thread(get, first) is None
        (tmp_path / "hapulse.toml").write_text(toml(second, enabled=False))
        assert d.reload()["ok"]
        assert d.metrics is None
        await until("the endpoint stopped", lambda: not d._tasks)
        assert await asyncio.to_thread(get, second) is None
        (tmp_path / "hapulse.toml").write_text(toml(first))
        assert d.reload()["ok"]
        assert d.metrics is not None and d.metrics.serving
        assert await asyncio.to_thread(get, first) is not None
        await d._close()

    asyncio.run(main())


def test_reload_plan_names_the_metrics_change(tmp_path: Path) -> None:
    from hapulse.reload import plan_reload

    old = solo(tmp_path, None).config
    (tmp_path / "hapulse.toml").write_text(toml(9700))
    new = load_config_or_raise(tmp_path, node="solo")
    plan = plan_reload(old, new)
    assert plan.metrics_changed and not plan.restart_needed
    assert "metrics (off -> 127.0.0.1:9700)" in plan.changes
    assert not plan_reload(new, load_config_or_raise(tmp_path, node="solo")).metrics_changed
