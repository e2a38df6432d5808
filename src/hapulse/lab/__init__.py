"""Test hosts as network namespaces: the seed's topology on one machine.

Used by the netns tests, the interop tests against Heartbeat 3.0.6, the
demo and the benchmarks. Every namespace carries the lab's prefix, every
process the lab starts is tracked by PID (its own process group), and
:meth:`Lab.close` removes both, by name and by PID, even after errors. A
stale lab with the same prefix (a crashed run) is removed at start.

Each command in a host runs as ``ip netns exec NS unshare --uts --mount``
with the host's own hostname and, optionally, private directories
bind-mounted over system paths (``/etc/ha.d``, ``/var/lib/heartbeat``,
``/run``, ``/var/log`` ...), so a real Heartbeat and hapulse run side by
side as if on separate machines.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

IP = shutil.which("ip") or "/usr/sbin/ip"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([IP, *args], capture_output=True, text=True, check=check, timeout=30)


class Host:
    def __init__(self, lab: Lab, name: str) -> None:
        self.lab = lab
        self.name = name
        self.ns = f"{lab.prefix}-{name}"
        self.dir = lab.workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.mounts: dict[str, Path] = {}
        self.procs: list[subprocess.Popen[Any]] = []

    def private(self, target: str, source: Path | None = None) -> Path:
        """Give this host its own copy of directory `target` (bind-mounted in its commands)."""
        src = source or (self.dir / "root" / target.strip("/"))
        src.mkdir(parents=True, exist_ok=True)
        self.mounts[target] = src
        return src

    def argv(self, argv: Sequence[str], mounts: Mapping[str, Path] | None = None) -> list[str]:
        binds = dict(self.mounts)
        binds.update(mounts or {})
        script = [f"hostname {shlex.quote(self.name)}"]
        for target, src in binds.items():
            script.append(f"mkdir -p {shlex.quote(target)}")
            script.append(f"mount --bind {shlex.quote(str(src))} {shlex.quote(target)}")
        script.append('exec "$@"')
        return [IP, "netns", "exec", self.ns, "unshare", "--uts", "--mount",
                "--propagation", "private", "sh", "-c", " && ".join(script), "sh", *argv]

    def run(self, argv: Sequence[str], timeout: float = 60, check: bool = False,
            mounts: Mapping[str, Path] | None = None,
            **kw: Any) -> subprocess.CompletedProcess[str]:
        r = subprocess.run(self.argv(argv, mounts), capture_output=True, text=True,
                           timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"{self.name}: {' '.join(argv)} exited {r.returncode}: "
                               f"{r.stderr.strip() or r.stdout.strip()}")
        return r

    def popen(self, argv: Sequence[str], **kw: Any) -> subprocess.Popen[Any]:
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(self.argv(argv), start_new_session=True, **kw)
        self.procs.append(p)
        return p

    def kill(self, p: subprocess.Popen[Any], sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(p.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=10)

    def netns_pids(self) -> list[int]:
        out = _ip("netns", "pids", self.ns, check=False).stdout
        return [int(w) for w in out.split() if w.isdigit()]

    def kill_all(self) -> None:
        """Pull the power: every process in this host dies at once.

        The processes the lab started (by process group), then any other
        process inside the host's network namespace (daemons that forked
        away, such as Heartbeat), found by `ip netns pids`: by PID, never
        by name.
        """
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        for pid in self.netns_pids():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        for p in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)
        self.procs.clear()

    def add_address(self, ifname: str, cidr: str) -> None:
        _ip("-n", self.ns, "addr", "add", cidr, "dev", ifname)

    def set_link(self, ifname: str, up: bool) -> None:
        _ip("-n", self.ns, "link", "set", ifname, "up" if up else "down")

    def mac(self, ifname: str) -> str:
        out = _ip("-n", self.ns, "-o", "link", "show", ifname).stdout
        words = out.split()
        return words[words.index("link/ether") + 1]

    def neighbour(self, address: str) -> str | None:
        out = _ip("-n", self.ns, "neigh", "show", address).stdout.split()
        return out[out.index("lladdr") + 1] if "lladdr" in out else None


class Lab:
    def __init__(self, prefix: str, workdir: Path | None = None) -> None:
        self.prefix = prefix
        self.workdir = workdir or Path("/tmp") / prefix
        self.hosts: dict[str, Host] = {}
        self.switches: list[str] = []
        self._veth = 0
        self.cleanup_stale()
        self.workdir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cleanup_stale(self) -> None:
        out = _ip("netns", "list", check=False).stdout
        for line in out.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(self.prefix + "-"):
                _ip("netns", "del", name, check=False)

    def add_host(self, name: str) -> Host:
        h = Host(self, name)
        _ip("netns", "add", h.ns)
        _ip("-n", h.ns, "link", "set", "lo", "up")
        self.hosts[name] = h
        return h

    def add_switch(self, name: str) -> str:
        ns = f"{self.prefix}-sw-{name}"
        _ip("netns", "add", ns)
        _ip("-n", ns, "link", "add", "br0", "type", "bridge")
        _ip("-n", ns, "link", "set", "br0", "up")
        self.switches.append(ns)
        return ns

    def _veth_pair(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        self._veth += 1
        tag = f"hpv{os.getpid() % 10000}"
        tmp_a, tmp_b = f"{tag}a{self._veth}", f"{tag}b{self._veth}"
        _ip("link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        _ip("link", "set", tmp_a, "netns", ns_a, "name", if_a)
        _ip("link", "set", tmp_b, "netns", ns_b, "name", if_b)
        _ip("-n", ns_a, "link", "set", if_a, "up")
        _ip("-n", ns_b, "link", "set", if_b, "up")

    def wire(self, a: Host, if_a: str, b: Host, if_b: str) -> None:
        """A crossover cable between two hosts."""
        self._veth_pair(a.ns, if_a, b.ns, if_b)

    def plug(self, host: Host, ifname: str, switch_ns: str) -> None:
        port = f"p-{host.name}-{ifname}"[:15]
        self._veth_pair(host.ns, ifname, switch_ns, port)
        _ip("-n", switch_ns, "link", "set", port, "master", "br0")

    def close(self) -> None:
        for h in self.hosts.values():
            h.kill_all()
        for h in self.hosts.values():
            _ip("netns", "del", h.ns, check=False)
        for ns in self.switches:
            _ip("netns", "del", ns, check=False)
        self.hosts.clear()
        self.switches.clear()


def seed_lab(prefix: str, workdir: Path | None = None, f802_lan: str = "eth1") -> Lab:
    """The seed's topology: f801 and f802 with a crossover heartbeat link and a LAN.

    f801: eth0 192.168.1.110/24 (LAN), eth1 10.0.0.1/24 (heartbeat link);
    f802: eth1 192.168.1.111/24 (LAN), eth2 10.0.0.2/24 (heartbeat link);
    client: eth0 192.168.1.50/24. The LAN switch is a bridge in its own namespace.
    `f802_lan` renames f802's LAN interface (Heartbeat's IPaddr on resource-agents
    4.12 can only take the address over on an interface named eth0).
    """
    lab = Lab(prefix, workdir)
    try:
        f801, f802, client = lab.add_host("f801"), lab.add_host("f802"), lab.add_host("client")
        lab.wire(f801, "eth1", f802, "eth2")
        lan = lab.add_switch("lan")
        lab.plug(f801, "eth0", lan)
        lab.plug(f802, f802_lan, lan)
        lab.plug(client, "eth0", lan)
        f801.add_address("eth0", "192.168.1.110/24")
        f801.add_address("eth1", "10.0.0.1/24")
        f802.add_address(f802_lan, "192.168.1.111/24")
        f802.add_address("eth2", "10.0.0.2/24")
        client.add_address("eth0", "192.168.1.50/24")
    except BaseException:
        lab.close()
        raise
    return lab


def wait_for(predicate: Any, timeout: float, interval: float = 0.05, what: str = "") -> Any:
    """Poll `predicate` until it returns a truthy value or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)
