"""hapulse beside Heartbeat 3.0.6 and keepalived, on the lab's seed topology, in one run.

    bash bench/run.sh [--reps 5] [--idle 120] [--soak 600] [--sizes 2,4,8,16,32] [--quick]

Every system serves http://192.168.1.118/ from f801 with f802 as the
backup; a client polls it every 20 ms. Measured, per system and settings:
the kill-to-served gap when f801's processes are all killed and when its
links go down (median, min, max over --reps), the failback gap when f801
returns, the idle cost (CPU seconds, resident memory, packets per second)
and false failovers during an idle run; for hapulse also a planned
switchover (`hapulse standby`), 2..32-node scaling, and a soak under full
CPU load with 5% loss on the heartbeat link. Results print as a table and
go to docs/benchmarks.md. Traffic stays inside the namespaces it creates.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hapulse.lab import Host, Lab, seed_lab, wait_for
from hapulse.lab.demo import Poller, start_poller
from hapulse.lab.heartbeat import HeartbeatNode
from hapulse.lab.heartbeat import available as heartbeat_available
from hapulse.lab.nodes import HAPULSE, VIP, HapulseNode, install_httpd, seed_files, web_node

ROOT = Path(__file__).resolve().parents[1]
LAN = {"f801": "eth0", "f802": "eth0"}  # f802's LAN named eth0: Heartbeat's IPaddr needs it
HB_LINK = {"f801": "eth1", "f802": "eth2"}

# timers per system and setting: (keepalive, warntime, deadtime, initdead) for the
# Heartbeat-style daemons; keepalived: advert_int
# hapulse's fast setting adds the LAN as a second heartbeat path (Heartbeat's answer to a
# lossy or failing link: more than one medium), so a short deadtime raises no false alarm
LAN_ADDR = {"f801": "192.168.1.110", "f802": "192.168.1.111"}
SETTINGS: dict[str, dict[str, Any]] = {
    "hapulse": {"seed": ("1", "10", "30", "120"), "fast": ("10ms", "20ms", "30ms", "2")},
    "heartbeat": {"seed": ("1", "10", "30", "120"), "fast": ("100ms", "300ms", "500ms", "2")},
    "keepalived": {"seed": "1", "fast": "0.01"},
}


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)


# ---- the three systems -----------------------------------------------------------
class System:
    name = ""

    def __init__(self, lab: Lab, setting: str, group: str) -> None:
        self.lab, self.setting, self.group = lab, setting, group

    def start(self, node: str) -> None:
        raise NotImplementedError

    def daemon_pids(self, node: str) -> list[int]:
        """The daemon's processes in the node (the web server and helpers excluded)."""
        out = []
        for pid in self.lab.hosts[node].netns_pids():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if self.name in cmd and "http.server" not in cmd:
                out.append(pid)
        return out

    def deaths_seen(self, node: str) -> int | None:
        return None

    def rebooted(self, node: str) -> None:
        """After a power cycle /run is empty: drop the pid files a daemon would trip on."""

    def timers(self) -> str:
        raise NotImplementedError

    def standby(self) -> None:
        raise NotImplementedError


def hacf_with(text: str, timers: Sequence[str], extra: str) -> str:
    keys = ("keepalive", "warntime", "deadtime", "initdead")
    for key, value in zip(keys, timers, strict=True):
        text = re.sub(rf"(?m)^(\s*{key}\s+)\S+", rf"\g<1>{value}", text)
    return text + extra


def haresources(group: str) -> str:
    # "seed": the guide's group (address + httpd); "ip": the address only, with the web
    # server always running on both nodes (keepalived's model)
    return "f801 192.168.1.118 httpd\n" if group == "seed" else "f801 192.168.1.118\n"


