"""Ping nodes over real ICMP between lab hosts: dead after deadping, alive again on the heal."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest

from hapulse.lab import Lab, wait_for

pytestmark = pytest.mark.netns

KEEPALIVE = 0.2
DEADPING = 1.0

# Runs inside f801: the transport and the tracker as the daemon will pump them, each
# status change written as a JSON line; bounded in time.
DRIVER = """
import asyncio, json, sys, time
from hapulse.membership.ping import PingTracker
from hapulse.transports.ping import PingTransport, ping_targets

out, keepalive, deadping, lifetime = sys.argv[1], *map(float, sys.argv[2:5])
targets = ping_targets([("ping", ("192.168.1.50",)),
                        ("ping_group", ("lan", "192.168.1.50", "192.168.1.111"))])

async def main() -> None:
    f = open(out, "a", buffering=1)
    tracker = PingTracker([t.name for t in targets], deadping, time.monotonic())
    def write(events):
        for e in events:
            f.write(json.dumps({"node": e.node, "old": e.old, "new": e.new, "at": time.monotonic(),
                                "text": e.text}) + "\\n")
    transport = PingTransport(targets, lambda node, now: write(tracker.replied(node, now)))
    await transport.start()
    f.write(json.dumps({"mode": transport.mode}) + "\\n")
    end = time.monotonic() + lifetime
    while time.monotonic() < end:
        transport.send()
        write(tracker.tick(time.monotonic()))
        await asyncio.sleep(keepalive)
    await transport.close()

asyncio.run(main())
"""


def _events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _status(path: Path, node: str) -> str | None:
    states = [e["new"] for e in _events(path) if e.get("node") == node]
    return str(states[-1]) if states else None


def test_ping_node_dead_after_deadping_when_its_link_is_down_and_back_when_up(seed: Lab) -> None:
    f801, client = seed.hosts["f801"], seed.hosts["client"]
    out = f801.dir / "ping-events.jsonl"
    f801.popen([sys.executable, "-c", DRIVER, str(out), str(KEEPALIVE), str(DEADPING), "60"])

    wait_for(lambda: _status(out, "192.168.1.50") == "ping" and _status(out, "lan") == "ping",
             10, what="client and the lan group answering")
    assert _events(out)[0]["mode"] == "raw"  # root in the lab host

    client.set_link("eth0", False)
    cut = time.monotonic()
    wait_for(lambda: _status(out, "192.168.1.50") == "dead", DEADPING + 2,
             what="the client's ping node dead")
    dead = [e for e in _events(out) if e.get("node") == "192.168.1.50" and e["new"] == "dead"]
    assert dead[-1]["text"] == "node 192.168.1.50: is dead"
    # not before deadping has passed since the last reply (a keepalive before the cut at most)
    assert float(dead[-1]["at"]) - cut >= DEADPING - KEEPALIVE - 0.05  # type: ignore[arg-type]
    # the group still answers through f802
    assert _status(out, "lan") == "ping"

    client.set_link("eth0", True)
    wait_for(lambda: _status(out, "192.168.1.50") == "ping", 10, what="the client's node back")
    assert [e["new"] for e in _events(out) if e.get("node") == "lan"] == ["ping"]
