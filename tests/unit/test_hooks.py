"""The notify hook runner (hapulse.hooks) with real scripts in a temporary directory."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from hapulse.config.settings import HooksSettings
from hapulse.events import Event, EventKind
from hapulse.hooks import HookRunner, hook_argv, hook_env

RECORDER = """#!{python}
import json, os, sys
with open({out!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "pid": os.getpid(),
                        "env": {{k: v for k, v in os.environ.items()
                                if k.startswith("HAPULSE_") or k == "NOTIFY_SOCKET"}}}}) + "\\n")
print("recorded", sys.argv[1:])
"""


def script(tmp_path: Path, name: str, text: str, mode: int = 0o755) -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(mode)
    return path


def recorder(tmp_path: Path) -> tuple[Path, Path]:
    out = tmp_path / "calls.jsonl"
    return script(tmp_path, "notify.py", RECORDER.format(python=sys.executable, out=str(out))), out


def events() -> list[Event]:
    return [Event(1000.5, EventKind.NODE, "f801", "dead", "active"),
            Event(1001.25, EventKind.GROUP, "192.168.1.118", "acquired", detail="0.2 s"),
            Event(1002.0, EventKind.LINK, "f801:eth2", "up", "dead")]


async def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.01)


def run(coro: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(coro())  # type: ignore[arg-type]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def test_argv_and_env() -> None:
    e = events()[0]
    assert hook_argv("/x", e) == ["/x", "node", "f801", "dead", "active"]
    assert hook_argv("/x", events()[1]) == ["/x", "group", "192.168.1.118", "acquired"]
    env = hook_env(e, "f802", {"PATH": "/bin", "NOTIFY_SOCKET": "/run/systemd/notify"})
    assert env["PATH"] == "/bin" and "NOTIFY_SOCKET" not in env
    assert env["HAPULSE_EVENT_AT"] == "1000.500" and env["HAPULSE_NODE"] == "f802"
    assert env["HAPULSE_EVENT_OLD"] == "active" and env["HAPULSE_EVENT_TEXT"] == e.text


def test_script_gets_args_and_env_in_event_order(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    path, out = recorder(tmp_path)
    runner = HookRunner("f802", HooksSettings(str(path), 5.0), "/etc/ha.d/hapulse.toml")

    async def main() -> None:
        runner.start()
        for e in events():
            runner.notify(e)
        await until(lambda: runner.counters.ran == 3, 20, "three runs")
        await runner.close()

    os.environ["NOTIFY_SOCKET"] = "/nonexistent"  # the daemon's own, never the script's
    try:
        run(main)
    finally:
        del os.environ["NOTIFY_SOCKET"]
    calls = [json.loads(line) for line in out.read_text().splitlines()]
    assert [c["argv"] for c in calls] == [["node", "f801", "dead", "active"],
                                          ["group", "192.168.1.118", "acquired"],
                                          ["link", "f801:eth2", "up", "dead"]]
    env = calls[1]["env"]
    assert env == {"HAPULSE_EVENT_KIND": "group", "HAPULSE_EVENT_SUBJECT": "192.168.1.118",
                   "HAPULSE_EVENT_STATE": "acquired", "HAPULSE_EVENT_OLD": "",
                   "HAPULSE_EVENT_DETAIL": "0.2 s", "HAPULSE_EVENT_AT": "1001.250",
                   "HAPULSE_EVENT_TEXT": events()[1].text, "HAPULSE_NODE": "f802"}
    assert len({c["pid"] for c in calls}) == 3  # one process per event
    assert runner.counters.failed == 0 and runner.counters.killed == 0
    assert f"notify hook {path} node f801 dead active: exited 0 in" in caplog.text
    assert "notify hook output: recorded ['group', '192.168.1.118', 'acquired']" in caplog.text


SLEEPER = """#!/bin/sh
{trap}
echo $$ > {pids}
sleep 60 &
echo $! >> {pids}
wait
"""


@pytest.mark.parametrize("trap", ["", "trap '' TERM"])
def test_a_script_past_its_timeout_is_killed_with_its_group(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, trap: str) -> None:
    """SIGTERM to the group at the timeout; a script ignoring it gets SIGKILL after the grace.
    The script and its `sleep` are both gone; the loop kept its pace meanwhile."""
    pids = tmp_path / "pids"
    path = script(tmp_path, "slow.sh", SLEEPER.format(pids=pids, trap=trap))
    runner = HookRunner("f802", HooksSettings(str(path), 0.5), "hapulse.toml", kill_grace=0.5)
    lateness: list[float] = []

    async def main() -> None:
        runner.start()
        runner.notify(events()[0])
        t0 = time.monotonic()
        while runner.counters.killed == 0 and time.monotonic() - t0 < 10:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            lateness.append(time.monotonic() - before - 0.01)
        await runner.close()

    run(main)
    assert runner.counters.killed == 1 and runner.counters.ran == 0
    written = [int(p) for p in pids.read_text().split()]
    assert len(written) == 2
    for pid in written:
        assert not alive(pid), f"pid {pid} still runs"
    sent = "SIGKILL" if trap else "SIGTERM"
    assert f"killed ({sent}) after its timeout of 0.5 s" in caplog.text
    assert max(lateness) < 0.2, max(lateness)  # never blocked on the script


def test_queue_overflow_is_counted_and_warned_once(caplog: pytest.LogCaptureFixture) -> None:
    runner = HookRunner("f802", HooksSettings("/bin/true", 1.0), "hapulse.toml", queue_size=2)

    async def main() -> None:  # no worker started: the queue only fills
        for i in range(7):
            runner.notify(Event(float(i), EventKind.NODE, f"n{i}", "dead"))

    run(main)
    assert runner.waiting == 2 and runner.counters.dropped == 5
    warnings = [r for r in caplog.records if "queue full" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited
    assert "1 event(s) dropped since the last warning, 1 in all" in warnings[0].getMessage()


def test_missing_and_non_executable_scripts_are_logged_once_per_change(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    missing = tmp_path / "nope.sh"
    runner = HookRunner("f802", HooksSettings(str(missing), 1.0), "/etc/ha.d/hapulse.toml")

    async def three() -> None:
        for e in events():
            await runner.run(e)

    run(three)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == [f"/etc/ha.d/hapulse.toml: [hooks] notify = \"{missing}\": the script "
                      "does not exist; no notify hook runs until it is fixed"]
    assert runner.counters.skipped == 3

    caplog.clear()
    plain = script(tmp_path, "plain.sh", "#!/bin/sh\nexit 0\n", mode=0o644)
    runner.configure(HooksSettings(str(plain), 1.0))
    run(three)
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and f"is not executable (chmod +x {plain})" in errors[0]

    caplog.clear()
    plain.chmod(0o755)  # fixed on disk: the next event runs it
    run(three)
    assert runner.counters.ran == 3
    assert f"notify hook {plain} can be run now" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_exit_code_and_bounded_output_are_logged(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    path = script(tmp_path, "loud.sh", "#!/bin/sh\nhead -c 100000 /dev/zero | tr '\\0' x\n"
                                       "echo oops >&2\nexit 3\n")
    runner = HookRunner("f802", HooksSettings(str(path), 5.0), "hapulse.toml")

    async def one() -> None:
        await runner.run(events()[1])

    run(one)
    assert runner.counters.failed == 1
    assert f"notify hook {path} group 192.168.1.118 acquired: exited 3 in" in caplog.text
    out = [r.getMessage() for r in caplog.records if "notify hook output" in r.getMessage()]
    assert sum(len(line) for line in out) < 4096 + 200
    assert "more byte(s) not logged" in out[-1]


def test_no_notify_setting_queues_nothing() -> None:
    runner = HookRunner("f802", HooksSettings(None, 1.0), "hapulse.toml")

    async def main() -> None:
        runner.notify(events()[0])

    run(main)
    assert runner.waiting == 0


def test_reload_plan_names_a_hooks_change(tmp_path: Path) -> None:
    from factories import ha_cf, make_ha_d

    from hapulse.config import load_config
    from hapulse.reload import plan_reload

    make_ha_d(tmp_path, ha_cf("bcast eth1", nodes=("f801", "f802")),
              haresources="f801 192.168.1.118\n")
    old, _ = load_config(tmp_path, "f801")
    (tmp_path / "hapulse.toml").write_text('[hooks]\nnotify = "/bin/true"\ntimeout = "2s"\n')
    new, diags = load_config(tmp_path, "f801")
    assert old is not None and new is not None, diags
    plan = plan_reload(old, new)
    assert plan.hooks_changed and not plan.restart_needed
    assert plan.changes == ("hooks (notify none, timeout 10 s -> notify /bin/true, "
                            "timeout 2 s)",)
    assert not plan_reload(new, new).hooks_changed