class Hapulse(System):
    name = "hapulse"

    def __init__(self, lab: Lab, setting: str, group: str) -> None:
        super().__init__(lab, setting, group)
        self.nodes: dict[str, HapulseNode] = {}
        for n in ("f801", "f802"):
            files = seed_files(n)
            peer = LAN_ADDR["f802" if n == "f801" else "f801"]
            extra = f"ucast eth0 {peer}\n" if setting == "fast" else ""
            files["ha.cf"] = hacf_with(files["ha.cf"], SETTINGS["hapulse"][setting],
                                       "auto_failback on\n" + extra)
            files["haresources"] = haresources(group)
            self.nodes[n] = web_node(lab.hosts[n], files)

    def start(self, node: str) -> None:
        if self.group == "ip":  # the web server runs on both nodes, outside the group
            self.lab.hosts[node].run(["/etc/init.d/httpd", "start"], check=True)
        self.nodes[node].start()

    def deaths_seen(self, node: str) -> int | None:
        st = self.nodes[node].status()
        return None if st is None else int(st["counters"]["deaths_seen"])

    def timers(self) -> str:
        k, w, d, i = SETTINGS["hapulse"][self.setting]
        return f"keepalive {k}, deadtime {d}"

    def standby(self) -> None:
        self.lab.hosts["f801"].run([HAPULSE, "standby", "--run-dir",
                                    str(self.nodes["f801"].run_dir)], check=True)


class Heartbeat(System):
    name = "heartbeat"

    def __init__(self, lab: Lab, setting: str, group: str) -> None:
        super().__init__(lab, setting, group)
        self.nodes: dict[str, HeartbeatNode] = {}
        for n in ("f801", "f802"):
            f = seed_files(n)
            hb = HeartbeatNode(lab.hosts[n], ha_cf=hacf_with(
                f["ha.cf"], SETTINGS["heartbeat"][setting],
                "auto_failback on\nlogfile /var/log/ha-log\n"),
                authkeys=f["authkeys"], haresources=haresources(group))
            install_httpd(hb.ha_d / "resource.d")
            self.nodes[n] = hb

    def start(self, node: str) -> None:
        hb = self.nodes[node]
        if self.group == "ip":  # the web server runs on both nodes, outside the group
            hb.host.run([str(hb.ha_d / "resource.d" / "httpd"), "start"], mounts=hb.mounts,
                        check=True)
        hb.start()

    def deaths_seen(self, node: str) -> int | None:
        p = self.nodes[node].log_dir / "ha-log"
        return p.read_text(errors="replace").count(": is dead") if p.exists() else 0

    def rebooted(self, node: str) -> None:
        # its pid may still exist as an unreaped zombie: Heartbeat would say "already running"
        (self.nodes[node].run_dir / "heartbeat.pid").unlink(missing_ok=True)

    def timers(self) -> str:
        k, w, d, i = SETTINGS["heartbeat"][self.setting]
        return f"keepalive {k}, deadtime {d}"


KEEPALIVED_CONF = """global_defs {{
    router_id {node}
    vrrp_version 3
    script_user root
    enable_script_security
}}
vrrp_instance web {{
    state BACKUP
    interface {lan}
    virtual_router_id 51
    priority {prio}
    advert_int {advert}
    virtual_ipaddress {{
        192.168.1.118/24 dev {lan}
    }}
}}
"""


class Keepalived(System):
    name = "keepalived"

    def __init__(self, lab: Lab, setting: str, group: str) -> None:
        super().__init__(lab, setting, group)
        self.conf: dict[str, Path] = {}
        for n, prio in (("f801", 150), ("f802", 100)):
            host = lab.hosts[n]
            install_httpd(host.private("/etc/init.d"))
            (host.private("/run") / "keepalived").mkdir(exist_ok=True)
            conf = host.dir / "keepalived.conf"
            conf.write_text(KEEPALIVED_CONF.format(node=n, lan=LAN[n], prio=prio,
                                                   advert=SETTINGS["keepalived"][setting]))
            self.conf[n] = conf

    def start(self, node: str) -> None:
        host = self.lab.hosts[node]
        host.run(["/etc/init.d/httpd", "start"], check=True)  # the web server runs on both
        log_path = host.dir / "keepalived.log"
        with open(log_path, "a") as out:
            host.popen(["keepalived", "-n", "-l", "-P", "-f", str(self.conf[node]),
                        "-p", "/run/keepalived/keepalived.pid",
                        "-r", "/run/keepalived/vrrp.pid"], stdout=out, stderr=out)

    def rebooted(self, node: str) -> None:
        for pid in (self.lab.hosts[node].mounts["/run"] / "keepalived").glob("*.pid"):
            pid.unlink()

    def deaths_seen(self, node: str) -> int | None:
        p = self.lab.hosts[node].dir / "keepalived.log"
        # a backup becoming master while the master lives is a false failover
        return p.read_text(errors="replace").count("Entering MASTER STATE") if p.exists() else 0

    def timers(self) -> str:
        return f"advert_int {SETTINGS['keepalived'][self.setting]}"


