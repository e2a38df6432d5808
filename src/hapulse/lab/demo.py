"""The seed's cluster, live: f801 and f802 in network namespaces, a failover narrated.

Builds the guide's topology with the lab module, installs the seed's three
files unchanged on each node (``--fast`` rewrites only the four timer lines),
runs hapulse on both, a real web server as ``httpd`` and a client polling
http://192.168.1.118/ every 20 ms, then pulls f801's power and tells what
happens, with timestamps and the measured service gap. Everything it made
(namespaces, processes, files) is removed on exit, Ctrl-C included.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TextIO

from hapulse.lab.host import Host
from hapulse.lab.nodes import HAPULSE, VIP, HapulseNode, seed_files, served_by, web_node
from hapulse.lab.paths import is_seed, seed_dir
from hapulse.lab.poller import POLL_INTERVAL, Poller, start_poller
from hapulse.lab.topology import Lab, seed_lab

FAST_TIMERS = {"keepalive": "100ms", "warntime": "300ms", "deadtime": "500ms", "initdead": "2"}

# the log lines worth showing, as they happen
NARRATED = re.compile(
    r"Late heartbeat|is dead|taking over|Acquiring resource group|added on|gratuitous ARP"
    r"|resource \S+ started|complete in|Releasing|released|removed|asks for|giving|"
    r"auto_failback|preferred here")


class DemoError(Exception):
    pass


def with_fast_timers(hacf: str) -> str:
    """The seed's ha.cf with only the four timer lines' values replaced."""
    out = []
    for line in hacf.splitlines(keepends=True):
        m = re.match(r"^(\s*)(keepalive|warntime|deadtime|initdead)(\s+)(\S+)(.*)$", line, re.S)
        if m:
            line = f"{m[1]}{m[2]}{m[3]}{FAST_TIMERS[m[2]]}{m[5]}"
        out.append(line)
    return "".join(out)


class LogFollower:
    def __init__(self, node: str, path: Path) -> None:
        self.node, self.path, self.offset = node, path, 0

    def new_lines(self) -> list[str]:
        if not self.path.exists():
            return []
        with open(self.path, errors="replace") as f:
            f.seek(self.offset)
            text = f.read()
        # only whole lines
        cut = text.rfind("\n") + 1
        self.offset += len(text[:cut].encode(errors="replace"))
        return text[:cut].splitlines()


class Demo:
    def __init__(self, fast: bool = False, seed: Path | None = None, out: TextIO = sys.stdout,
                 prefix: str | None = None) -> None:
        self.fast = fast
        self.seed = seed or seed_dir()
        self.out = out
        self.prefix = prefix or f"hpdemo{os.getpid() % 100000}"
        self.t0 = time.monotonic()
        self.lab: Lab | None = None
        self.nodes: dict[str, HapulseNode] = {}
        self.followers: list[LogFollower] = []
        self.poller: Poller | None = None
        self.figures: dict[str, str] = {}
        self.timers: dict[str, str] = {}

    # ---- narration -------------------------------------------------------------
    def say(self, text: str, *more: str) -> None:
        print(f"[{time.monotonic() - self.t0:7.2f} s] {text}", file=self.out, flush=True)
        for line in more:
            print(f"{'':12}{line}", file=self.out, flush=True)

    def relay_logs(self) -> None:
        for f in self.followers:
            for line in f.new_lines():
                if NARRATED.search(line):
                    # drop the "hapulse[pid]: " prefix; keep the daemon's own timestamp
                    self.say(f"{f.node} log: {line.split(': ', 1)[-1]}")

    def wait(self, what: str, cond: Callable[[], Any], timeout: float) -> Any:
        """Relay logs while polling `cond`; a step that does not happen in time is an error."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.relay_logs()
            v = cond()
            if v:
                self.relay_logs()
                return v
            time.sleep(0.05)
        self.relay_logs()
        raise DemoError(f"timed out after {timeout:g} s waiting for {what}")

    # ---- steps -----------------------------------------------------------------
    def run(self) -> None:
        with self._lab():
            self.build()
            self.start_nodes()
            self.show_wire()
            self.site_on_f801()
            self.pull_the_plug()
            self.power_back()
            self.summary()

    @contextmanager
    def _lab(self) -> Iterator[None]:
        try:
            yield
        finally:
            if self.poller is not None:
                with _quiet():
                    self.poller.proc.kill()
            if self.lab is not None:
                self.lab.close()
                shutil.rmtree(self.lab.workdir, ignore_errors=True)
                print(f"cleaned up: namespaces {self.prefix}-*, their processes and files",
                      file=self.out, flush=True)

    def build(self) -> None:
        self.say(f"Building the seed's topology in network namespaces ({self.prefix}-*):",
                 "f801   eth0 192.168.1.110/24 (LAN)   eth1 10.0.0.1/24 (heartbeat link)",
                 "f802   eth1 192.168.1.111/24 (LAN)   eth2 10.0.0.2/24 (heartbeat link)",
                 "client eth0 192.168.1.50/24  (LAN: a bridge in its own namespace)")
        self.lab = seed_lab(self.prefix)
        for name in ("f801", "f802"):
            files = seed_files(name, self.seed)
            if self.fast:
                files["ha.cf"] = with_fast_timers(files["ha.cf"])
            self.nodes[name] = web_node(self.lab.hosts[name], files)
            self.followers.append(LogFollower(name, self.nodes[name].log))
        hacf = (self.nodes["f801"].confdir / "ha.cf").read_text()
        for key in ("keepalive", "warntime", "deadtime", "initdead"):
            m = re.search(rf"^\s*{key}\s+(\S+)", hacf, re.M)
            self.timers[key] = m[1] if m else "?"
        timers = ", ".join(f"{k} {v}" for k, v in self.timers.items())
        self.say(f"Installed the seed's files from {self.seed} on each node: ha.cf, "
                 "authkeys (mode 600), haresources",
                 f"haresources: {_first_line(self.nodes['f801'].confdir / 'haresources')}",
                 f"timers: {timers} "
                 + ("(--fast: only these four values changed)" if self.fast
                    else "(the seed's, unchanged)"),
                 "httpd: an LSB init script running a real HTTP server that answers with "
                 "the node's name")

    def start_nodes(self) -> None:
        self.say("Starting hapulse on f801 and f802")
        for n in self.nodes.values():
            n.start()

        def both_active() -> bool:
            return (self.nodes["f801"].node_status("f802") == "active"
                    and self.nodes["f802"].node_status("f801") == "active")

        self.wait("both nodes to see each other active", both_active, 60)
        self.say("Both nodes up: f801 sees f802 active, f802 sees f801 active")

    def show_wire(self) -> None:
        assert self.lab is not None
        f801 = self.lab.hosts["f801"]
        self.say("Heartbeats on the wire: tcpdump on f801's eth1, decoded by `hapulse decode "
                 "--authkeys`:")
        cap = f801.popen(["tcpdump", "-i", "eth1", "-U", "-c", "4", "-w", "-", "udp port 694"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            dec = subprocess.run([HAPULSE, "decode", "--authkeys",
                                  str(self.nodes["f801"].confdir / "authkeys"), "-"],
                                 stdin=cap.stdout, capture_output=True, text=True, timeout=30)
        finally:
            f801.kill(cap)
        lines = [ln[:150] for ln in dec.stdout.splitlines() if ln.strip()]
        if not lines:
            raise DemoError(f"no heartbeat decoded from the wire: {dec.stderr.strip()}")
        self.say(f"{len(lines)} packets, signatures checked with the seed's key:", *lines)

    def site_on_f801(self) -> None:
        assert self.lab is not None
        client = self.lab.hosts["client"]
        self.wait("f801 to serve the site",
                  lambda: served_by(client) == "f801", 60)
        self.say(f"client: curl http://{VIP}/ -> \"f801\"")
        poller = self.poller = start_poller(client, limit=900)
        self.wait("the client's poller to get answers",
                  lambda: (last := poller.last()) is not None and last[1] == "f801", 20)
        self.say(f"client: polling http://{VIP}/ every {POLL_INTERVAL * 1000:.0f} ms")

    def pull_the_plug(self) -> None:
        assert self.lab is not None and self.poller is not None
        f801, poller = self.lab.hosts["f801"], self.poller
        self.say("Pulling f801's power: every process on f801 killed, eth0 and eth1 down")
        f801.kill_all()
        for ifname in ("eth0", "eth1"):
            f801.set_link(ifname, up=False)
        self.killed = time.monotonic()
        deadtime = _seconds(self.timers["deadtime"])
        self.wait("f802 to serve the site",
                  lambda: any(who == "f802" for _, who in poller.since(self.killed)),
                  deadtime + 30)
        after_kill, gap = self.poller.gap(self.killed, "f801", "f802")
        self.figures["failover"] = f"{after_kill:.2f} s after the power was pulled"
        self.figures["failover gap"] = f"{gap:.2f} s without an answer"
        self.say(f"client: served by f802 {after_kill:.2f} s after f801 lost power; "
                 f"service gap {gap:.2f} s (deadtime {self.timers['deadtime']})")
        mac = self.lab.hosts["f802"].mac("eth1")
        neigh = self.lab.hosts["client"].neighbour(VIP)
        self.say(f"client's neighbour entry for {VIP}: {neigh} "
                 + ("(f802's eth1: moved by gratuitous ARP)" if neigh == mac else
                    f"(f802's eth1 is {mac})"))

    def power_back(self) -> None:
        assert self.lab is not None and self.poller is not None
        f801, poller = self.lab.hosts["f801"], self.poller
        self.say("f801 powers back on: its boot addresses only, links up, hapulse started")
        # a rebooted machine comes up without the floating address, with an empty /run
        f801.run(["ip", "addr", "del", f"{VIP}/24", "dev", "eth0"])
        run = f801.mounts["/run"]
        for p in run.iterdir():
            if p.name != "resource-agents":
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        for ifname in ("eth0", "eth1"):
            f801.set_link(ifname, up=True)
        back = time.monotonic()
        self.nodes["f801"].start()
        self.wait("f801 and f802 to see each other again",
                  lambda: self.nodes["f802"].node_status("f801") == "active", 60)
        self.say("f802 sees f801 active again (a new generation)")
        hacf = (self.nodes["f801"].confdir / "ha.cf").read_text()
        m = re.search(r"^\s*auto_failback\s+(\S+)", hacf, re.M)
        mode = m[1] if m else "legacy, the default when ha.cf has no auto_failback line"
        if m and m[1] == "off":
            self.say("auto_failback off: the site stays on f802")
            return
        self.wait("the site to move home to f801",
                  lambda: any(w == "f801" for _, w in poller.since(back)),
                  60)
        start = self._failback_start(back)
        _, gap = self.poller.gap(start, "f802", "f801")
        self.figures["failback gap"] = f"{gap:.3f} s without an answer"
        self.say(f"client: served by f801 again (auto_failback {mode}): "
                 f"failback service gap {gap * 1000:.0f} ms")

    def _failback_start(self, back: float) -> float:
        """The last f802 answer before f801's first: the hand-over starts there."""
        assert self.poller is not None
        answers = self.poller.since(back)
        first = next(t for t, w in answers if w == "f801")
        return max((t for t, w in answers if w == "f802" and t < first), default=back)

    def summary(self) -> None:
        self.say("Done. Measured:", *(f"{k:14} {v}" for k, v in self.figures.items()))


def _first_line(path: Path) -> str:
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.split("#")[0].strip()
    return ""


def _seconds(value: str) -> float:
    if value.endswith("ms"):
        return float(value[:-2]) / 1000
    return float(value.rstrip("s"))


@contextmanager
def _quiet() -> Iterator[None]:
    with suppress(ProcessLookupError, OSError):
        yield


def main(fast: bool, seed: Path | None) -> int:
    if seed is not None and not is_seed(seed):
        print(f"hapulse demo: {seed} has no f801/ha.d and f802/ha.d with ha.cf, authkeys "
              "and haresources", file=sys.stderr)
        return 1
    if os.geteuid() != 0:
        print("hapulse demo: needs root (it creates network namespaces)", file=sys.stderr)
        return 1

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C cleans up even when started from a script in the background, whose
    # shell hands its children SIGINT ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    demo = Demo(fast=fast, seed=seed)
    try:
        demo.run()
    except KeyboardInterrupt:
        print("interrupted; cleaned up", file=sys.stderr)
        return 130
    except DemoError as exc:
        print(f"hapulse demo: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = ["Demo", "DemoError", "Host", "Poller", "main", "start_poller", "with_fast_timers"]
