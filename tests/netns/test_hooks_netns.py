"""Notify hooks, `hapulse events` and `hapulse status --watch` on the seed's two-node cluster.

Each node has a hapulse.toml `[hooks] notify = ...` naming a script in its private
dir that appends each call's argv and HAPULSE_* environment as a JSON line.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from hapulse.lab import Host, Lab, wait_for
from hapulse.lab.ha_d import with_timers
from hapulse.lab.nodes import HAPULSE, VIP, HapulseNode, seed_files, served_by, web_node

pytestmark = pytest.mark.netns

RECORDER = """#!{python}
import json, os, sys
line = json.dumps({{"argv": sys.argv[1:], "pid": os.getpid(),
                   "env": {{k: v for k, v in os.environ.items() if k.startswith("HAPULSE_")}}}})
with open({out!r}, "a") as f:
    f.write(line + "\\n")
"""

SLEEPER = """#!/bin/sh
echo $$ >> {pids}
exec sleep 60
"""


def node_with_hook(lab: Lab, name: str, script: str, timeout: str,
                   timers: tuple[str, str, str, str]) -> tuple[HapulseNode, Path]:
    """A seed node at `timers` whose notify hook is `script` (formatted with `out`, `pids`,
    `python`); returns the node and the file its hook writes."""
    host = lab.hosts[name]
    out = host.dir / "hook.out"
    hook = host.dir / "notify"
    hook.write_text(script.format(python=sys.executable, out=str(out), pids=str(out)))
    hook.chmod(0o755)
    files = seed_files(name)
    files["ha.cf"] = with_timers(files["ha.cf"], *timers)
    files["hapulse.toml"] = f'[hooks]\nnotify = "{hook}"\ntimeout = "{timeout}"\n'
    return web_node(host, files), out


def calls(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def index_of(items: list[list[str]], *want: str) -> int | None:
    return next((i for i, a in enumerate(items) if tuple(a[:len(want)]) == want), None)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def background(host: Host, argv: list[str], out: Path) -> subprocess.Popen[Any]:
    with open(out, "w") as f:
        return host.popen(argv, stdout=f, stderr=subprocess.STDOUT)


def stop(host: Host, p: subprocess.Popen[Any]) -> int | None:
    """SIGTERM to a helper started in `host`; its exit code (None if it had to be killed)."""
    with_term = True
    try:
        os.kill(p.pid, signal.SIGTERM)
        p.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with_term = False
    host.kill(p)
    return p.returncode if with_term else None


def test_hooks_events_and_watch_see_failover_and_failback(seed: Lab) -> None:
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    timers = ("100ms", "1", "2", "4")
    a, a_out = node_with_hook(seed, "f801", RECORDER, "5s", timers)
    b, b_out = node_with_hook(seed, "f802", RECORDER, "5s", timers)
    a.start()
    b.start()
    client = seed.hosts["client"]
    wait_for(lambda: served_by(client) == "f801", 30, interval=0.2, what="f801 serves the VIP")
    f802 = seed.hosts["f802"]
    events_out, watch_out = f802.dir / "events.out", f802.dir / "watch.out"
    events = background(f802, [HAPULSE, "events", "--json", "--run-dir", str(b.run_dir)],
                        events_out)
    watch = background(f802, [HAPULSE, "status", "--watch", "--interval", "1", "--run-dir",
                              str(b.run_dir)], watch_out)
    wait_for(lambda: SEPARATOR_LINE in watch_out.read_text(), 10, what="the first render")
    wait_for(lambda: (b.status() or {}).get("counters", {}).get("control", {})
             .get("streams", 0) >= 2, 10, what="events and watch subscribed")
    before_b = len(calls(b_out))
    seed.hosts["f801"].kill_all()
    killed = time.time()

    def b_argv() -> list[list[str]]:
        return [c["argv"] for c in calls(b_out)[before_b:]]

    wait_for(lambda: index_of(b_argv(), "group", VIP, "acquired") is not None, 15,
             interval=0.1, what="f802's hook told of the takeover")
    seen = b_argv()
    dead, acquired = index_of(seen, "node", "f801", "dead"), index_of(seen, "group", VIP)
    assert dead is not None and acquired is not None and dead < acquired, seen
    assert seen[dead] == ["node", "f801", "dead", "active"]
    assert seen[acquired] == ["group", VIP, "acquired"]
    env = calls(b_out)[before_b + dead]["env"]
    assert env["HAPULSE_NODE"] == "f802" and env["HAPULSE_EVENT_KIND"] == "node"
    assert env["HAPULSE_EVENT_SUBJECT"] == "f801" and env["HAPULSE_EVENT_OLD"] == "active"
    assert killed <= float(env["HAPULSE_EVENT_AT"]) <= time.time()
    wait_for(lambda: served_by(client) == "f802", 5, interval=0.1, what="f802 serves")

    # `hapulse events --json` saw the same, with timestamps
    def streamed() -> list[dict[str, Any]]:
        return [json.loads(line) for line in events_out.read_text().splitlines()
                if line.startswith("{")]

    wait_for(lambda: any(e["kind"] == "group" and e["state"] == "acquired" and e["at"] >= killed
                         for e in streamed()), 10, what="events streamed the takeover")
    after = [(e["kind"], e["subject"], e["state"]) for e in streamed() if e["at"] >= killed]
    assert after.index(("node", "f801", "dead")) < after.index(("group", VIP, "acquired"))
    assert all(killed <= e["at"] <= time.time() for e in streamed() if e["at"] >= killed)

    # `status --watch` in a pipe: a render after the failover, f801 dead in it
    def rendered_after() -> str | None:
        frames = watch_out.read_text().split(SEPARATOR_LINE)[1:]
        return next((f for f in frames if f"group {VIP} acquired" in f.splitlines()[0]), None)

    frame = wait_for(rendered_after, 10, what="a watch render after the takeover")
    assert any(line.startswith("f801 ") and " dead " in line for line in frame.splitlines())

    # f801 returns: alive again on f802; auto_failback (legacy) moves the group home
    before_a, before_b = len(calls(a_out)), len(calls(b_out))
    a.start()
    wait_for(lambda: index_of(b_argv(), "group", VIP, "released") is not None
             and index_of([c["argv"] for c in calls(a_out)[before_a:]],
                          "group", VIP, "acquired") is not None,
             30, interval=0.2, what="released on f802, acquired on f801")
    back = b_argv()
    alive_at = next(i for i, v in enumerate(back) if v[:2] == ["node", "f801"]
                    and v[2] in ("up", "active"))
    assert alive_at < index_of(back, "group", VIP, "released"), back  # type: ignore[operator]
    wait_for(lambda: served_by(client) == "f801", 10, interval=0.2, what="failback to f801")

    assert stop(f802, events) == 0
    assert stop(f802, watch) == 0
    for node in (a, b):
        assert ": exited 0 in" in node.log_text() and "timeout of 5 s" not in node.log_text()


SEPARATOR_LINE = "----- hapulse status --watch"


def test_a_slow_hook_is_killed_and_heartbeats_stay_on_time(seed: Lab) -> None:
    """Every event's hook sleeps past its 1 s timeout: each is killed (its PID gone) while
    heartbeats at 100 ms go on with no `Late heartbeat` (warntime 500 ms) on either node."""
    timers = ("100ms", "500ms", "2", "4")
    a, a_pids = node_with_hook(seed, "f801", SLEEPER, "1s", timers)
    b, b_pids = node_with_hook(seed, "f802", SLEEPER, "1s", timers)
    a.start()
    b.start()
    wait_for(lambda: a.log_text().count("after its timeout of 1 s") >= 3
             and b.log_text().count("after its timeout of 1 s") >= 3,
             30, interval=0.2, what="three hooks killed at their timeout on each node")
    for node, pids in ((a, a_pids), (b, b_pids)):
        kills = node.log_text().count("killed (SIGTERM) after its timeout of 1 s")
        assert kills >= 3
        started = [int(p) for p in pids.read_text().split()]
        for pid in started[:kills]:
            assert not alive(pid), f"hook pid {pid} still runs after its kill"
    st = b.status()
    assert st is not None and st["hooks"]["killed"] >= 3
    assert b.node_status("f801") == "active"
    for node in (a, b):
        assert "Late heartbeat" not in node.log_text(), node.log_text()
        assert node.status()["counters"]["deaths_seen"] == 0  # type: ignore[index]
