"""The `events` stream over a real unix control socket, with an EventBus as the source;
`hapulse events` and `hapulse status --watch` against it."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hapulse.cli import main
from hapulse.commands.status import SEPARATOR, watch, watch_frame
from hapulse.events import EventBus, EventKind
from hapulse.lab import wait_for
from hapulse.runtime import (
    SOCKET_NAME,
    ControlError,
    ControlLimits,
    ControlServer,
    Stream,
    control_request,
    control_stream,
)

STATUS = {"ok": True, "node": "f802", "pid": 1, "uptime": 5.0, "hbstatus": "running",
          "timers": {"keepalive": 1.0, "warntime": 10.0, "deadtime": 30.0, "initdead": 120.0},
          "nodes": [{"name": "f801", "status": "dead", "local": False, "last_heard_ago": 31.0,
                     "links": {"eth2": "dead"}}], "groups": []}


@dataclass
class Fake:
    """A control server on its own loop (thread) whose `events` streams `bus`."""

    server: ControlServer
    loop: asyncio.AbstractEventLoop
    bus: EventBus
    run_dir: Path

    def publish(self, subject: str, state: str = "dead", old: str = "active") -> None:
        asyncio.run_coroutine_threadsafe(self._publish(subject, state, old),
                                         self.loop).result(5)

    async def _publish(self, subject: str, state: str, old: str) -> None:
        self.bus.publish(EventKind.NODE, subject, state, old)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(), self.loop).result(10)

    def ping(self) -> float:
        t0 = time.monotonic()
        assert control_request(self.run_dir, "ping", timeout=2)["ok"]
        return time.monotonic() - t0


def handlers(bus: EventBus) -> dict[str, Any]:
    def events(history: bool = True, since: float | None = None) -> Stream:
        past = [e.as_dict() for e in bus.recent
                if history and (since is None or e.at >= since)]
        return Stream({"ok": True, "node": "f802"}, past,
                      lambda push: bus.subscribe(lambda e: push(e.as_dict())))

    return {"events": events, "ping": lambda: {"ok": True}, "status": lambda: STATUS}


def serve(limits: ControlLimits) -> Iterator[Fake]:
    run_dir = Path(tempfile.mkdtemp(prefix="hapulse-evs-"))
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    clock = iter(range(1000, 100000))
    bus = EventBus(clock=lambda: float(next(clock)))
    server = ControlServer(run_dir, handlers(bus), allowed_uids=(os.getuid(),), limits=limits)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    fake = Fake(server, loop, bus, run_dir)
    try:
        yield fake
    finally:
        fake.close()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        for f in run_dir.iterdir():
            f.unlink()
        run_dir.rmdir()


@pytest.fixture
def fake() -> Iterator[Fake]:
    yield from serve(ControlLimits(idle_timeout=0.5, max_streams=2, stream_backlog=5))


def test_history_then_live_events_in_order(fake: Fake) -> None:
    fake.publish("n1")
    fake.publish("n2")
    stream = control_stream(fake.run_dir, "events", tick=0.05)
    got = [next(stream), next(stream)]
    assert [g["subject"] for g in got if g] == ["n1", "n2"]
    assert next(stream) is None  # a tick: nothing new
    fake.publish("n3", "active", "dead")
    item = wait_for(lambda: next(stream), 5, what="n3 streamed")
    assert item == {"at": 1002.0, "kind": "node", "subject": "n3", "state": "active",
                    "old": "dead", "detail": ""}
    stream.close()
    wait_for(lambda: not fake.server._streams, 5, what="the server noticed the client left")


def test_no_history_and_since(fake: Fake) -> None:
    for name in ("n1", "n2", "n3"):
        fake.publish(name)
    fresh = control_stream(fake.run_dir, "events", tick=0.05, history=False)
    assert next(fresh) is None
    recent = control_stream(fake.run_dir, "events", tick=0.05, since=1001.0)
    assert [next(recent), next(recent), next(recent)] == [
        {"at": 1001.0, "kind": "node", "subject": "n2", "state": "dead", "old": "active",
         "detail": ""},
        {"at": 1002.0, "kind": "node", "subject": "n3", "state": "dead", "old": "active",
         "detail": ""}, None]
    fresh.close()
    recent.close()


def test_streams_are_limited_and_end_when_the_server_closes(fake: Fake) -> None:
    a = control_stream(fake.run_dir, "events", tick=0.05)
    b = control_stream(fake.run_dir, "events", tick=0.05)
    assert next(a) is None and next(b) is None
    with pytest.raises(ControlError, match="busy: 2 streams open"):
        next(control_stream(fake.run_dir, "events", tick=0.05))
    assert fake.ping() < 0.1  # one-shot requests still served
    fake.close()
    assert all(x is None for x in a)  # only ticks, then the end: no error


def test_a_client_that_does_not_read_is_dropped_and_the_loop_stays_free(fake: Fake) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(str(fake.run_dir / SOCKET_NAME))
        s.sendall(b'{"cmd": "events", "history": false}\n')
        wait_for(lambda: fake.server._streams, 5, what="the stream is open")
        big = "x" * 4000
        for i in range(200):  # far more than the socket buffers and the 5-line backlog
            fake.publish(f"n{i}-{big}")
        assert fake.ping() < 0.1
        wait_for(lambda: fake.server.counters["streams_dropped"] == 1, 5, what="dropped")
        wait_for(lambda: not fake.server._streams, 5, what="the stream closed")
        assert fake.ping() < 0.1
    assert fake.server.counters["streams_dropped"] == 1


def test_hapulse_events_json_and_text(fake: Fake, capsys: pytest.CaptureFixture[str]) -> None:
    fake.publish("f801")
    results: dict[str, int] = {}

    def cli(*argv: str) -> None:
        results[" ".join(argv) or "text"] = main(["events", *argv, "--run-dir",
                                                  str(fake.run_dir)])

    threads = [threading.Thread(target=cli, args=flags) for flags in (("--json",), ())]
    for t in threads:
        t.start()
    wait_for(lambda: len(fake.server._streams) == 2, 5, what="both clients streaming")
    fake.publish("f802", "up", "dead")
    outs: list[str] = []
    errs: list[str] = []

    def printed() -> bool:
        out, err = capsys.readouterr()
        outs.append(out)
        errs.append(err)
        return "".join(outs).count("\n") == 4

    wait_for(printed, 5, what="both clients printed both events")
    fake.close()  # the daemon stops: both clients end
    for t in threads:
        t.join(10)
    assert results == {"--json": 3, "text": 3}
    printed()
    lines, err = "".join(outs).splitlines(), "".join(errs)
    assert sorted(line for line in lines if line.startswith("{")) == [
        json.dumps({"at": 1000.0, "kind": "node", "subject": "f801", "state": "dead",
                    "old": "active", "detail": ""}),
        json.dumps({"at": 1001.0, "kind": "node", "subject": "f802", "state": "up",
                    "old": "dead", "detail": ""})]
    text = [line for line in lines if not line.startswith("{")]
    assert [line[20:] for line in text] == ["node f801 active -> dead", "node f802 dead -> up"]
    assert err.count("the daemon closed the stream") == 2


def test_watch_frames() -> None:
    at = time.mktime((2026, 11, 26, 13, 43, 57, 0, 0, -1))
    assert watch_frame("TEXT", False, at, "node f801 active -> dead") == (
        f"{SEPARATOR} 13:43:57 after: node f801 active -> dead\nTEXT\n")
    assert watch_frame("TEXT", True, at).startswith("\x1b[H\x1b[2J13:43:57  (Ctrl-C")


def test_watch_redraws_on_each_event_until_the_daemon_goes(fake: Fake) -> None:
    out = io.StringIO()
    args = argparse.Namespace(run_dir=fake.run_dir, json=False, interval=30.0, timeout=2.0)
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(watch(args, out)))
    t.start()
    wait_for(lambda: fake.server._streams, 5, what="watch subscribed")
    fake.publish("f801")
    wait_for(lambda: out.getvalue().count(SEPARATOR) == 2, 5, what="a redraw after the event")
    fake.close()
    t.join(10)
    assert result == [3]
    frames = out.getvalue().split(SEPARATOR)[1:]
    assert "after:" not in frames[0].splitlines()[0]
    assert "node f801 active -> dead" in frames[1].splitlines()[0]
    assert "hapulse on f802" in frames[1] and "f801" in frames[1]
