"""One two-node lab per system and setting: f801 and f802 serving the floating address,
a client probing it every millisecond, and the events measured on it (a failure, a
failback, a planned switchover, an idle window).

The client's probe is hapulse.lab.udpprobe: a UDP echo on port 7007 of every node (it
runs on both, like the web server of keepalived's model; only the node holding
192.168.1.118 gets what is sent there) and a prober in the client sending one datagram a
millisecond to 192.168.1.118. When the group is the seed's (address, then httpd), an HTTP
poller (a GET every 20 ms) also runs, for the time until the web server itself answers.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from typing import Any

from bench.measure import cpu_seconds, rss_mb, tx_packets
from bench.systems import SYSTEMS, System, deadtime
from hapulse.lab import seed_lab, wait_for
from hapulse.lab.nodes import VIP
from hapulse.lab.poller import Poller, start_poller
from hapulse.lab.udpprobe import UdpProbe, start_echo, start_probe

NODES = ("f801", "f802")


class Testbed:
    def __init__(self, kind: str, setting: str, group: str) -> None:
        self.kind, self.setting, self.group = kind, setting, group
        self.probe: UdpProbe | None = None
        self.poller: Poller | None = None
        self.echo: dict[str, subprocess.Popen[Any]] = {}
        self.lab = seed_lab(f"hpb{os.getpid() % 10000}{kind[:2]}{setting[0]}", f802_lan="eth0")
        try:
            self.sys: System = SYSTEMS[kind](self.lab, setting, group)
        except BaseException:
            self.close()
            raise
        self.deadtime = deadtime(kind, setting)

    def close(self) -> None:
        self._stop_clients()
        self.lab.close()
        shutil.rmtree(self.lab.workdir, ignore_errors=True)

    def _start_clients(self) -> None:
        self.probe = start_probe(self.lab.hosts["client"], VIP)
        if self.group == "seed":
            self.poller = start_poller(self.lab.hosts["client"])

    def _stop_clients(self) -> None:
        if self.probe is not None:
            self.probe.stop()
            self.probe = None
        if self.poller is not None:
            self.poller.proc.kill()
            self.poller.proc.wait(timeout=10)
            self.poller = None

    def _start_echo(self, node: str) -> None:
        self.echo[node] = start_echo(self.lab.hosts[node])

    def client_sees(self, who: str, since: float) -> bool:
        assert self.probe is not None
        return self.probe.seen(who, since)

    def _http_sees(self, who: str, since: float) -> bool:
        return self.poller is None or any(w == who for _, w in self.poller.since(since))

    def up(self) -> None:
        """Both nodes started; returns once the client is served by f801."""
        for node in NODES:
            self._start_echo(node)
        self.sys.start("f802")
        self.sys.start("f801")
        self._start_clients()
        t = time.monotonic()
        wait_for(lambda: self.client_sees("f801", t) and self._http_sees("f801", t), 180,
                 interval=0.05, what=f"{self.kind}: f801 serves the address")
        self._settle()

    def _settle(self) -> None:
        """f801 has answered steadily for a while (no start-up flapping left)."""
        probe = self.probe
        assert probe is not None
        need = max(1.0, min(3.0, self.deadtime))
        wait_for(lambda: probe.steady("f801", need), 120, interval=0.1,
                 what=f"{self.kind}: f801 answering steadily")

    def _http_first(self, who: str, since: float) -> float | None:
        """The first HTTP answer from `who` since `since`, from since (None: no poller)."""
        poller = self.poller
        if poller is None:
            return None
        wait_for(lambda: self._http_sees(who, since), 60, interval=0.01,
                 what=f"{self.kind}: the web server answers from {who}")
        return next(t for t, w in poller.since(since) if w == who) - since

    def fail(self, how: str) -> tuple[float, float, float | None]:
        """f801 dies (`kill` or `links`); returns (kill to the first answer from f802, the
        client's gap, kill to the first HTTP answer from f802 or None) in seconds."""
        assert self.probe is not None
        f801 = self.lab.hosts["f801"]
        t0 = time.monotonic()
        if how == "kill":
            f801.kill_all()
        else:
            for ifname in ("eth0", "eth1"):
                f801.set_link(ifname, up=False)
        wait_for(lambda: self.client_sees("f802", t0), self.deadtime + 60, interval=0.01,
                 what=f"{self.kind}: f802 answers after f801 died ({how})")
        to_served, gap = self.probe.gap(t0, "f801", "f802")
        return to_served, gap, self._http_first("f802", t0)

    def reboot_f801(self) -> float:
        """f801 comes back as after a power cycle; returns the failback gap (the client's,
        from f802's last answer to f801's first)."""
        assert self.probe is not None
        f801 = self.lab.hosts["f801"]
        f801.kill_all()
        f801.run(["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"])
        self.sys.rebooted("f801")
        for ifname in ("eth0", "eth1"):
            f801.set_link(ifname, up=True)
        self._start_echo("f801")  # the machine's services are up before the cluster's
        t = time.monotonic()
        self.sys.start("f801")
        wait_for(lambda: self.client_sees("f801", t), 180, interval=0.01,
                 what=f"{self.kind}: the address moves back to f801")
        _, gap = self.probe.gap(t, "f802", "f801")
        self._settle()
        return gap

    def standby_gap(self) -> float:
        assert self.probe is not None
        t0 = time.monotonic()
        self.sys.standby()
        wait_for(lambda: self.client_sees("f802", t0), 10, interval=0.01,
                 what=f"{self.kind} standby moves the address")
        _, gap = self.probe.gap(t0, "f801", "f802")
        # and back: takeover on f801
        t1 = time.monotonic()
        self.sys.takeover()
        wait_for(lambda: self.client_sees("f801", t1), 10, interval=0.01, what="takeover back")
        self._settle()
        return gap

    def idle(self, seconds: float) -> dict[str, float]:
        """Idle cost over `seconds` (no client traffic): CPU s, RSS MB, cluster packets/s,
        and false failovers (deaths or takeovers seen while both nodes live)."""
        self._stop_clients()
        hosts = [self.lab.hosts[n] for n in NODES]
        deaths0 = [self.sys.deaths_seen(n) or 0 for n in NODES]
        cpu0 = {n: cpu_seconds(self.sys.daemon_pids(n)) for n in NODES}
        pk0 = sum(tx_packets(h) for h in hosts)
        t0 = time.monotonic()
        time.sleep(seconds)  # the measurement window itself, not a synchronisation
        elapsed = time.monotonic() - t0
        pk1 = sum(tx_packets(h) for h in hosts)
        cpu1 = {n: cpu_seconds(self.sys.daemon_pids(n)) for n in NODES}
        deaths1 = [self.sys.deaths_seen(n) or 0 for n in NODES]
        rss = max(rss_mb(self.sys.daemon_pids(n)) for n in NODES)
        self._start_clients()
        return {
            "cpu_s_per_min": max(cpu1[n] - cpu0[n] for n in cpu0) * 60 / elapsed,
            "rss_mb": rss,
            "pps": (pk1 - pk0) / elapsed,
            "false_failovers": float(sum(deaths1) - sum(deaths0)),
        }
