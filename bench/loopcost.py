"""What the event loop costs end to end: µs of a daemon's CPU per packet it handles.

    sudo .venv/bin/python -m bench.loopcost [--seconds 30] [--reps 3] [--systems hapulse,keepalived]
                                            [--setting fast] [--py-spy DIR] [--json]

Two hapulse nodes in the lab's seed topology (``bench.testbed``: f801 holding the
floating address 192.168.1.118, f802 its backup), at the benchmark's fastest
settings: keepalive 10ms, warntime 20ms, deadtime 30ms, heartbeats on the
dedicated link and on the LAN (``ucast`` both). Once f801 serves the site steadily
the client stops and, over a window of --seconds, each daemon's CPU seconds
(/proc/PID/stat utime + stime) and the packets its host sent and received (every
interface but loopback, ``ip -s link``) are read; the figure per node is its CPU
divided by the packets it handled (sent + received), and RSS (VmRSS) is read at
the end. The same for keepalived at ``advert_int 0.01`` (its master sends, its
backup receives; the busier node is shown) unless --no-keepalived.

Each repetition is a fresh lab; figures are median (min) over the repetitions:
the machine is shared and CPU figures are noisy. With --py-spy DIR, py-spy
records each hapulse daemon during the window (collapsed stacks, one file per daemon, in DIR).
Root, network namespaces; traffic stays inside them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.measure import cpu_seconds, rss_mb
from bench.testbed import NODES, Testbed
from hapulse.lab import Host

# py-spy installed beside this interpreter (the venv's), else the one on PATH
PY_SPY = str(Path(sys.executable).with_name("py-spy")) \
    if Path(sys.executable).with_name("py-spy").exists() else shutil.which("py-spy") or "py-spy"


@dataclass
class NodeCost:
    node: str
    cpu_s: float
    sent: int
    received: int
    seconds: float
    rss_mb: float
    sys_s: float = 0.0  # of cpu_s, in the kernel (stime)
    wakeups: int = 0  # voluntary context switches, every thread: the sleeps ended

    @property
    def packets(self) -> int:
        return self.sent + self.received

    @property
    def us_per_packet(self) -> float:
        return self.cpu_s * 1e6 / self.packets if self.packets else float("nan")

    @property
    def cpu_s_per_min(self) -> float:
        return self.cpu_s * 60 / self.seconds


def sys_and_wakeups(pids: list[int]) -> tuple[float, int]:
    """System CPU seconds and voluntary context switches (all threads) so far."""
    tick = os.sysconf("SC_CLK_TCK")
    stime, switches = 0.0, 0
    for pid in pids:
        try:
            stime += int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[12])
            for task in Path(f"/proc/{pid}/task").iterdir():
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        switches += int(line.split()[1])
        except OSError:
            continue
    return stime / tick, switches


def link_packets(host: Host) -> tuple[int, int]:
    """(sent, received) so far on every interface of the host but loopback."""
    r = host.run(["ip", "-s", "-j", "link", "show"], timeout=10)
    tx = rx = 0
    for link in json.loads(r.stdout or "[]"):
        if link.get("ifname") == "lo":
            continue
        stats = link.get("stats64", {})
        tx += int(stats.get("tx", {}).get("packets", 0))
        rx += int(stats.get("rx", {}).get("packets", 0))
    return tx, rx


def measure(kind: str, setting: str, seconds: float, py_spy: Path | None) -> list[NodeCost]:
    bed = Testbed(kind, setting, "ip")
    spies: list[subprocess.Popen[bytes]] = []
    try:
        bed.up()
        bed._stop_clients()  # no client traffic in the window
        hosts = {n: bed.lab.hosts[n] for n in NODES}
        pids = {n: bed.sys.daemon_pids(n) for n in NODES}
        if py_spy is not None and kind == "hapulse":
            py_spy.mkdir(parents=True, exist_ok=True)
            for n in NODES:
                for pid in pids[n]:
                    spies.append(subprocess.Popen(
                        [PY_SPY, "record", "--pid", str(pid), "--duration", str(int(seconds)),
                         "--rate", "250", "--nonblocking", "--format", "raw",
                         "-o", str(py_spy / f"{n}-{pid}.txt")],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        pk0 = {n: link_packets(h) for n, h in hosts.items()}
        cpu0 = {n: cpu_seconds(pids[n]) for n in NODES}
        sw0 = {n: sys_and_wakeups(pids[n]) for n in NODES}
        t0 = time.monotonic()
        time.sleep(seconds)  # the measurement window itself, not a synchronisation
        elapsed = time.monotonic() - t0
        cpu1 = {n: cpu_seconds(pids[n]) for n in NODES}
        sw1 = {n: sys_and_wakeups(pids[n]) for n in NODES}
        pk1 = {n: link_packets(h) for n, h in hosts.items()}
        out = [NodeCost(n, cpu1[n] - cpu0[n], pk1[n][0] - pk0[n][0], pk1[n][1] - pk0[n][1],
                        elapsed, rss_mb(pids[n]), sw1[n][0] - sw0[n][0],
                        sw1[n][1] - sw0[n][1]) for n in NODES]
        for p in spies:
            p.wait(timeout=seconds + 60)
        return out
    finally:
        for p in spies:
            if p.poll() is None:
                p.kill()
                p.wait()
        bed.close()


def summary(kind: str, reps: list[list[NodeCost]]) -> dict[str, object]:
    """Per node: µs per packet handled, CPU-s/min, packets/s, RSS: median (min)."""
    nodes: dict[str, dict[str, object]] = {}
    for n in NODES:
        rows = [next(c for c in rep if c.node == n) for rep in reps]
        us = [c.us_per_packet for c in rows]
        nodes[n] = {
            "us_per_packet": statistics.median(us), "us_per_packet_min": min(us),
            "cpu_s_per_min": statistics.median(c.cpu_s_per_min for c in rows),
            "pps_handled": statistics.median(c.packets / c.seconds for c in rows),
            "rss_mb": statistics.median(c.rss_mb for c in rows),
            "rss_mb_max": max(c.rss_mb for c in rows),
            "sys_share": statistics.median(c.sys_s / c.cpu_s if c.cpu_s else 0.0 for c in rows),
            "wakeups_per_s": statistics.median(c.wakeups / c.seconds for c in rows),
            "runs": [asdict(c) for c in rows],
        }
    # the earlier benchmark's figure: the busier node's CPU per packet both nodes sent
    cluster = []
    for rep in reps:
        busiest = max(rep, key=lambda c: c.cpu_s)
        sent = sum(c.sent for c in rep)
        cluster.append(busiest.cpu_s * 1e6 / sent if sent else float("nan"))
    return {"system": kind, "nodes": nodes, "us_per_cluster_packet": statistics.median(cluster),
            "us_per_cluster_packet_min": min(cluster)}


def print_summary(s: dict[str, object]) -> None:
    nodes = s["nodes"]
    assert isinstance(nodes, dict)
    print(f"{s['system']}:")
    for n, v in nodes.items():
        print(f"  {n}: {v['us_per_packet']:.1f} ({v['us_per_packet_min']:.1f}) µs CPU per "
              f"packet handled, {v['pps_handled']:.0f} packets/s handled, "
              f"{v['cpu_s_per_min']:.2f} CPU-s/min, RSS {v['rss_mb']:.1f} MB "
              f"(max {v['rss_mb_max']:.1f}), {v['wakeups_per_s']:.0f} wake-ups/s, "
              f"{v['sys_share'] * 100:.0f}% of the CPU in the kernel")
    print(f"  busier node's CPU per packet sent by both: {s['us_per_cluster_packet']:.1f} "
          f"({s['us_per_cluster_packet_min']:.1f}) µs")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.loopcost", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--setting", default="fast", choices=("fast", "seed"))
    p.add_argument("--systems", default="hapulse,keepalived",
                   help="comma-separated: hapulse, keepalived")
    p.add_argument("--no-keepalived", action="store_true", help="same as --systems hapulse")
    p.add_argument("--py-spy", type=Path, default=None, help="record hapulse with py-spy here")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.py_spy is not None and not Path(PY_SPY).exists():
        p.error(f"no py-spy at {PY_SPY}")
    kinds = [k for k in args.systems.split(",") if k in ("hapulse", "keepalived")
             and not (k == "keepalived" and (args.no_keepalived
                                              or not shutil.which("keepalived")))]
    results = []
    for kind in kinds:
        reps = [measure(kind, args.setting, args.seconds, args.py_spy)
                for _ in range(args.reps)]
        s = summary(kind, reps)
        results.append(s)
        if not args.json:
            print_summary(s)
            sys.stdout.flush()
    if args.json:
        print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
