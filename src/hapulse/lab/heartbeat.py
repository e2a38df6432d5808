"""Debian's Heartbeat 3.0.6 running inside a lab host, as a real peer."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
from pathlib import Path

from hapulse.lab.ha_d import write_ha_d
from hapulse.lab.host import Host

HEARTBEAT = "/usr/libexec/heartbeat/heartbeat"
PACKAGE_HA_D = Path("/etc/ha.d")


def available() -> bool:
    return os.path.exists(HEARTBEAT) and shutil.which("cl_status") is not None


class HeartbeatNode:
    """Heartbeat with private /etc/ha.d, /var/lib/heartbeat, /run and /var/log."""

    def __init__(self, host: Host, ha_cf: str, authkeys: str, haresources: str) -> None:
        self.host = host
        root = host.dir / "hb"
        if root.exists():
            shutil.rmtree(root)
        self.ha_d = root / "ha.d"
        shutil.copytree(PACKAGE_HA_D, self.ha_d, symlinks=True)
        write_ha_d(self.ha_d, {"ha.cf": ha_cf, "authkeys": authkeys, "haresources": haresources})
        uid = pwd.getpwnam("hacluster").pw_uid
        gid = grp.getgrnam("haclient").gr_gid
        self.lib = root / "lib"
        self.run_dir = root / "run"
        self.log_dir = root / "log"
        # /run/resource-agents: made at boot by resource-agents' tmpfiles.d entry;
        # its IPaddr keeps state there and fails ("Generic error") without it
        for d in (self.lib, self.run_dir / "heartbeat" / "ccm", self.run_dir / "heartbeat" / "dopd",
                  self.run_dir / "resource-agents", self.log_dir):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.lib, self.run_dir / "heartbeat", self.run_dir / "heartbeat" / "ccm",
                  self.run_dir / "heartbeat" / "dopd"):
            os.chown(d, uid, gid)
        self.mounts = {"/etc/ha.d": self.ha_d, "/var/lib/heartbeat": self.lib,
                       "/run": self.run_dir, "/var/log": self.log_dir}

    def start(self) -> None:
        r = self.host.run([HEARTBEAT], mounts=self.mounts, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"heartbeat on {self.host.name} did not start "
                               f"(exit {r.returncode}): {r.stderr.strip()} {r.stdout.strip()}")

    def cl_status(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.host.run(["cl_status", *args], mounts=self.mounts, timeout=20)

    def kill(self) -> None:
        self.host.kill_all()
