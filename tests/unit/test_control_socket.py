"""The control socket's limits against hostile or broken clients, on a real ControlServer.

The server runs on its own event loop in a thread (as in the daemon, the
loop serves it); clients are plain blocking sockets. After every abuse,
`ping` must answer within 100 ms and nothing may have logged a traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import resource
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hapulse.runtime import (
    SOCKET_NAME,
    BadRequest,
    ControlLimits,
    ControlServer,
    control_request,
    parse_request,
)

PING_BUDGET = 0.1  # seconds


@dataclass
class Running:
    server: ControlServer
    loop: asyncio.AbstractEventLoop
    path: Path
    loop_errors: list[dict[str, Any]]

    def ping(self) -> float:
        """Seconds `ping` took; fails the test if the answer is wrong or late."""
        t0 = time.monotonic()
        reply = control_request(self.path.parent, "ping", timeout=2.0)
        took = time.monotonic() - t0
        assert reply == {"ok": True, "pid": os.getpid()}
        assert took < PING_BUDGET, f"ping took {took * 1000:.0f} ms"
        return took


def _handlers() -> dict[str, Any]:
    async def slow(seconds: float = 0.0) -> dict[str, Any]:
        await asyncio.sleep(min(seconds, 1.0))
        return {"ok": True}

    def boom() -> dict[str, Any]:
        raise RuntimeError("handler bug")

    return {
        "ping": lambda **_: {"ok": True, "pid": os.getpid()},
        "standby": lambda which="all": {"ok": True, "which": which},
        "slow": slow,
        "boom": boom,
        "unserialisable": lambda: {"ok": True, "value": object()},
    }


def start_server(limits: ControlLimits) -> Iterator[Running]:
    run_dir = Path(tempfile.mkdtemp(prefix="hapulse-ctl-"))
    loop = asyncio.new_event_loop()
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx))
    thread = threading.Thread(target=loop.run_forever, name="control-loop", daemon=True)
    thread.start()
    server = ControlServer(run_dir, _handlers(), allowed_uids=(os.getuid(),), limits=limits)
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(timeout=10)
    try:
        yield Running(server, loop, run_dir / SOCKET_NAME, errors)
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        for f in run_dir.iterdir():
            f.unlink()
        run_dir.rmdir()


@pytest.fixture
def ctl(caplog: pytest.LogCaptureFixture) -> Iterator[Running]:
    caplog.set_level(logging.DEBUG)
    yield from start_server(ControlLimits(max_request=64 * 1024, max_connections=64,
                                          idle_timeout=2.0))
    assert_no_traceback(caplog)


@pytest.fixture(scope="module")
def shared_ctl() -> Iterator[Running]:
    yield from start_server(ControlLimits(idle_timeout=2.0))


def assert_no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert "Traceback" not in caplog.text


def raw(path: Path, payload: bytes, shut: bool = True, timeout: float = 5.0) -> bytes:
    """Send `payload` on a fresh connection and read until the server closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        try:
            s.sendall(payload)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before reading it all
        out = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def connect(path: Path, deadline: float) -> socket.socket:
    """A connection, retried while the listen backlog is full (the server accepts meanwhile)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    while True:
        try:
            s.connect(str(path))
            return s
        except BlockingIOError:
            if time.monotonic() > deadline:
                s.close()
                raise
            time.sleep(0.001)  # the backlog drains as the server's loop accepts


def error_of(answer: bytes) -> tuple[str, str]:
    reply = json.loads(answer)
    assert reply["ok"] is False
    return reply["error_kind"], reply["error"]


# ---- the pure request parser --------------------------------------------------------------

def test_parse_request_names_what_is_wrong() -> None:
    h = _handlers()
    assert parse_request(b'{"cmd": "standby", "which": "local"}\n', h) == \
        ("standby", {"which": "local"})
    cases = {
        b"hello\n": "not JSON",
        b"\xff\xfe\n": "not JSON",
        b"[1, 2]\n": "a request is a JSON object",
        b'{"which": "all"}\n': 'no "cmd"',
        b'{"cmd": 7}\n': 'no "cmd"',
        b'{"cmd": "format-disk"}\n': "unknown command 'format-disk'; known: boom, ping",
        b'{"cmd": "standby", "whitch": "all"}\n': "bad arguments for standby",
        b"[" * 100_000 + b"\n": "not JSON",
    }
    for line, words in cases.items():
        with pytest.raises(BadRequest) as exc:
            parse_request(line, h)
        assert words in str(exc.value), (line[:20], str(exc.value))


# ---- the real server --------------------------------------------------------------------

def test_a_request_and_its_answer(ctl: Running) -> None:
    ctl.ping()
    assert control_request(ctl.path.parent, "standby", which="local") == \
        {"ok": True, "which": "local"}
    assert control_request(ctl.path.parent, "slow", seconds=0.05) == {"ok": True}


def test_a_line_over_64_kib_gets_an_error_not_a_traceback(ctl: Running) -> None:
    kind, text = error_of(raw(ctl.path, b'{"cmd": "ping", "x": "' + b"a" * 200_000 + b'"}\n'))
    assert kind == "too_big" and "over 65536 bytes" in text
    kind, _ = error_of(raw(ctl.path, b"z" * 70_000, shut=False))  # no newline at all
    assert kind == "too_big"
    ctl.ping()
    assert ctl.server.counters["too_big"] == 2
    assert ctl.loop_errors == []


def test_malformed_requests_get_errors(ctl: Running) -> None:
    for payload, want in [(b"not json\n", "bad_request"), (b"42\n", "bad_request"),
                          (b'{"cmd": "nope"}\n', "bad_request"),
                          (b'{"cmd": "standby", "bogus": 1}\n', "bad_request"),
                          (b'{"cmd": "boom"}\n', "failed"),
                          (b'{"cmd": "unserialisable"}\n', "failed")]:
        kind, _ = error_of(raw(ctl.path, payload))
        assert kind == want, payload
    # a last request without its newline, the client's side shut: still answered
    assert json.loads(raw(ctl.path, b'{"cmd": "ping"}')) == {"ok": True, "pid": os.getpid()}
    ctl.ping()
    assert ctl.loop_errors == []


def test_a_silent_client_is_closed_after_the_idle_timeout(ctl: Running) -> None:
    t0 = time.monotonic()
    kind, text = error_of(raw(ctl.path, b'{"cmd": "pi', shut=False, timeout=10))
    took = time.monotonic() - t0
    assert kind == "timeout" and "within 2 s" in text
    assert 1.5 < took < 5.0
    ctl.ping()


def test_extra_connections_evict_the_oldest_silent_one(ctl: Running) -> None:
    socks = []
    try:
        for _ in range(64):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(5)
            s.connect(str(ctl.path))
            socks.append(s)
        first = socks[0]
        ctl.ping()  # the 65th: room is made by closing the oldest silent connection
        kind, text = error_of(first.recv(4096))
        assert kind == "busy" and "64 control connections open" in text
        assert ctl.server.counters["evicted"] >= 1
    finally:
        for s in socks:
            s.close()


def test_2000_connections_held_open_and_ping_still_answers(ctl: Running,
                                                          caplog: pytest.LogCaptureFixture
                                                          ) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2000 + 512
    if soft < need:
        if hard != resource.RLIM_INFINITY and hard < need:
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is under {need}")
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    socks: list[socket.socket] = []
    try:
        deadline = time.monotonic() + 60
        for _ in range(2000):
            socks.append(connect(ctl.path, deadline))
        # the server holds at most max_connections of them; ping gets a slot at once
        deadline = time.monotonic() + 10
        while len(ctl.server._open) > ctl.server.limits.max_connections:
            assert time.monotonic() < deadline, len(ctl.server._open)
        for _ in range(5):
            ctl.ping()
        assert len(ctl.server._open) <= ctl.server.limits.max_connections
    finally:
        for s in socks:
            s.close()
    ctl.ping()
    assert ctl.loop_errors == []
    assert_no_traceback(caplog)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# ---- a property: whatever the bytes, the next ping answers in 100 ms --------------------

garbage = st.one_of(
    st.binary(max_size=2048),
    st.builds(lambda d: json.dumps(d).encode()[: max(1, len(json.dumps(d)) // 2)],
              st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4)),
    st.builds(lambda n, c: c * n + b"\n", st.integers(60_000, 140_000),
              st.sampled_from([b"a", b"{", b"[", b"\x00", b"\xff"])),
    st.builds(lambda d: json.dumps(d).encode() + b"\n",
              st.dictionaries(st.sampled_from(["cmd", "which", "seconds", "x"]),
                              st.one_of(st.text(max_size=12), st.integers(), st.none(),
                                        st.lists(st.integers(), max_size=3)),
                              max_size=3)),
)


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.data_too_large])
@given(st.lists(st.tuples(garbage, st.booleans()), min_size=1, max_size=4))
def test_garbage_then_ping_answers_within_100_ms(shared_ctl: Running,
                                                 sends: list[tuple[bytes, bool]]) -> None:
    for payload, shut in sends:
        if not shut and not payload.endswith(b"\n") and len(payload) < 60_000:
            # a client that neither ends its line nor shuts its side: leave it open,
            # the idle timeout or an eviction closes it
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(str(shared_ctl.path))
            s.sendall(payload)
            s.close()
            continue
        answer = raw(shared_ctl.path, payload, shut=shut)
        if answer:
            reply = json.loads(answer)
            assert isinstance(reply, dict) and "ok" in reply
    shared_ctl.ping()
    assert shared_ctl.loop_errors == []
