"""`hapulse reload` changes what runs: timers on the wire and in failure detection, keys,
haresources groups; a change that needs a restart is refused, naming it.

The seed's cluster with short timers (keepalive 200ms, deadtime 2 s), both nodes hapulse.
"""

from __future__ import annotations

import io
import re
import statistics
import subprocess
import time
from collections.abc import Iterator

import dpkt
import pytest

from hapulse.config import load_config_or_raise
from hapulse.lab import Host, Lab, wait_for
from hapulse.lab.ha_d import with_timers
from hapulse.lab.nodes import HAPULSE, HapulseNode, seed_files, served_by, web_node
from hapulse.wire.auth import Authenticator

pytestmark = pytest.mark.netns

VIP2 = "192.168.1.119"



def rewrite(node: HapulseNode, name: str, text: str) -> None:
    path = node.confdir / name
    path.write_text(text)
    if name == "authkeys":
        path.chmod(0o600)


def reload(node: HapulseNode) -> subprocess.CompletedProcess[str]:
    return node.host.run([HAPULSE, "reload", "--run-dir", str(node.run_dir)])


@pytest.fixture
def cluster(seed: Lab) -> Iterator[tuple[HapulseNode, HapulseNode]]:
    nodes = []
    for name in ("f801", "f802"):
        files = seed_files(name)
        files["ha.cf"] = with_timers(files["ha.cf"], "200ms", "1", "2", "4")
        nodes.append(web_node(seed.hosts[name], files))
    a, b = nodes
    a.start()
    b.start()
    wait_for(lambda: served_by(seed.hosts["client"]) == "f801", 30, interval=0.2,
             what="f801 serves the VIP")
    yield a, b


def heartbeats_from_f801(host: Host, count: int, auth: Authenticator) -> list[float]:
    """Capture `count` of f801's heartbeats on f802's heartbeat link (eth2); their arrival times
    (`ts` is whole seconds, so the capture's own timestamps are used), after checking
    each is signed with `auth`'s key (decode_and_verify raises otherwise)."""
    cap = subprocess.run(host.argv(["timeout", "10", "tcpdump", "-i", "eth2", "-U", "-c",
                                    str(count), "-w", "-",
                                    "udp dst port 694 and src host 10.0.0.1"]),
                         capture_output=True, timeout=15)
    assert cap.returncode == 0, cap.stderr
    times = []
    for ts, frame in dpkt.pcap.Reader(io.BytesIO(cap.stdout)):
        msg = auth.decode_and_verify(dpkt.ethernet.Ethernet(frame).data.data.data)
        if msg.get("t") == "status":
            times.append(float(ts))
    return times


def test_reload_applies_new_timers_on_the_wire_and_in_detection(
        seed: Lab, cluster: tuple[HapulseNode, HapulseNode]) -> None:
    a, b = cluster
    for node in (a, b):
        rewrite(node, "ha.cf", with_timers((node.confdir / "ha.cf").read_text(),
                                      "500ms", "3", "5", "10"))
        r = reload(node)
        assert r.returncode == 0, r.stdout + r.stderr
        st = node.status()
        assert st is not None and st["timers"]["keepalive"] == 0.5
        assert st["timers"]["deadtime"] == 5.0
    seed_auth = Authenticator.from_authkeys(load_config_or_raise(a.confdir, "f801").authkeys)
    sent = heartbeats_from_f801(seed.hosts["f802"], 8, seed_auth)
    gaps = [t2 - t1 for t1, t2 in zip(sent, sent[1:], strict=False)]
    assert 0.45 <= statistics.median(gaps) <= 0.55, gaps  # the wire: 500 ms, not 200

    seed.hosts["f801"].kill_all()
    killed = time.monotonic()
    wait_for(lambda: b.node_status("f801") == "dead", 10, interval=0.05,
             what="f802 declares f801 dead")
    took = time.monotonic() - killed
    assert 5.0 - 0.5 <= took <= 5.0 + 1.0, took  # the new deadtime, not the old 2 s


def test_a_new_key_is_used_at_once_without_a_false_failover(
        seed: Lab, cluster: tuple[HapulseNode, HapulseNode]) -> None:
    a, b = cluster
    for node in (a, b):  # a moment apart, as an operator reloads one node, then the next
        rewrite(node, "authkeys", "auth 1\n1 sha1 a-new-secret\n")
        assert reload(node).returncode == 0
    sent = heartbeats_from_f801(seed.hosts["f802"], 5,
                                Authenticator("sha1", 1, b"a-new-secret"))
    assert len(sent) == 5  # every one verifies with the new key (else decode raises)
    deadline = time.monotonic() + 3 * 2.0
    while time.monotonic() < deadline:  # three deadtimes: no death, the site stays
        assert b.node_status("f801") == "active"
        assert a.node_status("f802") == "active"
        time.sleep(0.2)
    for node in (a, b):
        st = node.status()
        assert st is not None and st["counters"]["deaths_seen"] == 0
    assert served_by(seed.hosts["client"]) == "f801"


def addresses(host: Host) -> str:
    return host.run(["ip", "-4", "-o", "addr", "show"]).stdout


def test_groups_added_and_removed_are_started_and_stopped(
        seed: Lab, cluster: tuple[HapulseNode, HapulseNode]) -> None:
    a, b = cluster
    extra = f"f802 {VIP2}\n"
    for node in (a, b):
        rewrite(node, "haresources", (node.confdir / "haresources").read_text() + extra)
        assert reload(node).returncode == 0
    wait_for(lambda: f" {VIP2}/" in addresses(seed.hosts["f802"]), 10, interval=0.1,
             what=f"f802 starts the added group {VIP2}")
    assert f" {VIP2}/" not in addresses(seed.hosts["f801"])
    for node in (a, b):
        rewrite(node, "haresources", (node.confdir / "haresources").read_text()
                .replace(extra, ""))
        assert reload(node).returncode == 0
    wait_for(lambda: f" {VIP2}/" not in addresses(seed.hosts["f802"]), 10, interval=0.1,
             what=f"f802 stops the removed group {VIP2}")
    st = b.status()
    assert st is not None and [g["id"] for g in st["groups"]] == ["192.168.1.118"]
    assert served_by(seed.hosts["client"]) == "f801"  # the site never moved


def test_a_change_that_needs_a_restart_is_refused_and_named(
        seed: Lab, cluster: tuple[HapulseNode, HapulseNode]) -> None:
    a, _ = cluster
    hacf = (a.confdir / "ha.cf").read_text()
    rewrite(a, "ha.cf", re.sub(r"(?m)^udpport\s+\S+", "udpport 695",
                               with_timers(hacf, "500ms", "3", "5", "10")))
    r = reload(a)
    assert r.returncode != 0
    assert "udpport (694 -> 695)" in r.stdout + r.stderr
    assert "restart" in r.stdout + r.stderr
    st = a.status()
    assert st is not None and st["timers"]["keepalive"] == 0.2  # nothing was applied
    assert "reload refused: udpport (694 -> 695)" in a.log_text()
    assert a.node_status("f802") == "active"
