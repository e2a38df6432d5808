"""The daemon lifecycle through the CLI: start, second start, reload, stop, restart."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import make_ha_d, solo_ha_cf

HAPULSE = str(Path(sys.executable).with_name("hapulse"))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the control socket is root only")


def hp(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAPULSE, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[dict[str, Path]]:
    port = 20000 + os.getpid() % 20000
    conf = make_ha_d(tmp_path / "ha.d", solo_ha_cf(
        keepalive="0.2", warntime="0.6", deadtime="1", initdead="2", udpport=port,
        extra=("auto_failback on", "realtime off")))
    # the run dir is outside pytest's private tmp tree so another user can reach it
    run = Path(tempfile.mkdtemp(prefix="hapulse-run-"))
    dirs = {"conf": conf, "run": run, "state": tmp_path / "state"}
    yield dirs
    hp("stop", "--run-dir", str(run))
    shutil.rmtree(run, ignore_errors=True)


def common(d: dict[str, Path]) -> list[str]:
    return ["-c", str(d["conf"]), "--node", "solo", "--run-dir", str(d["run"]),
            "--state-dir", str(d["state"])]


def test_start_status_second_start_reload_stop_restart(node: dict[str, Path]) -> None:
    r = hp("start", *common(node))
    assert r.returncode == 0, r.stderr
    assert "hapulse started" in r.stdout
    sock = node["run"] / "hapulse.sock"
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600

    st = json.loads(hp("status", "--json", "--run-dir", str(node["run"])).stdout)
    assert st["node"] == "solo"
    assert {n["name"]: n["status"] for n in st["nodes"]} == {"solo": "up", "peer": "init"}
    assert "groups" in st and "timers" in st

    again = hp("start", *common(node))
    assert again.returncode == 1
    assert "already running" in again.stderr

    assert hp("reload", "--run-dir", str(node["run"])).returncode == 0
    good = (node["conf"] / "ha.cf").read_text()
    (node["conf"] / "ha.cf").write_text(good.replace("keepalive 0.2", "keeplive 0.2"))
    bad = hp("reload", "--run-dir", str(node["run"]))
    assert bad.returncode == 1
    assert "unknown directive `keeplive`; did you mean `keepalive`?" in bad.stdout
    assert "reload refused" in bad.stderr
    st = json.loads(hp("status", "--json", "--run-dir", str(node["run"])).stdout)
    assert st["timers"]["keepalive"] == 0.2  # the running configuration stays
    (node["conf"] / "ha.cf").write_text(good)

    gen = int((node["state"] / "hb_generation").read_text())
    r = hp("restart", *common(node))
    assert r.returncode == 0, r.stderr
    assert int((node["state"] / "hb_generation").read_text()) == gen + 1

    r = hp("stop", "--run-dir", str(node["run"]))
    assert r.returncode == 0 and "hapulse stopped" in r.stdout
    r = hp("status", "--run-dir", str(node["run"]))
    assert r.returncode == 3 and "hapulse is not running" in r.stderr


def test_control_socket_refuses_non_root(node: dict[str, Path]) -> None:
    system_python = "/usr/bin/python3"
    if not os.access(system_python, os.X_OK):
        pytest.skip("needs /usr/bin/python3 to run a client as an unprivileged user")
    assert hp("start", *common(node)).returncode == 0
    os.chmod(node["run"], 0o755)  # the unprivileged user reaches the socket file itself
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n    s.connect(sys.argv[1])\n"
            "except PermissionError:\n    print('refused'); sys.exit(1)\n"
            "print('connected')\n")
    r = subprocess.run([system_python, "-c", code, str(node["run"] / "hapulse.sock")],
                       capture_output=True, text=True, timeout=30, user=65534, group=65534,
                       cwd="/")
    assert (r.returncode, r.stdout.strip()) == (1, "refused"), r.stderr


def test_logfile_and_debugfile_from_ha_cf(node: dict[str, Path], tmp_path: Path) -> None:
    """`logfile` gets info and up in Heartbeat's line format; `debugfile` with `debug 1`
    gets the debug lines too."""
    logfile, debugfile = tmp_path / "logs" / "ha-log", tmp_path / "logs" / "ha-debug"
    hacf = node["conf"] / "ha.cf"
    hacf.write_text(hacf.read_text() + f"logfile {logfile}\ndebugfile {debugfile}\ndebug 1\n")
    r = hp("start", *common(node))
    assert r.returncode == 0, r.stderr
    assert hp("status", "--run-dir", str(node["run"])).returncode == 0
    hp("stop", "--run-dir", str(node["run"]))
    log, debug = logfile.read_text(), debugfile.read_text()
    line = re.compile(r"^hapulse\[\d+\]: \d{4}/\d\d/\d\d_\d\d:\d\d:\d\d\.\d{3} (\w+): ", re.M)
    assert "info: hapulse starting: node solo" in log
    assert "Local status now set to: 'up'" in log
    assert all(line.match(x) for x in log.splitlines()), log
    assert {m.group(1) for m in line.finditer(log)} <= {"info", "WARN", "ERROR", "CRIT"}
    assert "debug: control request `status` from uid 0" in debug
    assert "debug: control request" not in log
    assert "hapulse starting" in debug  # the debug file has everything