SYSTEMS: dict[str, type[System]] = {"hapulse": Hapulse, "heartbeat": Heartbeat,
                                    "keepalived": Keepalived}


# ---- one lab per system and setting --------------------------------------------------
class Bench:
    def __init__(self, kind: str, setting: str, group: str) -> None:
        self.kind, self.setting = kind, setting
        self.lab = seed_lab(f"hpb{os.getpid() % 10000}{kind[:2]}{setting[0]}", f802_lan="eth0")
        try:
            self.sys = SYSTEMS[kind](self.lab, setting, group)
        except BaseException:
            self.close()
            raise
        self.poller: Poller | None = None
        self.deadtime = (float(SETTINGS[kind][setting]) * 3.5 if kind == "keepalived"
                         else _secs(SETTINGS[kind][setting][2]))

    def close(self) -> None:
        if getattr(self, "poller", None) is not None:
            self.poller.proc.kill()  # type: ignore[union-attr]
        self.lab.close()
        shutil.rmtree(self.lab.workdir, ignore_errors=True)

    def client_sees(self, who: str, since: float) -> bool:
        assert self.poller is not None
        return any(w == who for _, w in self.poller.since(since))

    def up(self) -> None:
        """Both nodes started; returns once the client is served by f801."""
        self.sys.start("f802")
        self.sys.start("f801")
        self.poller = start_poller(self.lab.hosts["client"])
        t = time.monotonic()
        wait_for(lambda: self.client_sees("f801", t), 180, interval=0.05,
                 what=f"{self.kind}: f801 serves the site")
        self._settle()

    def _settle(self) -> None:
        """f801 has served steadily for a while (no start-up flapping left)."""
        poller = self.poller
        assert poller is not None
        need = max(1.0, min(3.0, self.deadtime))

        def steady() -> bool:
            recent = poller.since(time.monotonic() - need)
            return len(recent) > 10 and all(w == "f801" for _, w in recent)

        wait_for(steady, 120, interval=0.1, what=f"{self.kind}: f801 serving steadily")

    def fail(self, how: str) -> tuple[float, float]:
        """f801 dies (`kill` or `links`); returns (kill-to-served, service gap) in seconds."""
        assert self.poller is not None
        f801 = self.lab.hosts["f801"]
        t0 = time.monotonic()
        if how == "kill":
            f801.kill_all()
        else:
            for ifname in ("eth0", "eth1"):
                f801.set_link(ifname, up=False)
        wait_for(lambda: self.client_sees("f802", t0), self.deadtime + 60, interval=0.01,
                 what=f"{self.kind}: f802 serves after f801 died ({how})")
        return self.poller.gap(t0, "f801", "f802")

    def reboot_f801(self) -> float:
        """f801 comes back as after a power cycle; returns the failback service gap."""
        assert self.poller is not None
        f801 = self.lab.hosts["f801"]
        f801.kill_all()
        f801.run(["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"])
        self.sys.rebooted("f801")
        for ifname in ("eth0", "eth1"):
            f801.set_link(ifname, up=True)
        t = time.monotonic()
        self.sys.start("f801")
        wait_for(lambda: self.client_sees("f801", t), 180, interval=0.01,
                 what=f"{self.kind}: the site moves back to f801")
        answers = self.poller.since(t)
        first = next(a for a, w in answers if w == "f801")
        last = max((a for a, w in answers if w == "f802" and a < first), default=t)
        self._settle()
        return first - last

    def standby_gap(self) -> float:
        assert self.poller is not None
        t0 = time.monotonic()
        self.sys.standby()
        wait_for(lambda: self.client_sees("f802", t0), 10, interval=0.01,
                 what="hapulse standby moves the site")
        _, gap = self.poller.gap(t0, "f801", "f802")
        # and back: takeover on f801
        t1 = time.monotonic()
        node = self.sys.nodes["f801"]  # type: ignore[attr-defined]
        self.lab.hosts["f801"].run([HAPULSE, "takeover", "--run-dir", str(node.run_dir)],
                                   check=True)
        wait_for(lambda: self.client_sees("f801", t1), 10, interval=0.01, what="takeover back")
        self._settle()
        return gap

    def idle(self, seconds: float) -> dict[str, float]:
        """Idle cost over `seconds` (no client traffic): CPU s, RSS MB, cluster packets/s,
        and false failovers (deaths or takeovers seen while both nodes live)."""
        assert self.poller is not None
        self.poller.proc.kill()
        self.poller = None
        hosts = [self.lab.hosts[n] for n in ("f801", "f802")]
        deaths0 = [self.sys.deaths_seen(n) or 0 for n in ("f801", "f802")]
        cpu0 = {n: _cpu(self.sys.daemon_pids(n)) for n in ("f801", "f802")}
        pk0 = sum(_tx_packets(h) for h in hosts)
        t0 = time.monotonic()
        time.sleep(seconds)  # the measurement window itself, not a synchronisation
        elapsed = time.monotonic() - t0
        pk1 = sum(_tx_packets(h) for h in hosts)
        cpu1 = {n: _cpu(self.sys.daemon_pids(n)) for n in ("f801", "f802")}
        deaths1 = [self.sys.deaths_seen(n) or 0 for n in ("f801", "f802")]
        rss = max(_rss_mb(self.sys.daemon_pids(n)) for n in ("f801", "f802"))
        self.poller = start_poller(self.lab.hosts["client"])
        return {
            "cpu_s_per_min": max(cpu1[n] - cpu0[n] for n in cpu0) * 60 / elapsed,
            "rss_mb": rss,
            "pps": (pk1 - pk0) / elapsed,
            "false_failovers": float(sum(deaths1) - sum(deaths0)),
        }


