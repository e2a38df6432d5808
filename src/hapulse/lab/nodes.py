"""Real daemons in lab hosts: a hapulse node driven like an administrator would."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hapulse.lab.ha_d import read_ha_d, write_ha_d
from hapulse.lab.host import Host, netns_ok
from hapulse.lab.paths import DATA, seed_dir

HAPULSE = str(Path(sys.executable).with_name("hapulse"))
# an LSB init script running a real HTTP server on port 80 that answers with the host's name
HTTPD = DATA / "httpd"
VIP = "192.168.1.118"


def seed_files(node: str, seed: Path | None = None) -> dict[str, str]:
    """The seed's three files for `node` (f801 or f802), from `seed` or :func:`seed_dir`."""
    return read_ha_d((seed or seed_dir()) / node / "ha.d")


def install_httpd(directory: Path) -> None:
    shutil.copy(HTTPD, directory / "httpd")
    (directory / "httpd").chmod(0o755)


def web_node(host: Host, files: Mapping[str, str]) -> HapulseNode:
    """A hapulse node of the seed's web cluster: `httpd` in its own /etc/init.d, its own /run."""
    install_httpd(host.private("/etc/init.d"))
    # /run/resource-agents is made at boot (tmpfiles.d); resource-agents' scripts need it
    (host.private("/run") / "resource-agents").mkdir(exist_ok=True)
    return HapulseNode(host, files)


def served_by(client: Host, vip: str = VIP, timeout: float = 0.5) -> str | None:
    """The name of the node answering http://VIP/ for `client`, or None."""
    r = client.run(["curl", "-s", "--max-time", str(timeout), f"http://{vip}/"], timeout=5)
    return r.stdout.strip() or None


class HapulseNode:
    """hapulse in a lab host, its own ha.d (written from `files`), run and state dirs."""

    def __init__(self, host: Host, files: Mapping[str, str]) -> None:
        self.host = host
        self.confdir = write_ha_d(host.dir / "ha.d", files)
        self.run_dir = host.dir / "run"
        self.state_dir = host.dir / "state"
        self.log = host.dir / "hapulse.log"
        self.proc: subprocess.Popen[Any] | None = None

    def start(self) -> None:
        out = open(self.log, "a")  # noqa: SIM115 - handed to the child
        self.proc = self.host.popen(
            [HAPULSE, "start", "--foreground", "-c", str(self.confdir),
             "--state-dir", str(self.state_dir), "--run-dir", str(self.run_dir)],
            stdout=out, stderr=subprocess.STDOUT)
        out.close()

    def status(self) -> dict[str, Any] | None:
        r = self.host.run([HAPULSE, "status", "--json", "--run-dir", str(self.run_dir)],
                          timeout=20)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def node(self, name: str) -> dict[str, Any] | None:
        st = self.status()
        if st is None:
            return None
        for n in st["nodes"]:
            if n["name"] == name:
                return dict(n)
        return None

    def node_status(self, name: str) -> str | None:
        n = self.node(name)
        return None if n is None else str(n["status"])

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


__all__ = ["HAPULSE", "HTTPD", "VIP", "HapulseNode", "install_httpd", "netns_ok", "seed_dir",
           "seed_files", "served_by", "web_node"]
