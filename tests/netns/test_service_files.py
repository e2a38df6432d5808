"""hapulse as a service: the systemd unit, sd_notify as systemd sees it, the LSB script.

This machine has no running systemd, so the unit is checked by systemd's own
offline verifier, and the notify protocol by a socket standing in for systemd's
(what `Type=notify` and `WatchdogSec` rely on). The LSB script runs for real in
a lab host with its own /etc/ha.d, /run and /var/lib.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from factories import ha_cf, make_ha_d

from hapulse.lab import Lab, wait_for
from hapulse.lab.nodes import HAPULSE

# the root lane: the daemon's control socket and the lab need root
pytestmark = pytest.mark.netns

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"


def solo_ha_cf(port: int) -> str:
    return ha_cf("ucast lo 127.0.0.2", nodes=("solo", "peer"), keepalive="200ms",
                 warntime="600ms", deadtime="1", initdead="2", udpport=port,
                 extra=("auto_failback on", "realtime off"))


def verify_unit(path: Path) -> str:
    """systemd-analyze's complaints about a unit file ('' when it has none)."""
    r = subprocess.run(["systemd-analyze", "verify", str(path)], capture_output=True,
                       text=True, timeout=60)
    return (r.stderr + (f"\nexit {r.returncode}" if r.returncode else "")).strip()


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_unit_passes_systemds_verifier(tmp_path: Path) -> None:
    text = (PACKAGING / "hapulse.service").read_text()
    assert "Type=notify" in text and "WatchdogSec=" in text
    # the install command puts hapulse in /usr/local/bin; here it is the venv's
    unit = tmp_path / "hapulse.service"
    unit.write_text(text.replace("/usr/local/bin/hapulse", HAPULSE))
    assert verify_unit(unit) == ""
    # the check can fail: a misspelt key is reported
    bad = tmp_path / "bad" / "hapulse.service"
    bad.parent.mkdir()
    bad.write_text(unit.read_text().replace("Type=notify", "Typ=notify"))
    assert "Typ" in verify_unit(bad)


def test_sd_notify_ready_watchdog_stopping(tmp_path: Path) -> None:
    conf = make_ha_d(tmp_path / "ha.d", solo_ha_cf(20000 + os.getpid() % 20000 + 1))
    sock_path = tmp_path / "notify.sock"
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(sock_path))
    systemd.settimeout(0.2)
    env = {**os.environ, "NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "200000"}
    p = subprocess.Popen([HAPULSE, "start", "--foreground", "-c", str(conf), "--node", "solo",
                          "--run-dir", str(tmp_path / "run"), "--state-dir",
                          str(tmp_path / "state")], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    got: list[str] = []

    def receive_until(what: str, count: int = 1) -> bool:
        with contextlib.suppress(TimeoutError):
            got.append(systemd.recv(256).decode())
        return got.count(what) >= count

    try:
        wait_for(lambda: receive_until("READY=1"), 30, interval=0, what="READY=1")
        # WATCHDOG_USEC 0.2 s: pinged every 0.1 s while the loop runs
        wait_for(lambda: receive_until("WATCHDOG=1", 3), 5, interval=0, what="3 watchdog pings")
        p.send_signal(signal.SIGTERM)
        wait_for(lambda: receive_until("STOPPING=1"), 30, interval=0, what="STOPPING=1")
        assert p.wait(30) == 0, p.stderr.read() if p.stderr else ""
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(10)
        systemd.close()
    assert got.index("READY=1") < got.index("STOPPING=1")


def test_lsb_init_script_start_status_stop() -> None:
    lab = Lab(f"hpsvc{os.getpid() % 10000}")
    try:
        host = lab.add_host("solo")
        make_ha_d(host.private("/etc/ha.d"), solo_ha_cf(694))
        host.private("/run")
        host.private("/var/lib/hapulse")
        script = str(PACKAGING / "hapulse.init")
        env = {**os.environ, "HAPULSE": HAPULSE}

        def service(action: str) -> subprocess.CompletedProcess[str]:
            return host.run(["sh", script, action], env=env, timeout=90)

        assert service("status").returncode == 3  # LSB: not running
        r = service("start")
        assert r.returncode == 0, r.stderr
        def running() -> subprocess.CompletedProcess[str] | None:
            r = service("status")
            return r if r.returncode == 0 else None

        st = wait_for(running, 30, what="service hapulse status: running")
        assert "solo" in st.stdout
        assert service("start").returncode != 0  # a second daemon on the same config
        r = service("stop")
        assert r.returncode == 0, r.stderr
        wait_for(lambda: service("status").returncode == 3, 30, what="stopped")
        assert service("bogus").returncode == 2
    finally:
        lab.close()
        shutil.rmtree(lab.workdir, ignore_errors=True)