def _secs(v: str) -> float:
    return float(v[:-2]) / 1000 if v.endswith("ms") else float(v)


def _cpu(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def _tx_packets(host: Host) -> int:
    r = host.run(["ip", "-s", "-j", "link", "show"], timeout=10)
    return sum(int(link.get("stats64", {}).get("tx", {}).get("packets", 0))
               for link in json.loads(r.stdout or "[]") if link.get("ifname") != "lo")


# ---- the measurements -------------------------------------------------------------
@dataclass
class Results:
    rows: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    idle: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    scaling: list[dict[str, float]] = field(default_factory=list)
    soak: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: tuple[str, str, str], value: float) -> None:
        self.rows.setdefault(key, []).append(value)


def gaps(res: Results, kind: str, setting: str, group: str, reps: int, idle_s: float,
         standby: bool) -> None:
    b = Bench(kind, setting, group)
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


SCALE_TIMERS = ("250ms", "750ms", "1", "5")


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
    cpu0 = {k: _cpu(v) for k, v in pids.items()}
    t0 = time.monotonic()
    time.sleep(idle_s)  # the measurement window
    el = time.monotonic() - t0
    cpu1 = {k: _cpu(v) for k, v in pids.items()}
    per_node = statistics.mean(cpu1[k] - cpu0[k] for k in pids) * 60 / el
    rss = statistics.mean(_rss_mb(v) for v in pids.values())
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


