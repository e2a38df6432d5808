"""Monitors in a real daemon (no namespaces): a lone node holding a group of one
resource.d script; restart in place, a failed restart (no live peer: the group stays
stopped), `hapulse cleanup`, status, and monitors changed by a reload."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import make_ha_d, solo_ha_cf

from hapulse.lab import wait_for

HAPULSE = str(Path(sys.executable).with_name("hapulse"))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the control socket is root only")

SVC = """#!/bin/sh
STATE={state}
case "$1" in
  start) [ -f {state}.broken ] && {{ echo "svc: cannot start"; exit 1; }}
         touch $STATE; exit 0 ;;
  stop) rm -f $STATE; exit 0 ;;
  status) [ -f $STATE ] && {{ echo running; exit 0; }}; echo stopped; exit 3 ;;
esac
exit 2
"""

TOML = """
[monitor."svc"]
interval = "300ms"
timeout = "2s"
restarts = 1
window = "5m"
"""


def hp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAPULSE, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def solo(tmp_path: Path) -> Iterator[dict[str, Path]]:
    port = 20000 + (os.getpid() + 7) % 20000
    conf = make_ha_d(tmp_path / "ha.d", solo_ha_cf(
        keepalive="0.2", warntime="0.6", deadtime="1", initdead="1", udpport=port,
        extra=("auto_failback on", "realtime off")), haresources="solo svc\n")
    (conf / "resource.d").mkdir()
    script = conf / "resource.d" / "svc"
    script.write_text(SVC.format(state=tmp_path / "svc.on"))
    script.chmod(0o755)
    (conf / "hapulse.toml").write_text(TOML)
    run = Path(tempfile.mkdtemp(prefix="hapulse-run-"))
    r = hp("start", "-c", str(conf), "--node", "solo", "--run-dir", str(run),
           "--state-dir", str(tmp_path / "state"))
    assert r.returncode == 0, r.stderr
    yield {"conf": conf, "run": run, "state": tmp_path / "svc.on"}
    hp("stop", "--run-dir", str(run))
    shutil.rmtree(run, ignore_errors=True)


def status(d: dict[str, Path]) -> dict[str, Any]:
    r = hp("status", "--json", "--run-dir", str(d["run"]))
    assert r.returncode == 0, r.stderr
    return dict(json.loads(r.stdout))


def mon(d: dict[str, Path]) -> dict[str, Any]:
    (m,) = status(d)["monitors"]
    return dict(m)


def monitor_events(d: dict[str, Path]) -> list[str]:
    return [e.split(" ", 2)[2] for e in status(d)["events"] if " monitor " in e]


def test_restart_move_cleanup_and_reload(solo: dict[str, Path]) -> None:
    wait_for(lambda: mon(solo)["last"] == "ok", 15, interval=0.1, what="svc checked ok")

    solo["state"].unlink()  # the service dies
    wait_for(lambda: "monitor svc restarted -> recovered" in " ".join(monitor_events(solo)),
             10, interval=0.1, what="svc restarted in place and checked ok")
    assert monitor_events(solo)[-3:] == [
        "monitor svc ok -> failed (group svc, fail count 1, not running (exit 3: stopped))",
        "monitor svc failed -> restarted (group svc, fail count 1, not running "
        "(exit 3: stopped))",
        "monitor svc restarted -> recovered (group svc, fail count 1)"]
    assert status(solo)["fail_counts"] == {"svc": 1}

    # dies again within the window: the budget (1) is spent; no live peer: stays stopped
    solo["state"].unlink()
    wait_for(lambda: status(solo)["banned"] == ["svc"]
             and status(solo)["groups"][0]["local_state"] == "stopped", 10, interval=0.1,
             what="svc banned and stopped")
    st = status(solo)
    assert st["fail_counts"] == {"svc": 2}
    assert not mon(solo)["active"]
    assert "moved" in monitor_events(solo)[-1]
    text = hp("status", "--run-dir", str(solo["run"])).stdout
    assert "fail count svc on solo: 2; banned: solo will not take it until " \
           "`hapulse cleanup svc`" in text, text

    bad = hp("cleanup", "nosuch", "--run-dir", str(solo["run"]))
    assert bad.returncode == 1
    assert bad.stderr.strip() == "hapulse: no resource group 'nosuch' in haresources " \
                                 "(groups: svc)"
    ok = hp("cleanup", "svc", "--run-dir", str(solo["run"]))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "cleanup svc: cleared fail count 2 and lifted this node's ban"
    wait_for(lambda: status(solo)["groups"][0]["local_state"] == "running"
             and mon(solo)["active"], 10, interval=0.1, what="svc running again after cleanup")
    assert status(solo)["fail_counts"] == {"svc": 0}

    # a restart that fails moves it at once (restarts left, but the start fails)
    hp("cleanup", "svc", "--run-dir", str(solo["run"]))
    Path(f"{solo['state']}.broken").touch()
    solo["state"].unlink()
    wait_for(lambda: status(solo)["banned"] == ["svc"], 10, interval=0.1, what="banned")
    Path(f"{solo['state']}.broken").unlink()

    # reload: the monitor removed, then back with another interval
    toml = solo["conf"] / "hapulse.toml"
    toml.write_text("")
    r = hp("reload", "--run-dir", str(solo["run"]))
    assert r.returncode == 0, r.stderr
    assert status(solo)["monitors"] == []
    toml.write_text(TOML.replace("300ms", "2s"))
    assert hp("reload", "--run-dir", str(solo["run"])).returncode == 0
    assert mon(solo)["interval"] == 2.0
