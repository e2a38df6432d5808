"""The three systems under test, configured for the lab's seed topology.

Each serves http://192.168.1.118/ from f801 with f802 as the backup: hapulse and
Heartbeat 3.0.6 from the seed's ha.cf/authkeys with the timers of a setting,
keepalived from programs/keepalived.conf.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from string import Template

from hapulse.lab import Lab
from hapulse.lab.heartbeat import HeartbeatNode
from hapulse.lab.nodes import HAPULSE, HapulseNode, install_httpd, seed_files, web_node

PROGRAMS = Path(__file__).resolve().parent / "programs"
LAN = {"f801": "eth0", "f802": "eth0"}  # f802's LAN named eth0: Heartbeat's IPaddr needs it
HB_LINK = {"f801": "eth1", "f802": "eth2"}

# timers per system and setting: (keepalive, warntime, deadtime, initdead) for the
# Heartbeat-style daemons; keepalived: advert_int
# hapulse's fast setting adds the LAN as a second heartbeat path (Heartbeat's answer to a
# lossy or failing link: more than one medium), so a short deadtime raises no false alarm
LAN_ADDR = {"f801": "192.168.1.110", "f802": "192.168.1.111"}
Timers = tuple[str, str, str, str]
TIMERS: dict[str, dict[str, Timers]] = {
    "hapulse": {"seed": ("1", "10", "30", "120"), "fast": ("10ms", "20ms", "30ms", "2")},
    "heartbeat": {"seed": ("1", "10", "30", "120"), "fast": ("100ms", "300ms", "500ms", "2")},
}
ADVERT_INT = {"seed": "1", "fast": "0.01"}  # keepalived


def secs(value: str) -> float:
    """An ha.cf time ("30", "10ms") in seconds."""
    return float(value[:-2]) / 1000 if value.endswith("ms") else float(value)


def timers_text(kind: str, setting: str) -> str:
    if kind == "keepalived":
        return f"advert_int {ADVERT_INT[setting]}"
    k, _, d, _ = TIMERS[kind][setting]
    return f"keepalive {k}, deadtime {d}"


def deadtime(kind: str, setting: str) -> float:
    """Seconds of silence before the backup takes over (keepalived: 3.5 adverts)."""
    if kind == "keepalived":
        return float(ADVERT_INT[setting]) * 3.5
    return secs(TIMERS[kind][setting][2])


class System:
    name = ""

    def __init__(self, lab: Lab, setting: str, group: str) -> None:
        self.lab, self.setting, self.group = lab, setting, group

    def start(self, node: str) -> None:
        raise NotImplementedError

    def daemon_pids(self, node: str) -> list[int]:
        """The daemon's processes in the node (the web server, the UDP echo and helpers
        excluded)."""
        out = []
        for pid in self.lab.hosts[node].netns_pids():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if self.name in cmd and "http.server" not in cmd and "udpprobe" not in cmd:
                out.append(pid)
        return out

    def deaths_seen(self, node: str) -> int | None:
        return None

    def rebooted(self, node: str) -> None:
        """After a power cycle /run is empty: drop the pid files a daemon would trip on."""

    def timers(self) -> str:
        return timers_text(self.name, self.setting)

    def standby(self) -> None:
        """f801 hands its group to f802 (a planned switchover)."""
        raise NotImplementedError

    def takeover(self) -> None:
        """f801 takes its group back."""
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
            files["ha.cf"] = hacf_with(files["ha.cf"], TIMERS["hapulse"][setting],
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

    def _f801(self, command: str) -> None:
        self.lab.hosts["f801"].run([HAPULSE, command, "--run-dir",
                                    str(self.nodes["f801"].run_dir)], check=True)

    def standby(self) -> None:
        self._f801("standby")

    def takeover(self) -> None:
        self._f801("takeover")


class Heartbeat(System):
    name = "heartbeat"

    def __init__(self, lab: Lab, setting: str, group: str) -> None:
        super().__init__(lab, setting, group)
        self.nodes: dict[str, HeartbeatNode] = {}
        for n in ("f801", "f802"):
            f = seed_files(n)
            hb = HeartbeatNode(lab.hosts[n], ha_cf=hacf_with(
                f["ha.cf"], TIMERS["heartbeat"][setting],
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


class Keepalived(System):
    name = "keepalived"

    def __init__(self, lab: Lab, setting: str, group: str) -> None:
        super().__init__(lab, setting, group)
        template = Template((PROGRAMS / "keepalived.conf").read_text())
        self.conf: dict[str, Path] = {}
        for n, prio in (("f801", 150), ("f802", 100)):
            host = lab.hosts[n]
            install_httpd(host.private("/etc/init.d"))
            (host.private("/run") / "keepalived").mkdir(exist_ok=True)
            conf = host.dir / "keepalived.conf"
            conf.write_text(template.substitute(node=n, lan=LAN[n], prio=prio,
                                                advert=ADVERT_INT[setting]))
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


SYSTEMS: dict[str, type[System]] = {"hapulse": Hapulse, "heartbeat": Heartbeat,
                                    "keepalived": Keepalived}