# A lossy cable: forwards every Ethernet frame between its two ends (AF_PACKET), dropping
# each with probability LOSS. It stands in for tc netem, which this kernel may lack; it
# runs at SCHED_FIFO like a wire would, so the CPU load does not delay it.
LOSSY_WIRE = """
import os, random, select, socket, sys, time
loss, limit = float(sys.argv[1]), float(sys.argv[2])
a = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); a.bind(("left", 0))
b = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)); b.bind(("right", 0))
other = {a: b, b: a}
counts = [0, 0]
end = time.monotonic() + limit
while time.monotonic() < end:
    for s in select.select([a, b], [], [], 1.0)[0]:
        frame, addr = s.recvfrom(65536)
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        counts[0] += 1
        if random.random() < loss:
            counts[1] += 1
            continue
        other[s].send(frame)
    if counts[0] and counts[0] % 1000 == 0:
        print(counts[0], counts[1], flush=True)
"""


def lossy_heartbeat_link(lab: Lab, loss: float, seconds: float) -> subprocess.Popen[Any]:
    """Re-cable the seed's heartbeat link (f801:eth1 - f802:eth2) through a lossy wire."""
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
    return wire.popen(["chrt", "-f", "60", sys.executable, "-c", LOSSY_WIRE, str(loss),
                       str(seconds + 120)], stdout=subprocess.PIPE, text=True)


