"""respawn: Heartbeat's back-off rule (pure) and real programs run as nobody."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from hapulse.respawn import (
    Respawner,
    RespawnPolicy,
    RespawnState,
    Restart,
    Stop,
    parse_respawn,
)

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="runs programs as nobody: needs root")


def test_parse_respawn_line() -> None:
    spec = parse_respawn(("hacluster", "/usr/lib/heartbeat/ipfail"))
    assert (spec.user, spec.command, spec.program) == (
        "hacluster", "/usr/lib/heartbeat/ipfail", "/usr/lib/heartbeat/ipfail")
    spec = parse_respawn(("root", "/usr/lib/drbd/dopd", "-v"))
    assert spec.command == "/usr/lib/drbd/dopd -v"
    with pytest.raises(ValueError, match="user and a program"):
        parse_respawn(("hacluster",))


def test_heartbeat_rule_restart_at_once_after_a_long_run() -> None:
    p = RespawnPolicy()
    assert p.exited(1, started=0.0, now=31.0) == Restart(0.0)
    assert p.exited(None, started=100.0, now=200.0) == Restart(0.0)  # killed by a signal


def test_heartbeat_rule_short_runs_wait_a_second_and_give_up_after_ten() -> None:
    p = RespawnPolicy()
    for k in range(10):
        assert p.exited(3, started=k * 2.0, now=k * 2.0 + 1) == Restart(1.0), k
    assert p.exited(3, started=30.0, now=31.0) == Stop(RespawnState.GAVE_UP,
                                                       "respawning too fast")


def test_heartbeat_rule_a_long_run_resets_the_short_count() -> None:
    p = RespawnPolicy()
    for k in range(10):
        p.exited(3, started=k * 2.0, now=k * 2.0 + 1)
    assert p.exited(3, started=100.0, now=140.0) == Restart(0.0)
    assert p.short_runs == 0


def test_heartbeat_rule_exit_100_is_never_respawned() -> None:
    assert RespawnPolicy().exited(100, started=0.0, now=100.0) == Stop(
        RespawnState.EXITED, "exit code 100: not respawned")


class Logs:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, level: str, text: str) -> None:
        self.lines.append((level, text))

    def text(self) -> str:
        return "\n".join(f"{lv}: {t}" for lv, t in self.lines)


async def _until(pred: Callable[[], bool], timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.02)


@needs_root
def test_failing_program_restarted_then_given_up_as_too_fast() -> None:
    logs = Logs()

    async def run() -> Respawner:
        r = Respawner(parse_respawn(("nobody", "/bin/sh -c 'exit 3'")), logs,
                      policy=RespawnPolicy(short_run_delay=0.05, max_short_runs=3))
        await r.start()
        await _until(lambda: r.status().state is RespawnState.GAVE_UP, 10, "gave up")
        await r.stop()
        return r

    r = asyncio.run(run())
    st = r.status()
    assert (st.state, st.restarts, st.last_exit, st.pid) == (
        RespawnState.GAVE_UP, 3, "exit code 3", None)
    exits = [t for lv, t in logs.lines if "exited with return code 3." in t]
    assert len(exits) == 4 and all(lv == "error" for lv, t in logs.lines if t in exits)
    assert logs.text().count('Respawning client "/bin/sh -c \'exit 3\'":') == 3
    assert logs.lines[-1] == ("error", 'Client /bin/sh -c \'exit 3\' "respawning too fast"')
    nobody = pwd.getpwnam("nobody")
    assert f"as uid {nobody.pw_uid}  gid {nobody.pw_gid}" in logs.text()


@needs_root
def test_sleeper_runs_as_nobody_is_respawned_when_killed_and_stopped_by_sigterm(
        tmp_path: Path) -> None:
    logs = Logs()

    async def run() -> None:
        r = Respawner(parse_respawn(("nobody", "/bin/sleep", "60")), logs)
        await r.start()
        first = r.status().pid
        assert first is not None and r.status().state is RespawnState.RUNNING
        status = Path(f"/proc/{first}/status").read_text()
        nobody = pwd.getpwnam("nobody")
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert uid_line.split()[1:] == [str(nobody.pw_uid)] * 4
        groups = next(line for line in status.splitlines() if line.startswith("Groups:"))
        assert set(map(int, groups.split()[1:])) == set(os.getgrouplist("nobody",
                                                                        nobody.pw_gid))
        os.kill(first, 9)
        await _until(lambda: r.status().pid not in (None, first), 10, "respawned")
        assert r.status().restarts == 1 and r.status().last_exit == "signal 9"
        second = r.status().pid
        await r.stop()
        assert r.status().state is RespawnState.STOPPED and r.status().pid is None
        assert f"Client /bin/sleep 60 (pid={second}) killed by signal 15." in logs.text()
        assert not Path(f"/proc/{second}").exists()  # reaped

    asyncio.run(run())
    assert ('error', 'Respawning client "/bin/sleep 60":') in logs.lines


@needs_root
def test_program_ignoring_sigterm_is_killed_after_the_bound() -> None:
    logs = Logs()
    shared = Path(tempfile.mkdtemp(prefix="hapulse-respawn-"))  # nobody can't see pytest's tmp
    shared.chmod(0o777)
    ready = shared / "trapped"

    async def run() -> float:
        r = Respawner(parse_respawn(("nobody", "/bin/sh", "-c",
                                     f"'trap \"\" TERM; touch {ready}; "
                                     "while :; do sleep 0.1; done'")),
                      logs, stop_timeout=0.5)
        await r.start()
        await _until(ready.exists, 10, "SIGTERM trapped")
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await r.stop()
        assert r.status().state is RespawnState.STOPPED
        return loop.time() - t0

    try:
        took = asyncio.run(run())
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    assert 0.5 <= took < 5
    assert "did not stop in 0.5 s: killing it" in logs.text()
    assert "killed by signal 9." in logs.text()


@needs_root
def test_exit_100_is_not_respawned_and_a_missing_program_never_starts() -> None:
    logs = Logs()

    async def run() -> tuple[Respawner, Respawner]:
        a = Respawner(parse_respawn(("nobody", "/bin/sh -c 'exit 100'")), logs)
        await a.start()
        await _until(lambda: a.status().state is RespawnState.EXITED, 10, "exited")
        b = Respawner(parse_respawn(("nobody", "/nonexistent/dopd")), logs)
        await b.start()
        await a.stop()
        await b.stop()
        return a, b

    a, b = asyncio.run(run())
    assert a.status().restarts == 0 and a.status().state is RespawnState.EXITED
    assert b.status().state is RespawnState.FAILED
    assert "Cannot exec /nonexistent/dopd" in logs.text()
