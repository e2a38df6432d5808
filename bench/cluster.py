"""hapulse with N nodes in one broadcast domain: every node a lab host plugged into one
switch (a bridge inside the lab's own namespace), `bcast eth0`, no resources.

Nodes start in batches (each batch's daemons have logged their start before the next
batch starts), with an initdead long enough for all of them to come up; the cluster is
up when three nodes (first, middle, last) each see all N active (their control sockets,
read from the bench's own process: `hapulse status` would start Python each time and load
the CPUs measured, and the logs' status lines are within each peer's churn budget).
Measured from outside: CPU and memory per daemon (/proc), the machine's CPU use
(/proc/stat), the deaths each daemon counted (`deaths_seen`, by control socket) and
the late heartbeats in the daemons' logs, and the time from
killing one node until each survivor logs it dead (its log's millisecond timestamp
against the kill's wall clock).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

from bench.log import log
from bench.measure import cpu_seconds, rss_mb
from hapulse.lab import Lab, wait_for
from hapulse.lab.nodes import HapulseNode
from hapulse.runtime import ControlError, control_request

BATCH = 10  # nodes started at once
MB_PER_NODE = 45  # memory asked of the machine per node before starting (measured: 26-28)
HEADROOM_MB = 1024
DEAD_LINE = re.compile(r"(\d{4}/\d\d/\d\d_\d\d:\d\d:\d\d)\.(\d{3}) \S+: node (\S+): is dead")


@dataclass(frozen=True)
class Timers:
    keepalive: str
    warntime: str
    deadtime: str

    def text(self) -> str:
        return (f"keepalive {self.keepalive}, warntime {self.warntime}, "
                f"deadtime {self.deadtime}")


# `realtime off` by default: N daemons at SCHED_FIFO on the machine's 2 CPUs (Heartbeat's
# default, right for one daemon per machine) preempt each other's start-up, the bench's
# own tools and everything else the machine runs; a first try, 16 nodes at keepalive
# 250 ms, had a load of 23, 5 s silences and a node at 100% of a CPU asking for
# retransmissions, with the bench's `hapulse status` starved
REALTIME = {"realtime": False}


def secs(value: str) -> float:
    return float(value[:-2]) / 1000 if value.endswith("ms") else float(value)


def initdead_for(n: int, timers: Timers) -> int:
    """Seconds: long enough for every batch to start (about 1.5 s a node on 2 CPUs)."""
    return int(max(30.0, 4 * secs(timers.deadtime), 1.5 * n + 20))


def mem_available_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of every CPU so far (/proc/stat)."""
    w = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    total = float(sum(w[:8]))
    return total - w[3] - w[4], total  # idle and iowait are not busy


