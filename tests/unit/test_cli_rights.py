"""CLI commands run without the rights they need say so and exit non-zero.

A daemon runs as root in a temporary run dir; the same commands are then run
as `nobody` (setpriv). Before, a non-root `hapulse stop` printed "hapulse is
not running" and exited 0 while the daemon ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

HAPULSE = str(Path(sys.executable).with_name("hapulse"))
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root (to start the daemon) and setpriv (to drop to nobody)")


def hp(*args: str, as_nobody: bool = False) -> subprocess.CompletedProcess[str]:
    argv = [*NOBODY, HAPULSE, *args] if as_nobody else [HAPULSE, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    conf = tmp_path_factory.mktemp("rights") / "ha.d"
    conf.mkdir()
    port = 20000 + (os.getpid() + 7919) % 20000
    (conf / "ha.cf").write_text(f"udpport {port}\nkeepalive 0.2\nwarntime 0.6\ndeadtime 1\n"
                                "initdead 2\nucast lo 127.0.0.2\nnode solo peer\n"
                                "auto_failback on\nrealtime off\n")
    (conf / "authkeys").write_text("auth 1\n1 sha1 test\n")
    (conf / "authkeys").chmod(0o600)
    (conf / "haresources").write_text("")
    run = Path(tempfile.mkdtemp(prefix="hapulse-rights-"))  # mode 0700, as /run/hapulse
    state = Path(tempfile.mkdtemp(prefix="hapulse-rights-state-"))
    r = hp("start", "-c", str(conf), "--node", "solo", "--run-dir", str(run),
           "--state-dir", str(state))
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        yield run
    finally:
        hp("stop", "--run-dir", str(run))
        shutil.rmtree(run, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)


def still_running(run: Path) -> int:
    r = hp("status", "--json", "--run-dir", str(run))
    assert r.returncode == 0, r.stderr
    pid = json.loads(r.stdout)["pid"]
    os.kill(pid, 0)
    return int(pid)


def assert_refused(r: subprocess.CompletedProcess[str], code: int = 4) -> None:
    out = r.stdout + r.stderr
    assert r.returncode == code, (r.returncode, out)
    assert "permission denied" in r.stderr and "root" in r.stderr, out
    assert "not running" not in out and "Traceback" not in out, out


@pytest.mark.parametrize("mode", [0o700, 0o755])
def test_non_root_stop_fails_clearly_and_the_daemon_runs_on(daemon: Path, mode: int) -> None:
    """0700: the socket cannot even be seen; 0755: it is seen but not connectable."""
    pid = still_running(daemon)
    os.chmod(daemon, mode)
    try:
        r = hp("stop", "--run-dir", str(daemon), as_nobody=True)
        assert_refused(r)
        assert "cannot tell whether hapulse runs" in r.stderr and "with sudo" in r.stderr
    finally:
        os.chmod(daemon, 0o700)
    assert still_running(daemon) == pid


@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["reload"],
                                     ["standby"], ["takeover", "local"], ["restart"],
                                     ["start"]])
def test_every_daemon_command_says_so(daemon: Path, command: list[str]) -> None:
    pid = still_running(daemon)
    r = hp(*command, "--run-dir", str(daemon), as_nobody=True)
    assert_refused(r)
    assert still_running(daemon) == pid


def test_cl_status_says_so_and_never_stopped(daemon: Path) -> None:
    for words, code in [(["hbstatus"], 13), (["nodestatus", "solo"], 13)]:
        r = hp("cl_status", "--run-dir", str(daemon), *words, as_nobody=True)
        assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
        assert "permission denied" in r.stderr and "stopped" not in r.stdout
    assert hp("cl_status", "--run-dir", str(daemon), "hbstatus").returncode == 0


def test_the_daemon_refuses_a_non_root_peer_that_reaches_the_socket(daemon: Path) -> None:
    """With the file modes opened up, SO_PEERCRED still refuses and the CLI says so."""
    sock = daemon / "hapulse.sock"
    os.chmod(daemon, 0o755)
    os.chmod(sock, 0o666)
    try:
        r = hp("stop", "--run-dir", str(daemon), as_nobody=True)
        assert_refused(r)
    finally:
        os.chmod(sock, 0o600)
        os.chmod(daemon, 0o700)
    still_running(daemon)
    log = (daemon / "hapulse.out").read_text(errors="replace")
    assert "refused a request from uid 65534" in log
