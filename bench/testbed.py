"""One two-node lab per system and setting: f801 and f802 serving the site, a client
polling it every 20 ms, and the events measured on it (a failure, a failback, a planned
switchover, an idle window)."""

from __future__ import annotations

import os
import shutil
import time

from bench.measure import cpu_seconds, rss_mb, tx_packets
from bench.systems import SYSTEMS, System, deadtime
from hapulse.lab import seed_lab, wait_for
from hapulse.lab.demo import Poller, start_poller
from hapulse.lab.nodes import VIP

NODES = ("f801", "f802")


class Testbed:
    def __init__(self, kind: str, setting: str, group: str) -> None:
        self.kind, self.setting = kind, setting
        self.poller: Poller | None = None
        self.lab = seed_lab(f"hpb{os.getpid() % 10000}{kind[:2]}{setting[0]}", f802_lan="eth0")
        try:
            self.sys: System = SYSTEMS[kind](self.lab, setting, group)
        except BaseException:
            self.close()
            raise
        self.deadtime = deadtime(kind, setting)

    def close(self) -> None:
        if self.poller is not None:
            self.poller.proc.kill()
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
                 what=f"{self.kind} standby moves the site")
        _, gap = self.poller.gap(t0, "f801", "f802")
        # and back: takeover on f801
        t1 = time.monotonic()
        self.sys.takeover()
        wait_for(lambda: self.client_sees("f801", t1), 10, interval=0.01, what="takeover back")
        self._settle()
        return gap

    def idle(self, seconds: float) -> dict[str, float]:
        """Idle cost over `seconds` (no client traffic): CPU s, RSS MB, cluster packets/s,
        and false failovers (deaths or takeovers seen while both nodes live)."""
        assert self.poller is not None
        self.poller.proc.kill()
        self.poller = None
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
        self.poller = start_poller(self.lab.hosts["client"])
        return {
            "cpu_s_per_min": max(cpu1[n] - cpu0[n] for n in cpu0) * 60 / elapsed,
            "rss_mb": rss,
            "pps": (pk1 - pk0) / elapsed,
            "false_failovers": float(sum(deaths1) - sum(deaths0)),
        }