def soak(res: Results, seconds: float) -> None:
    b = Bench("hapulse", "fast", "ip")
    stress: list[subprocess.Popen[Any]] = []
    try:
        log(f"soak: hapulse ({b.sys.timers()}) for {seconds:.0f} s under full CPU load, "
            "5% loss on the heartbeat link")
        wire = lossy_heartbeat_link(b.lab, 0.05, seconds)
        b.up()
        for n in ("f801", "f802"):
            h = b.lab.hosts[n]
            stress.append(h.popen(["stress-ng", "--cpu", str(os.cpu_count() or 1),
                                   "--timeout", f"{int(seconds) + 5}s", "--quiet"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deaths0 = sum(b.sys.deaths_seen(n) or 0 for n in ("f801", "f802"))
        t0 = time.monotonic()
        time.sleep(seconds)  # the soak window
        elapsed = time.monotonic() - t0
        deaths1 = sum(b.sys.deaths_seen(n) or 0 for n in ("f801", "f802"))
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


# ---- report --------------------------------------------------------------------------
def _fmt(values: list[float] | None, ms: bool = True) -> str:
    if not values:
        return "-"
    def f(v: float) -> str:
        return f"{v * 1000:.0f}" if ms else f"{v:.2f}"

    return f"{f(statistics.median(values))} ({f(min(values))}-{f(max(values))})"


def _ratio(a: list[float] | float | None, b: list[float] | float | None) -> str:
    if a is None or b is None or a == [] or b == []:
        return "-"
    va = statistics.median(a) if isinstance(a, list) else a
    vb = statistics.median(b) if isinstance(b, list) else b
    return f"{va / vb:.2f}" if vb else "-"


def _per_packet(idle: dict[str, float]) -> float | None:
    """CPU per packet: compares daemons that send at different rates."""
    return idle["cpu_s_per_min"] / 60 / idle["pps"] * 1e6 if idle.get("pps") else None


def report(res: Results, args: argparse.Namespace, started: float) -> str:
    kinds = ["hapulse", "heartbeat", "keepalived"]
    out = ["# Benchmarks", "",
           f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
           f"`bash bench/run.sh {' '.join(args.argv)}` in {(time.time() - started) / 60:.0f} min.",
           "", "Machine: " + _machine(), "",
           "Versions: " + _versions(), ""]
    for setting, title in (("fast", "Fastest settings"), ("seed", "The seed's timers")):
        out += [f"## {title}", ""]
        out.append("| | " + " | ".join(
            f"{k} ({_timers(k, setting)})" for k in kinds) + " | hapulse/heartbeat | "
            "hapulse/keepalived |")
        out.append("|---" * 6 + "|")
        for metric, label in (("gap_kill", "gap, processes killed (ms)"),
                              ("gap_links", "gap, links down (ms)"),
                              ("served_kill", "kill to first answer from f802 (ms)"),
                              ("failback", "failback gap (ms)"),
                              ("standby", "planned switchover gap, `hapulse standby` (ms)")):
            vals = {k: res.rows.get((k, setting, metric)) for k in kinds}
            if not any(vals.values()):
                continue
            out.append(f"| {label} | " + " | ".join(_fmt(vals[k]) for k in kinds)
                       + f" | {_ratio(vals['hapulse'], vals['heartbeat'])} | "
                       f"{_ratio(vals['hapulse'], vals['keepalived'])} |")
        idle = {k: res.idle.get((k, setting)) for k in kinds}
        if any(idle.values()):
            for metric, label, fmt in (
                    ("cpu_s_per_min", "idle CPU, s per minute (busier node)", "{:.2f}"),
                    ("rss_mb", "resident memory, MB (per node)", "{:.1f}"),
                    ("pps", "packets per second (both nodes)", "{:.0f}"),
                    ("us_per_packet", "idle CPU per packet, µs (busier node's CPU / "
                     "cluster packets)", "{:.0f}"),
                    ("false_failovers", f"false failovers in {args.idle:.0f} s idle", "{:.0f}")):
                got = {k: (_per_packet(v) if metric == "us_per_packet" else v[metric])
                       if v else None for k, v in idle.items()}
                cells = ["-" if got[k] is None else fmt.format(got[k]) for k in kinds]
                out.append(f"| {label} | " + " | ".join(cells) + " | "
                           + _ratio(got["hapulse"], got["heartbeat"]) + " | "
                           + _ratio(got["hapulse"], got["keepalived"]) + " |")
        out.append("")
        out.append("Gaps: median (min-max) over the repetitions, as seen by a client "
                   "polling http://192.168.1.118/ every 20 ms (a new try every 20 ms, each "
                   "waiting up to 0.5 s; times are when answers arrive).")
        out.append("")
    if res.scaling:
        out += ["## hapulse with N nodes", "",
                f"bcast on one switch, keepalive {SCALE_TIMERS[0]}, deadtime {SCALE_TIMERS[2]}; "
                "one node killed, every survivor must log it dead.", "",
                "| nodes | idle CPU per node (s/min) | RSS per node (MB) | "
                "death detected, median (s) | max (s) |", "|---|---|---|---|---|"]
        for r in res.scaling:
            out.append(f"| {r['nodes']:.0f} | {r['cpu_s_per_min_per_node']:.2f} | "
                       f"{r['rss_mb']:.1f} | {r['detect_median']:.3f} | {r['detect_max']:.3f} |")
        out.append("")
    if res.soak:
        out += ["## Soak", "",
                f"hapulse at its fastest settings ({_timers('hapulse', 'fast')}) for "
                f"{res.soak['seconds']:.0f} s, both nodes under full CPU load (stress-ng, one "
                "worker per CPU in each node), 5% loss each way on the heartbeat link "
                f"(a lossy wire: {res.soak['dropped']:.0f} of {res.soak['frames']:.0f} frames "
                "dropped at random): **"
                f"{res.soak['false_failovers']:.0f} false failovers**; the client got "
                f"{res.soak['answers_from_f802']:.0f} answers from f802.", ""]
    out += ["## Notes", ""] + [f"- {n}" for n in res.notes] + [""]
    return "\n".join(out)


def _timers(kind: str, setting: str) -> str:
    s = SETTINGS[kind][setting]
    if kind == "keepalived":
        return f"advert_int {s}"
    return f"keepalive {s[0]}, deadtime {s[2]}"


def _machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem} MB, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def _versions() -> str:
    out = []
    for pkg in ("heartbeat", "keepalived", "resource-agents"):
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True,
                           text=True)
        out.append(f"{pkg} {r.stdout.strip() or '?'}")
    from hapulse import __version__
    return f"hapulse {__version__}, " + ", ".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--idle", type=float, default=120.0, help="idle window, s (fast settings)")
    p.add_argument("--soak", type=float, default=600.0, help="soak seconds (0: skip)")
    p.add_argument("--sizes", default="2,4,8,16,32")
    p.add_argument("--systems", default="hapulse,heartbeat,keepalived")
    p.add_argument("--settings", default="fast,seed")
    p.add_argument("--quick", action="store_true", help="1 rep, 10 s idle, no soak, sizes 2,4")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = p.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.reps, args.idle, args.soak, args.sizes = 1, 10.0, 0.0, "2,4"
    if os.geteuid() != 0:
        print("bench: run as root (network namespaces)", file=sys.stderr)
        return 1
    # Ctrl-C or a kill ends the run through the labs' clean-up (even when started
    # in the background, where a shell ignores SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    started = time.time()
    res = Results()
    systems = [s for s in args.systems.split(",") if s]
    if "heartbeat" in systems and not heartbeat_available():
        systems.remove("heartbeat")
        res.notes.append("Heartbeat is not installed here; its column is empty.")
    for setting in args.settings.split(","):
        for kind in systems:
            group = "ip" if setting == "fast" else ("seed" if kind != "keepalived" else "ip")
            try:
                gaps(res, kind, setting, group, args.reps,
                     args.idle if setting == "fast" else 0.0,
                     standby=(kind == "hapulse"))
            except (TimeoutError, RuntimeError) as exc:
                res.notes.append(f"{kind} at {setting} settings: {exc}")
                log(f"{kind} {setting}: FAILED: {exc}")
    try:
        if args.sizes:
            for n in [int(x) for x in args.sizes.split(",")]:
                try:
                    scaling(res, [n], 20.0)
                except (TimeoutError, RuntimeError) as exc:
                    res.notes.append(f"scaling, {n} nodes: {exc}")
                    log(f"scaling {n}: FAILED: {exc}")
        if args.soak > 0:
            try:
                soak(res, args.soak)
            except (TimeoutError, RuntimeError, OSError) as exc:
                res.notes.append(f"soak: {exc}")
                log(f"soak: FAILED: {exc}")
    finally:
        # whatever happened, what was measured is reported
        res.notes += NOTES
        text = report(res, args, started)
        print(text)
        args.out.write_text(text)
        log(f"written to {args.out}")
    return 0


NOTES = [
    "The lab is the seed's topology (`hapulse.lab.seed_lab`) with f802's LAN interface "
    "named eth0: resource-agents 4.12's IPaddr, which Heartbeat runs, cannot take the "
    "address over on the guide's eth1 (see docs/resources.md).",
    "At the fastest settings every system moves only the address and the web server runs "
    "on both nodes (keepalived's model; haresources `f801 192.168.1.118`), so the gap is the "
    "failover machinery alone. At the seed's timers hapulse and Heartbeat run the guide's "
    "group, address then httpd (an LSB script starting a Python HTTP server).",
    "hapulse and Heartbeat send heartbeats on the dedicated link (ucast, as the seed); at "
    "its fastest settings hapulse also sends them over the LAN (`ucast eth0 PEER`, a "
    "second medium as Heartbeat allows), so one lost packet on one path is no silence; "
    "the soak's loss is on the dedicated link. keepalived sends VRRP version 3 adverts "
    "on the LAN (multicast), priority 150 on f801, 100 on f802, preemption on (the "
    "failback).",
    "N nodes: every node hears every other, N x (N - 1) heartbeats per keepalive; at "
    "32 nodes and 100 ms that is about 10,000 packets a second for this machine's CPUs, "
    "more than 32 Python daemons keep up with, so the scaling runs at keepalive 250ms.",
    "'links down' sets both of f801's interfaces down; afterwards f801 is 'rebooted' "
    "(processes killed, the floating address removed, links up, daemon started) before "
    "the failback is measured. Packets per second count every packet the two nodes send "
    "(no client traffic during the idle window).",
    "Heartbeat's false failovers are its `is dead` log lines; keepalived's its backup "
    "entering MASTER state; hapulse's its deaths_seen counter.",
]


if __name__ == "__main__":
    sys.exit(main())
