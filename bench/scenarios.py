"""The runs: failover gaps per system and setting, hapulse with N nodes (the table at
keepalive 1 s, the search for the largest N that holds at 250 ms), and a soak under full
CPU load with loss on the heartbeat link."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.cluster import Timers, run_cluster
from bench.log import log
from bench.results import Results
from bench.systems import PROGRAMS
from bench.testbed import NODES, Testbed
from hapulse.lab import Lab

# the N-node table: keepalive 1 s (deadtime 4 keepalives, as the 250 ms search's)
SCALE_TIMERS = Timers("1", "3", "4")
# the search for the largest N that holds: keepalive 250 ms, no false death while idle
HOLD_TIMERS = Timers("250ms", "750ms", "1")
MAX_NODES = 100  # Heartbeat's MAXNODE


def gaps(res: Results, kind: str, setting: str, group: str, reps: int, idle_s: float,
         standby: bool) -> None:
    b = Testbed(kind, setting, group)
    try:
        log(f"{kind} ({setting}: {b.sys.timers()}): starting")
        b.up()
        for how in ("kill", "links"):
            for i in range(reps):
                to_served, gap, http = b.fail(how)
                res.add((kind, setting, f"gap_{how}"), gap)
                res.add((kind, setting, f"served_{how}"), to_served)
                if http is not None:
                    res.add((kind, setting, f"http_{how}"), http)
                back = b.reboot_f801()
                res.add((kind, setting, "failback"), back)
                log(f"{kind} {setting} {how} #{i + 1}: f802 answers {to_served * 1000:.1f} ms "
                    f"after, client's gap {gap * 1000:.1f} ms"
                    + ("" if http is None else f", web server {http * 1000:.0f} ms")
                    + f"; failback gap {back * 1000:.1f} ms")
        if standby:
            for i in range(reps):
                g = b.standby_gap()
                res.add((kind, setting, "standby"), g)
                log(f"{kind} standby #{i + 1}: gap {g * 1000:.1f} ms")
        if idle_s > 0:
            res.idle[(kind, setting)] = b.idle(idle_s)
            log(f"{kind} {setting} idle: {res.idle[(kind, setting)]}")
    finally:
        b.close()


def scaling(res: Results, sizes: Sequence[int], idle_s: float) -> None:
    """The N-node table at keepalive 1 s: per N an idle window, then one node killed."""
    for n in sizes:
        try:
            res.scaling.append(run_cluster(n, SCALE_TIMERS, f"s{n}", idle_s, kill=True))
            log(f"scaling {n} nodes: {res.scaling[-1]}")
        except (TimeoutError, RuntimeError) as exc:
            res.notes.append(f"N nodes at {SCALE_TIMERS.text()}, {n} nodes: {exc}")
            log(f"scaling {n}: FAILED: {exc}")


def _hold_one(n: int, idle_s: float) -> dict[str, float]:
    try:
        row = run_cluster(n, HOLD_TIMERS, f"h{n}", idle_s, kill=False)
        row["held"] = float(bool(row["came_up"]) and row["false_deaths"] == 0)
    except (TimeoutError, RuntimeError) as exc:
        row = {"nodes": float(n), "held": 0.0, "failed": 1.0}
        log(f"hold {n}: did not come up: {exc}")
    log(f"hold {n} nodes ({HOLD_TIMERS.text()}, {idle_s:.0f} s idle): {row}")
    return row


def hold_search(res: Results, start: int, idle_s: float, trials: int, step: int = 4) -> None:
    """The largest N (up to 100) that holds at keepalive 250 ms: every node comes up and
    no death is logged in `idle_s` seconds idle. Doubles from `start` until a size fails
    or 100 holds, then halves the interval between the largest that held and the
    smallest that failed, down to `step` nodes or `trials` clusters in all."""
    good, bad = 0, 0
    n = max(2, min(start, MAX_NODES))
    res.hold_idle = idle_s
    for _ in range(max(1, trials)):
        row = _hold_one(n, idle_s)
        res.hold.append(row)
        if row["held"]:
            good = max(good, n)
        else:
            bad = n if not bad else min(bad, n)
        if not bad:
            if n >= MAX_NODES:
                break
            n = min(MAX_NODES, n * 2)
        else:
            lo = max(good, 1)
            if bad - lo <= step:
                break
            n = (lo + bad) // 2
            if n <= 1:
                break
    res.hold_max, res.hold_fail = good, bad


def lossy_heartbeat_link(lab: Lab, loss: float, seconds: float) -> subprocess.Popen[Any]:
    """Re-cable the seed's heartbeat link (f801:eth1 - f802:eth2) through a lossy wire
    (programs/lossy_wire.py in a host of its own, at SCHED_FIFO)."""
    f801, f802 = lab.hosts["f801"], lab.hosts["f802"]
    f801.run(["ip", "link", "del", "eth1"], check=True)  # the crossover pair goes with it
    wire = lab.add_host("wire")
    lab.wire(f801, "eth1", wire, "left")
    lab.wire(wire, "right", f802, "eth2")
    f801.add_address("eth1", "10.0.0.1/24")
    f802.add_address("eth2", "10.0.0.2/24")
    # veth leaves UDP checksums to "hardware"; frames relayed raw would arrive without
    # one and be dropped, so the ends compute them in software
    for host, ifname in ((f801, "eth1"), (f802, "eth2")):
        host.run(["ethtool", "-K", ifname, "tx", "off"], check=True)
    return wire.popen(["chrt", "-f", "60", sys.executable, str(PROGRAMS / "lossy_wire.py"),
                       str(loss), str(seconds + 120)], stdout=subprocess.PIPE, text=True)


def soak(res: Results, seconds: float) -> None:
    b = Testbed("hapulse", "fast", "ip")
    stress: list[subprocess.Popen[Any]] = []
    try:
        log(f"soak: hapulse ({b.sys.timers()}) for {seconds:.0f} s under full CPU load, "
            "5% loss on the heartbeat link")
        wire = lossy_heartbeat_link(b.lab, 0.05, seconds)
        b.up()
        for n in NODES:
            h = b.lab.hosts[n]
            stress.append(h.popen(["stress-ng", "--cpu", str(os.cpu_count() or 1),
                                   "--timeout", f"{int(seconds) + 5}s", "--quiet"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deaths0 = sum(b.sys.deaths_seen(n) or 0 for n in NODES)
        t0 = time.monotonic()
        time.sleep(seconds)  # the soak window
        elapsed = time.monotonic() - t0
        deaths1 = sum(b.sys.deaths_seen(n) or 0 for n in NODES)
        assert b.probe is not None
        moved = b.probe.answers_from("f802", t0)
        wire.kill()
        lines = (wire.communicate(timeout=10)[0] or "").split()
        frames, dropped = (int(lines[-2]), int(lines[-1])) if len(lines) >= 2 else (0, 0)
        res.soak = {"seconds": elapsed, "false_failovers": float(deaths1 - deaths0),
                    "answers_from_f802": float(moved), "frames": float(frames),
                    "dropped": float(dropped)}
        log(f"soak: {res.soak}")
    finally:
        for p in stress:
            b.lab.hosts["f801"].kill(p)
        b.close()
