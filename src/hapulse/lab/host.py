"""A lab host: one network namespace, run as a separate machine would be.

Each command in a host runs as ``ip netns exec NS unshare --uts --mount``
with the host's own hostname and, optionally, private directories
bind-mounted over system paths (``/etc/ha.d``, ``/var/lib/heartbeat``,
``/run``, ``/var/log`` ...), so a real Heartbeat and hapulse run side by
side as if on separate machines. Every process a host starts is tracked by
PID (its own process group); killing goes by PID, never by name.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hapulse.lab.topology import Lab

IP = shutil.which("ip") or "/usr/sbin/ip"


def run_ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
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
        out = run_ip("netns", "pids", self.ns, check=False).stdout
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
        run_ip("-n", self.ns, "addr", "add", cidr, "dev", ifname)

    def set_link(self, ifname: str, up: bool) -> None:
        run_ip("-n", self.ns, "link", "set", ifname, "up" if up else "down")

    def mac(self, ifname: str) -> str:
        out = run_ip("-n", self.ns, "-o", "link", "show", ifname).stdout
        words = out.split()
        return words[words.index("link/ether") + 1]

    def neighbour(self, address: str) -> str | None:
        out = run_ip("-n", self.ns, "neigh", "show", address).stdout.split()
        return out[out.index("lladdr") + 1] if "lladdr" in out else None



def netns_ok() -> str | None:
    """Why network-namespace hosts cannot be made here, or None when they can."""
    if os.geteuid() != 0:
        return "needs root"
    if shutil.which("ip") is None or shutil.which("unshare") is None:
        return "needs iproute2 and util-linux"
    return None
