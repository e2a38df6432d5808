"""Real hapulse daemons in network namespaces: the seed topology, bcast, mcast, serial."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from factories import ha_cf, ha_d_files

from hapulse.lab import Lab, wait_for
from hapulse.lab.nodes import HAPULSE, HapulseNode, seed_files

pytestmark = pytest.mark.netns

FAST = {"keepalive 1": "keepalive 0.5", "warntime 10": "warntime 1.5", "deadtime 30": "deadtime 2",
        "initdead 120": "initdead 4"}


def fast(files: dict[str, str]) -> dict[str, str]:
    text = files["ha.cf"]
    for a, b in FAST.items():
        text = text.replace(a, b)
    return {**files, "ha.cf": text}


def test_two_hapulse_nodes_detect_death_and_restart(seed: Lab) -> None:
    a = HapulseNode(seed.hosts["f801"], fast(seed_files("f801")))
    b = HapulseNode(seed.hosts["f802"], fast(seed_files("f802")))
    a.start()
    b.start()
    wait_for(lambda: b.node_status("f801") == "active" and a.node_status("f802") == "active",
             10, what="both nodes active")
    assert b.node("f801")["links"] == {"eth2": "up"}  # type: ignore[index]
    assert a.node("f802")["links"] == {"eth1": "up"}  # type: ignore[index]
    gen = b.node("f801")["generation"]  # type: ignore[index]
    seed.hosts["f801"].kill_all()
    killed = time.monotonic()
    wait_for(lambda: b.node_status("f801") == "dead", 2 + 2 * 0.5 + 2, what="f801 dead")
    took = time.monotonic() - killed
    assert took <= 2 + 2 * 0.5 + 0.5, took
    assert "Late heartbeat: Node f801" in b.log_text()
    assert b.node("f801")["links"] == {"eth2": "dead"}  # type: ignore[index]
    a.start()
    wait_for(lambda: b.node_status("f801") == "active", 10, what="f801 back")
    assert b.node("f801")["generation"] == gen + 1  # type: ignore[index]
    assert "restarted: generation" in b.log_text() or "status active" in b.log_text()


def test_status_table_and_tcpdump_once_a_second_decoded_ok(seed: Lab, tmp_path: Path) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("needs tcpdump")
    a = HapulseNode(seed.hosts["f801"], seed_files("f801"))
    b = HapulseNode(seed.hosts["f802"], seed_files("f802"))
    a.start()
    b.start()
    wait_for(lambda: a.node_status("f802") == "active", 10, what="f802 active")
    pcap = seed.hosts["f801"].dir / "hb.pcap"
    dump = seed.hosts["f801"].popen(["tcpdump", "-i", "eth1", "-w", str(pcap), "-U",
                                     "udp", "port", "694"], stderr=subprocess.DEVNULL)
    wait_for(lambda: pcap.exists() and pcap.stat().st_size > 24, 10, what="tcpdump started")
    start = time.monotonic()
    wait_for(lambda: time.monotonic() - start >= 5, 6)  # a fixed window to count packets in
    os.killpg(dump.pid, signal.SIGINT)
    dump.wait(timeout=10)
    r = subprocess.run([HAPULSE, "decode",
                        "--authkeys", str(a.confdir / "authkeys"), str(pcap)],
                       capture_output=True, text=True, timeout=30)
    lines = [line for line in r.stdout.splitlines() if " status from " in line]
    from_f801 = [line for line in lines if "from f801" in line]
    assert 4 <= len(from_f801) <= 7, r.stdout  # about once a second over ~5 s
    assert all(" auth ok " in line for line in lines)
    table = seed.hosts["f801"].run([HAPULSE, "status", "--run-dir", str(a.run_dir)]).stdout
    assert re.search(r"^f802\s+active\s+\S+\s+eth1:up", table, re.M), table


def _two_on(lab: Lab, medium: str) -> tuple[HapulseNode, HapulseNode]:
    files = ha_d_files(ha_cf(medium, nodes=("n1", "n2")))
    return HapulseNode(lab.hosts["n1"], files), HapulseNode(lab.hosts["n2"], files)


@pytest.mark.parametrize("medium", ["bcast eth0", "mcast eth0 225.0.0.1 694 1 0"])
def test_two_nodes_over_bcast_and_mcast(medium: str) -> None:
    prefix = f"hpt{os.getpid()}-" + ("b" if medium.startswith("bcast") else "m")
    with Lab(prefix) as lab:
        n1, n2 = lab.add_host("n1"), lab.add_host("n2")
        sw = lab.add_switch("lan")
        lab.plug(n1, "eth0", sw)
        lab.plug(n2, "eth0", sw)
        n1.add_address("eth0", "172.31.9.1/24")
        n2.add_address("eth0", "172.31.9.2/24")
        a, b = _two_on(lab, medium)
        a.start()
        b.start()
        wait_for(lambda: a.node_status("n2") == "active" and b.node_status("n1") == "active",
                 10, what=f"both active over {medium}")
        lab.hosts["n2"].kill_all()
        wait_for(lambda: a.node_status("n2") == "dead", 4, what="n2 dead")


def test_two_nodes_over_a_serial_pty_pair(tmp_path: Path) -> None:
    if shutil.which("socat") is None:
        pytest.skip("needs socat")
    socat = subprocess.Popen(["socat", "-d", "-d", "pty,raw,echo=0", "pty,raw,echo=0"],
                             stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        ptys: list[str] = []
        deadline = time.monotonic() + 10
        while len(ptys) < 2 and time.monotonic() < deadline:
            line = socat.stderr.readline()  # type: ignore[union-attr]
            m = re.search(r"PTY is (\S+)", line)
            if m:
                ptys.append(m.group(1))
        assert len(ptys) == 2
        with Lab(f"hpt{os.getpid()}-s") as lab:
            lab.add_host("n1")
            lab.add_host("n2")
            nodes = []
            for host, pty in zip(("n1", "n2"), ptys, strict=True):
                text = ha_cf("baud 115200", f"serial {pty}", nodes=("n1", "n2"), udpport=None)
                nodes.append(HapulseNode(lab.hosts[host], ha_d_files(text)))
            for n in nodes:
                n.start()
            wait_for(lambda: nodes[0].node_status("n2") == "active"
                     and nodes[1].node_status("n1") == "active", 10, what="active over serial")
            assert nodes[0].node("n2")["links"] == {ptys[0]: "up"}  # type: ignore[index]
    finally:
        os.killpg(socat.pid, signal.SIGKILL)
        socat.wait(timeout=10)
