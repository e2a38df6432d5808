"""Hooks and the events stream in a real daemon (solo node on loopback, through the CLI):
a `[hooks]` added by `hapulse reload` runs on the next event, which `events` streams too."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import make_ha_d, solo_ha_cf

from hapulse.lab import wait_for
from hapulse.runtime import control_stream

HAPULSE = str(Path(sys.executable).with_name("hapulse"))
INITDEAD = 6.0  # the peer never answers: declared dead then, the event the hook must see

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the control socket is root only")

RECORDER = """#!{python}
import json, os, sys
with open({out!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv[1:], "node": os.environ["HAPULSE_NODE"]}}) + "\\n")
"""


def hp(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([HAPULSE, *args], capture_output=True, text=True, timeout=60)


@pytest.fixture
def solo(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    port = 20000 + (os.getpid() + 7) % 20000
    conf = make_ha_d(tmp_path / "ha.d", solo_ha_cf(
        keepalive="0.2", warntime="0.6", deadtime="1", initdead=f"{INITDEAD:g}", udpport=port,
        extra=("realtime off",)))
    run = Path(tempfile.mkdtemp(prefix="hapulse-run-"))
    yield conf, run
    hp("stop", "--run-dir", str(run))
    shutil.rmtree(run, ignore_errors=True)


def test_hooks_added_by_reload_run_and_events_stream(solo: tuple[Path, Path],
                                                     tmp_path: Path) -> None:
    conf, run = solo
    r = hp("start", "-c", str(conf), "--node", "solo", "--run-dir", str(run),
           "--state-dir", str(tmp_path / "state"))
    assert r.returncode == 0, r.stderr
    started = time.monotonic()
    out = tmp_path / "calls.jsonl"
    hook = tmp_path / "notify"
    hook.write_text(RECORDER.format(python=sys.executable, out=str(out)))
    hook.chmod(0o755)
    (conf / "hapulse.toml").write_text(f'[hooks]\nnotify = "{hook}"\ntimeout = "5s"\n')
    r = hp("reload", "--run-dir", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    assert time.monotonic() - started < INITDEAD - 1, "reloaded too late for the test"
    stream = control_stream(run, "events", tick=0.2, history=False)
    assert next(stream) is None  # subscribed before the peer's death

    wait_for(lambda: out.exists() and out.read_text(), INITDEAD + 5, interval=0.1,
             what="the hook ran")
    calls = [json.loads(line) for line in out.read_text().splitlines()]
    assert calls[0] == {"argv": ["node", "peer", "dead", "init"], "node": "solo"}
    item = wait_for(lambda: next(stream), 5, what="the event streamed")
    assert (item["kind"], item["subject"], item["state"], item["old"]) == (
        "node", "peer", "dead", "init")
    stream.close()
    st = json.loads(hp("status", "--json", "--run-dir", str(run)).stdout)
    assert st["hooks"]["notify"] == str(hook) and st["hooks"]["ran"] >= 1
    assert st["counters"]["control"]["streams"] == 1