class Cluster:
    def __init__(self, n: int, timers: Timers, tag: str) -> None:
        need = n * MB_PER_NODE + HEADROOM_MB
        avail = mem_available_mb()
        if avail < need:
            raise RuntimeError(f"this machine cannot hold {n} nodes: {avail} MB available, "
                               f"{need} MB asked ({MB_PER_NODE} MB a node + headroom)")
        self.n, self.timers = n, timers
        self.initdead = initdead_for(n, timers)
        self.lab = Lab(f"hpbs{os.getpid() % 10000}-{tag}")
        self.nodes: list[HapulseNode] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def _build(self) -> None:
        sw = self.lab.add_switch("hb")
        names = [f"n{i:03d}" for i in range(self.n)]
        t = self.timers
        hacf = "".join([f"keepalive {t.keepalive}\nwarntime {t.warntime}\n"
                        f"deadtime {t.deadtime}\ninitdead {self.initdead}\n"
                        "udpport 694\nbcast eth0\nauto_failback on\n"
                        f"realtime {'on' if REALTIME['realtime'] else 'off'}\n"]
                       + [f"node {x}\n" for x in names])
        for i, name in enumerate(names):
            h = self.lab.add_host(name)
            self.lab.plug(h, "eth0", sw)
            h.add_address("eth0", f"10.9.{i // 250}.{i % 250 + 1}/16")
            self.nodes.append(HapulseNode(h, {"ha.cf": hacf,
                                              "authkeys": "auth 1\n1 sha1 scale\n",
                                              "haresources": ""}))

    def close(self) -> None:
        self.lab.close()
        shutil.rmtree(self.lab.workdir, ignore_errors=True)

    def start(self, batch: int = BATCH) -> float:
        """Start every node, `batch` at a time; returns the seconds it took."""
        t0 = time.monotonic()
        for i in range(0, self.n, batch):
            group = self.nodes[i:i + batch]
            for node in group:
                node.start()

            def started(group: list[HapulseNode] = group) -> bool:
                for node in group:
                    if node.proc is not None and node.proc.poll() is not None:
                        raise RuntimeError(f"{node.host.name}: hapulse exited "
                                           f"{node.proc.returncode}: {node.log_text()[-300:]}")
                return all("hapulse starting" in node.log_text() for node in group)

            wait_for(started, 120, interval=0.2, what=f"nodes {i}-{i + len(group) - 1} start")
        return time.monotonic() - t0

    def sees_all_active(self, node: HapulseNode) -> bool:
        """Whether `node`'s daemon says every other node is active."""
        try:
            st = control_request(node.run_dir, "status", timeout=5.0)
        except (ControlError, OSError):
            return False
        seen = {str(n.get("name")): n.get("status") for n in st.get("nodes", [])}
        others = {x.host.name for x in self.nodes} - {node.host.name}
        return all(seen.get(name) == "active" for name in others)

    def deaths_seen(self, within: float = 30.0) -> int | None:
        """Deaths counted by all the daemons since they started (None: one did not say,
        or not all said within `within` seconds: a saturated machine). Exact, where the
        logs' `is dead` lines are within each peer's churn budget."""
        total = 0
        deadline = time.monotonic() + within
        for node in self.nodes:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                st = control_request(node.run_dir, "status", timeout=min(10.0, left))
                total += int(st["counters"]["deaths_seen"])
            except (ControlError, OSError, KeyError, TypeError, ValueError):
                return None
        return total

    def wait_active(self, timeout: float) -> bool:
        """Until three nodes (the first, a middle one, the last) each see all N active;
        False when `timeout` passes first."""
        pending = [self.nodes[0], self.nodes[self.n // 2], self.nodes[-1]]

        def all_active() -> bool:
            pending[:] = [w for w in pending if not self.sees_all_active(w)]
            return not pending

        try:
            wait_for(all_active, timeout, interval=1.0, what=f"{self.n} nodes active")
        except TimeoutError:
            return False
        return True

    def log_sizes(self) -> list[int]:
        return [node.log.stat().st_size if node.log.exists() else 0 for node in self.nodes]

    def logs_since(self, offsets: list[int]) -> list[str]:
        out = []
        for node, off in zip(self.nodes, offsets, strict=True):
            try:
                with open(node.log, "rb") as f:
                    f.seek(off)
                    out.append(f.read().decode(errors="replace"))
            except OSError:
                out.append("")
        return out

    def idle(self, seconds: float) -> dict[str, float]:
        """An idle window: CPU per node (s/min), RSS per node (MB), the machine's CPU use
        (% of all CPUs), and the deaths and late heartbeats logged during it."""
        pids = [node.host.netns_pids() for node in self.nodes]
        deaths0 = self.deaths_seen()
        offsets = self.log_sizes()
        cpu0 = [cpu_seconds(p) for p in pids]
        busy0, total0 = machine_busy()
        t0 = time.monotonic()
        time.sleep(seconds)  # the measurement window itself
        elapsed = time.monotonic() - t0
        busy1, total1 = machine_busy()
        cpu1 = [cpu_seconds(p) for p in pids]
        texts = self.logs_since(offsets)
        deaths1 = self.deaths_seen()
        logged = sum(len(DEAD_LINE.findall(t)) for t in texts)
        per_node = [(b - a) * 60 / elapsed for a, b in zip(cpu0, cpu1, strict=True)]
        return {"idle_s": elapsed,
                "cpu_s_per_min_per_node": statistics.mean(per_node),
                "cpu_s_per_min_max": max(per_node),
                "rss_mb": statistics.mean(rss_mb(p) for p in pids),
                "machine_busy_pct": 100 * (busy1 - busy0) / max(1.0, total1 - total0),
                "false_deaths": float(logged if deaths0 is None or deaths1 is None
                                      else max(logged, deaths1 - deaths0)),
                "late_warnings": float(sum(t.count("Late heartbeat") for t in texts))}

    def kill_one(self, timeout: float) -> dict[str, float]:
        """Kill the first node; times until each survivor logs it dead (seconds)."""
        victim = self.nodes[0]
        name = victim.host.name
        survivors = self.nodes[1:]
        offsets = self.log_sizes()[1:]
        t_kill = time.time()
        victim.host.kill_all()
        seen: dict[int, float] = {}
        deadline = time.monotonic() + timeout
        while len(seen) < len(survivors) and time.monotonic() < deadline:
            for i, node in enumerate(survivors):
                if i in seen:
                    continue
                try:
                    with open(node.log, "rb") as f:
                        f.seek(offsets[i])
                        text = f.read().decode(errors="replace")
                except OSError:
                    continue
                for m in DEAD_LINE.finditer(text):
                    if m[3] == name:
                        t = time.mktime(time.strptime(m[1], "%Y/%m/%d_%H:%M:%S"))
                        seen[i] = t + int(m[2]) / 1000 - t_kill
                        break
            if len(seen) < len(survivors):
                time.sleep(0.2)  # polling the logs, bounded by the deadline
        if not seen:  # reported as such (the idle window's figures are kept)
            nan = float("nan")
            return {"detect_median": nan, "detect_max": nan, "detect_min": nan,
                    "survivors": float(len(survivors)), "saw_it": 0.0}
        times = sorted(seen.values())
        return {"detect_median": statistics.median(times), "detect_max": times[-1],
                "detect_min": times[0], "survivors": float(len(survivors)),
                "saw_it": float(len(seen))}


def run_cluster(n: int, timers: Timers, tag: str, idle_s: float,
                kill: bool) -> dict[str, float]:
    """One cluster of `n` nodes: started, an idle window, and (`kill`) a death detected."""
    c = Cluster(n, timers, tag)
    try:
        took = c.start()
        up = c.wait_active(c.initdead + 120)
        log(f"{n} nodes ({timers.text()}, initdead {c.initdead}): started in {took:.0f} s, "
            + ("all active" if up else "NOT all active: measured as they are"))
        row: dict[str, float] = {"nodes": float(n), "start_s": took,
                                 "initdead": float(c.initdead), "came_up": float(up)}
        row.update(c.idle(idle_s))
        if kill:
            row.update(c.kill_one(secs(timers.deadtime) + 60))
        return row
    finally:
        c.close()
