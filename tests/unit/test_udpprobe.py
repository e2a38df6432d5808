"""The 1 ms client probe (hapulse.lab.udpprobe) over loopback: the echo, the prober, the
runs of answers and the gap read from them. No root, no namespace."""

from __future__ import annotations

import io
import multiprocessing
import socket
import time
from collections.abc import Callable, Iterator
from multiprocessing.process import BaseProcess

import pytest

from hapulse.lab.udpprobe import MAGIC, REQUEST, Prober, UdpProbe, echo_socket, serve_echo


@pytest.fixture
def echo() -> Iterator[socket.socket]:
    sock = echo_socket(0, "127.0.0.1")
    yield sock
    sock.close()


def _background(target: Callable[..., object], *args: object) -> BaseProcess:
    """Run `target` in a forked process, as the echo runs on a node: in a thread of the
    prober's own process, a GIL hand-over longer than the 5 ms split cut one run in two."""
    p = multiprocessing.get_context("fork").Process(target=target, args=args, daemon=True)
    p.start()
    return p


def _serve(sock: socket.socket, name: str, limit: float, answers: int = 10**6) -> BaseProcess:
    return _background(serve_echo, sock, name, limit, answers)


def _client() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def _read(text: str) -> UdpProbe:
    probe = UdpProbe()
    for line in text.splitlines():
        probe.feed(line)
    return probe


def test_every_probe_answered_by_the_echo_in_one_run(echo: socket.socket) -> None:
    port = echo.getsockname()[1]
    server = _serve(echo, "f801", 0.5)
    out = io.StringIO()
    client = _client()
    prober = Prober(client, ("127.0.0.1", port), out, interval=0.001)
    t0 = time.monotonic()
    prober.run_for(0.2)
    elapsed = time.monotonic() - t0
    client.close()
    server.join(3)
    probe = _read(out.getvalue())
    assert probe.summary == (prober.sent, prober.answered, 0)
    # one datagram a millisecond, never more
    assert 100 <= prober.sent <= int(elapsed / 0.001) + 1
    assert prober.answered >= prober.sent - 2
    assert [r.who for r in probe.runs] == ["f801"]
    assert probe.runs[0].ended and probe.runs[0].count == prober.answered
    assert probe.seen("f801", t0) and not probe.seen("f802", t0)


def test_the_echo_answers_from_the_address_probed(echo: socket.socket) -> None:
    port = echo.getsockname()[1]
    echo.close()
    sock = echo_socket(port)  # 0.0.0.0, as on a node: 127.0.0.2 is one of its addresses
    server = _serve(sock, "f802", 2.0, answers=1)
    client = _client()
    client.settimeout(2)
    client.sendto(REQUEST.pack(MAGIC, 7, 42), ("127.0.0.2", port))
    data, source = client.recvfrom(256)
    server.join(3)
    sock.close()
    client.close()
    assert data == REQUEST.pack(MAGIC, 7, 42) + b"f802"
    assert source == ("127.0.0.2", port)


def test_the_echo_is_bounded_and_ignores_garbage(echo: socket.socket) -> None:
    port = echo.getsockname()[1]
    client = _client()
    for payload in (b"GET / HTTP/1.0", b"HPP1short", REQUEST.pack(MAGIC, 1, 1) + b"x"):
        client.sendto(payload, ("127.0.0.1", port))
    for seq in range(5):
        client.sendto(REQUEST.pack(MAGIC, 1, seq), ("127.0.0.1", port))
    t0 = time.monotonic()
    assert serve_echo(echo, "n", limit=2.0, max_answers=3) == 3
    assert serve_echo(echo, "n", limit=0.05, max_answers=100) == 2  # the rest, then time
    assert time.monotonic() - t0 < 1.5
    client.close()


def test_a_failover_is_a_silence_then_a_new_run(echo: socket.socket) -> None:
    port = echo.getsockname()[1]

    def failover() -> None:
        serve_echo(echo, "f801", 2.0, max_answers=60)
        time.sleep(0.04)  # the outage being simulated, not a synchronisation
        serve_echo(echo, "f802", 2.0, max_answers=60)

    out = io.StringIO()
    client = _client()
    prober = Prober(client, ("127.0.0.1", port), out, interval=0.001)
    t = _background(failover)
    prober.run_for(0.25)
    t.join(3)
    client.close()
    probe = _read(out.getvalue())
    assert [r.who for r in probe.runs] == ["f801", "f802"]
    f801, f802 = probe.runs
    assert f801.count == 60 and f802.count == 60
    kill = f801.last_recv + 0.001
    to_first, gap = probe.gap(kill, "f801", "f802")
    assert to_first == pytest.approx(f802.first_recv - kill)
    assert gap == pytest.approx(f802.first_recv - f801.last_recv)
    assert 0.035 <= gap < 0.2
    # on loopback the outage's probes wait in the socket's queue (on a dead node they are
    # lost): f802's first answer is to a probe sent during the outage, matched by sequence
    assert f802.first_seq == f801.last_seq + 1
    assert f802.first_recv - f802.first_sent >= 0.03


def test_a_foreign_or_stale_answer_is_not_counted() -> None:
    out = io.StringIO()
    client = _client()
    sink = _client()  # nobody answers here
    prober = Prober(client, sink.getsockname(), out, interval=0.001, token=5)
    # an answer from another run (token), one never sent (sequence), garbage
    me = client.getsockname()
    sink.sendto(REQUEST.pack(MAGIC, 6, 0) + b"old", me)
    sink.sendto(REQUEST.pack(MAGIC, 5, 99999) + b"f801", me)
    sink.sendto(b"noise", me)
    prober.run_for(0.02)
    client.close()
    sink.close()
    probe = _read(out.getvalue())
    assert probe.runs == []
    assert probe.summary is not None and probe.summary[1:] == (0, 1)


def test_a_late_wake_up_skips_slots_instead_of_bursting() -> None:
    jumped = {"calls": 0}

    def clock() -> float:  # the clock jumps 50 ms once: the prober overslept
        jumped["calls"] += 1
        return time.monotonic() + (0.05 if jumped["calls"] > 20 else 0.0)

    out = io.StringIO()
    client = _client()
    sink = _client()
    prober = Prober(client, sink.getsockname(), out, interval=0.001, clock=clock)
    prober.run_for(0.1)
    received = 0
    sink.setblocking(False)
    for _ in range(1000):
        try:
            sink.recv(64)
        except BlockingIOError:
            break
        received += 1
    client.close()
    sink.close()
    assert received == prober.sent
    assert prober.sent <= 60  # 100 slots, 50 of them skipped


def test_the_reader_answers_from_the_lines() -> None:
    probe = _read("A f801 0 10.000 10.0003\nT f801 99 10.099 10.0993 100\n"
                  "E f801 120 10.120 10.1203 121\nA f802 180 10.180 10.1804\n"
                  "T f802 250 10.250 10.2504 71\n")
    assert probe.first_from("f802", 10.125) == pytest.approx(10.1804)
    assert probe.last_from("f801", 10.1804) == pytest.approx(10.1203)
    to_first, gap = probe.gap(10.125, "f801", "f802")
    assert to_first == pytest.approx(0.0554)
    assert gap == pytest.approx(0.0601)
    assert probe.steady("f802", 0.05, now=10.26)
    assert not probe.steady("f802", 0.1, now=10.26)
    assert not probe.steady("f801", 0.01, now=10.26)
    assert probe.answers_from("f802", 10.0) == 71
    with pytest.raises(RuntimeError):
        probe.gap(10.3, "f801", "f802")
