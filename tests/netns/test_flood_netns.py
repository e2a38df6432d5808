"""A garbage flood on the heartbeat link: the log stays within its budget, the packets are
counted, and the cluster does not notice (no false death, f801 keeps serving the site).

The seed's cluster (both nodes hapulse; keepalive 200ms, warntime 1, deadtime 2 s) with the
heartbeat link on a switch and a third host, mallory, sending to f802's port 694 for 30 s as
fast as it can: every packet from a random source port and written as coming from f801's
address (past ucast's source check), half of them starting with ``###\\n`` (past the kernel
filter: the decoder rejects them), half random bytes (the kernel filter drops them).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from factories import lab_prefix

from hapulse.lab import Lab, wait_for
from hapulse.lab.flood import flood_lab, flood_result, start_flood
from hapulse.lab.ha_d import with_timers
from hapulse.lab.nodes import HapulseNode, seed_files, served_by, web_node

pytestmark = pytest.mark.netns

FLOOD_SECONDS = 30.0


@dataclass(frozen=True)
class Cluster:
    lab: Lab
    f801: HapulseNode
    f802: HapulseNode


@pytest.fixture
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    lab = flood_lab(lab_prefix(request.node.name))
    try:
        nodes = []
        for name in ("f801", "f802"):
            files = seed_files(name)
            files["ha.cf"] = with_timers(files["ha.cf"])
            nodes.append(web_node(lab.hosts[name], files))
        for n in nodes:
            n.start()
        wait_for(lambda: served_by(lab.hosts["client"]) == "f801", 30, interval=0.2,
                 what="f801 serves the VIP")
        yield Cluster(lab, *nodes)
    finally:
        lab.close()
        shutil.rmtree(lab.workdir, ignore_errors=True)


def udp_drops(node: HapulseNode, port: int = 694) -> int:
    """The kernel's drop count for the node's socket on `port` (/proc/net/udp, its netns)."""
    text = node.host.run(["cat", "/proc/net/udp"], timeout=10).stdout
    total = 0
    for line in text.splitlines()[1:]:
        words = line.split()
        if words[1].endswith(f":{port:04X}"):
            total += int(words[-1])
    return total


def test_a_random_source_port_flood_stays_in_the_log_budget_and_changes_nothing(
        cluster: Cluster) -> None:
    lab, f801, f802 = cluster.lab, cluster.f801, cluster.f802
    client = lab.hosts["client"]
    log_before = f802.log_text()
    flood = start_flood(lab.hosts["mallory"], "10.0.0.2", seconds=FLOOD_SECONDS,
                        prefixed=0.5, spoof="10.0.0.1")
    checks = 0
    deadline = time.monotonic() + FLOOD_SECONDS + 30
    while flood.poll() is None and time.monotonic() < deadline:
        # while it runs: f802 sees f801 active, and the client gets the site from f801
        assert f802.node_status("f801") == "active"
        assert served_by(client, timeout=3) == "f801"
        checks += 1
        with contextlib.suppress(subprocess.TimeoutExpired):
            flood.wait(timeout=0.5)
    result = flood_result(flood, 30)
    assert checks >= 10  # the invariants were checked all along the flood
    assert result.seconds >= FLOOD_SECONDS - 1
    assert result.rate >= 20_000, result  # a real flood, or this test proves nothing

    st = f802.status()
    assert st is not None
    counters = st["counters"]
    assert counters["deaths_seen"] == 0
    st801 = f801.status()
    assert st801 is not None and st801["counters"]["deaths_seen"] == 0
    # the decoder's share: counted by reason (the ###\n half, less what the queue overflowed)
    assert counters["rejected_by_reason"]["malformed"] >= 0.1 * result.sent / 2
    assert counters["rejected"] <= result.sent / 2 + 100
    # the other half never left the kernel: dropped by the socket's filter
    assert udp_drops(f802) >= 0.45 * result.sent

    new = f802.log_text()[len(log_before):]
    lines = new.splitlines()
    reject_lines = [ln for ln in lines if "rejected packet" in ln or "suppressed" in ln]
    # the budget: 1 line/s on average, a burst of 5 (summaries included): at most T + 10
    print(f"flood {result}, {result.rate:.0f}/s; f802 rejected {counters['rejected']}, "
          f"kernel drops {udp_drops(f802)}; {len(lines)} log lines "
          f"({len(reject_lines)} on rejects), {len(new.encode())} bytes")
    assert len(reject_lines) >= 3  # the packets were reported
    assert len(reject_lines) <= result.seconds  # one line per second on average, at most
    # heartbeats the full socket queue lost are asked for again (info lines): their number
    # follows the flood's rate (about 20 in 30 s at 225k packets/s), bounded on their own
    rexmit = [ln for ln in lines if "requesting retransmission" in ln]
    assert len(rexmit) <= result.seconds, "\n".join(rexmit)
    other = [ln for ln in lines if ln not in rexmit]
    assert len(other) <= result.seconds + 10 + 5, "\n".join(other[:40])
    assert len(new.encode()) <= 64 * 1024  # a bounded log, not 233 MB
    assert "dead" not in new.lower()
    # a flood the machine cannot read as fast as it comes fills the socket's queue, and the
    # kernel drops what arrives then, heartbeats included: a run of lost heartbeats longer
    # than warntime is warned about (what warntime is for), never taken for a death
    late = [int(m) for m in re.findall(r"Late heartbeat: Node f801: interval (\d+) ms", new)]
    assert len(late) <= result.seconds / 5, late
    assert all(ms < 2000 for ms in late), late  # under deadtime: no death came near
    assert served_by(client, timeout=3) == "f801"
