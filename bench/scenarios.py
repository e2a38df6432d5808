"""The runs: failover gaps per system and setting, hapulse with N nodes, and a soak
under full CPU load with loss on the heartbeat link."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.log import log
from bench.measure import cpu_seconds, rss_mb
from bench.results import Results
from bench.systems import PROGRAMS
from bench.testbed import NODES, Testbed
from hapulse.lab import Lab, wait_for
from hapulse.lab.nodes import HapulseNode

SCALE_TIMERS = ("250ms", "750ms", "1", "5")  # keepalive, warntime, deadtime, initdead


def gaps(res: Results, kind: str, setting: str, group: str, reps: int, idle_s: float,
         standby: bool) -> None:
    b = Testbed(kind, setting, group)
    try:
        log(f"{kind} ({setting}: {b.sys.timers()}): starting")
        b.up()
        for how in ("kill", "links"):
            for i in range(reps):
                to_served, gap = b.fail(how)
                res.add((kind, setting, f"gap_{how}"), gap)
                res.add((kind, setting, f"served_{how}"), to_served)
                back = b.reboot_f801()
                res.add((kind, setting, "failback"), back)
                log(f"{kind} {setting} {how} #{i + 1}: served by f802 {to_served * 1000:.0f} ms "
                    f"after, gap {gap * 1000:.0f} ms; failback gap {back * 1000:.0f} ms")
        if standby:
            for i in range(reps):
                g = b.standby_gap()
                res.add((kind, setting, "standby"), g)
                log(f"{kind} standby #{i + 1}: gap {g * 1000:.0f} ms")
        if idle_s > 0:
            res.idle[(kind, setting)] = b.idle(idle_s)
            log(f"{kind} {setting} idle: {res.idle[(kind, setting)]}")
    finally:
        b.close()


def scaling(res: Results, sizes: Sequence[int], idle_s: float) -> None:
    for n in sizes:
        lab = Lab(f"hpbs{os.getpid() % 10000}-{n}")
        try:
            res.scaling.append(_scale_one(lab, n, idle_s))
            log(f"scaling {n} nodes: {res.scaling[-1]}")
        finally:
            lab.close()
            shutil.rmtree(lab.workdir, ignore_errors=True)


def _scale_one(lab: Lab, n: int, idle_s: float) -> dict[str, float]:
    sw = lab.add_switch("hb")
    names = [f"n{i:02d}" for i in range(n)]
    nodes = []
    hacf = "".join([f"keepalive {SCALE_TIMERS[0]}\nwarntime {SCALE_TIMERS[1]}\n"
                    f"deadtime {SCALE_TIMERS[2]}\ninitdead {SCALE_TIMERS[3]}\n"
                    "udpport 694\nbcast eth0\nauto_failback on\n"]
                   + [f"node {x}\n" for x in names])
    for i, name in enumerate(names):
        h = lab.add_host(name)
        lab.plug(h, "eth0", sw)
        h.add_address("eth0", f"10.9.{i // 250}.{i % 250 + 1}/16")
        node = HapulseNode(h, {"ha.cf": hacf, "authkeys": "auth 1\n1 sha1 scale\n",
                               "haresources": ""})
        nodes.append(node)
    for node in nodes:
        node.start()

    def all_active() -> bool:
        st = nodes[-1].status()
        return st is not None and all(x["status"] == "active" for x in st["nodes"])

    wait_for(all_active, 120, interval=0.5, what=f"{n} nodes active")
    pids = {node.host.name: node.host.netns_pids() for node in nodes}
    cpu0 = {k: cpu_seconds(v) for k, v in pids.items()}
    t0 = time.monotonic()
    time.sleep(idle_s)  # the measurement window
    el = time.monotonic() - t0
    cpu1 = {k: cpu_seconds(v) for k, v in pids.items()}
    per_node = statistics.mean(cpu1[k] - cpu0[k] for k in pids) * 60 / el
    rss = statistics.mean(rss_mb(v) for v in pids.values())
    # kill the first node; every survivor must declare it dead
    victim = nodes[0]
    t_kill_wall = time.time()
    victim.host.kill_all()
    survivors = nodes[1:]

    def all_see_dead() -> bool:
        return all("node n00: is dead" in s.log_text() for s in survivors)

    wait_for(all_see_dead, 60, interval=0.2, what=f"{n - 1} survivors see n00 dead")
    detect = []
    for s in survivors:
        m = re.search(r"(\d{4}/\d\d/\d\d_\d\d:\d\d:\d\d\.\d{3}) WARN: node n00: is dead",
                      s.log_text())
        if m:
            t = time.mktime(time.strptime(m[1][:19], "%Y/%m/%d_%H:%M:%S")) + float(
                "0." + m[1][20:])
            detect.append(t - t_kill_wall)
    return {"nodes": n, "cpu_s_per_min_per_node": per_node, "rss_mb": rss,
            "detect_median": statistics.median(detect), "detect_max": max(detect)}


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
        assert b.poller is not None
        moved = sum(1 for _, w in b.poller.since(t0) if w == "f802")
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
