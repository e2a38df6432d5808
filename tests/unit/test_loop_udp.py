"""The UDP receive path's turn of the loop: one reader drains every heartbeat socket of
the process, reads at most a batch per socket, and the kernel's drop count is read when
the counters are (not per wake-up). Real sockets on the loopback interface.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from hapulse.config import Medium
from hapulse.transports import udp
from hapulse.transports.udp import UdpTransport

HEARTBEAT = b"###\n11:(0)t=status,%%%\n"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def send(port: int, packets: list[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for p in packets:
            s.sendto(p, ("127.0.0.1", port))


def pending(port: int) -> bool:
    """Is there a datagram queued for 127.0.0.1:port (/proc/net/udp's rx_queue)?"""
    with open("/proc/net/udp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if int(fields[1].split(":")[1], 16) == port and int(fields[4].split(":")[1], 16):
                return True
    return False


def wait_queued(port: int) -> None:
    polls = 200  # polls of /proc/net/udp: the datagram is queued at once on lo
    for _ in range(polls):
        if pending(port):
            return
    raise AssertionError(f"nothing queued on port {port}")


def test_one_readable_socket_drains_the_others() -> None:
    async def go() -> dict[str, list[bytes]]:
        ports = [free_port(), free_port()]
        got: dict[str, list[bytes]] = {"a": [], "b": []}
        ts = [UdpTransport(Medium("ucast", interface="lo", address="127.0.0.1", port=p), p)
              for p in ports]
        await ts[0].start(lambda data, source, when=None: got["a"].append(data))
        await ts[1].start(lambda data, source, when=None: got["b"].append(data))
        try:
            send(ports[0], [HEARTBEAT + b"1"])
            send(ports[1], [HEARTBEAT + b"2"])
            for p in ports:
                wait_queued(p)
            ts[0]._readable()  # what the loop calls when the first socket is readable
            assert not pending(ports[1])
        finally:
            for t in ts:
                await t.close()
        assert all(t not in udp._RECEIVING for t in ts)
        return got

    got = asyncio.run(go())
    assert got == {"a": [HEARTBEAT + b"1"], "b": [HEARTBEAT + b"2"]}


def test_a_turn_reads_at_most_a_batch_per_socket() -> None:
    async def go() -> tuple[int, int]:
        port = free_port()
        got: list[bytes] = []
        t = UdpTransport(Medium("ucast", interface="lo", address="127.0.0.1", port=port), port)
        await t.start(lambda data, source, when=None: got.append(data))
        try:
            send(port, [HEARTBEAT] * (udp.BATCH + 5))
            wait_queued(port)
            t._readable()
            first = len(got)
            t._readable()
            return first, len(got)
        finally:
            await t.close()

    first, total = asyncio.run(go())
    assert first == udp.BATCH
    assert total == udp.BATCH + 5


def test_kernel_drops_are_read_with_the_counters() -> None:
    async def go() -> tuple[int, int, int]:
        port = free_port()
        t = UdpTransport(Medium("ucast", interface="lo", address="127.0.0.1", port=port), port)
        await t.start(lambda data, source, when=None: None)
        try:
            before = t.counters.kernel_drops
            send(port, [b"garbage, not a heartbeat"] * 3)  # the filter drops these
            after = t.counters.kernel_drops
        finally:
            await t.close()
        return before, after, t.counters.kernel_drops  # the last count survives close

    before, after, closed = asyncio.run(go())
    assert after - before == 3
    assert closed == after


def test_read_period_polls_only_when_heartbeats_outnumber_the_reads() -> None:
    assert udp.read_period(1.0, peers=1, media=1) is None  # the seed: read on readiness
    assert udp.read_period(0.1, peers=1, media=1) is None  # 10 a second: a wake-up each
    assert udp.read_period(0.01, peers=1, media=2) == 0.01  # the fastest: with each send
    assert udp.read_period(1.0, peers=99, media=1) == pytest.approx(0.2475)  # 100 nodes
    assert udp.read_period(1.0, peers=24, media=1) == pytest.approx(0.06)  # 25 nodes
    assert udp.read_period(1.0, peers=19, media=1) is None  # 20 nodes: 19 a second
    assert udp.read_period(0.25, peers=15, media=1) == pytest.approx(0.15)  # 16 at 250 ms
    assert udp.read_period(0.25, peers=63, media=1) == 0.25  # 64 at 250 ms: each keepalive
    assert udp.read_period(2.0, peers=999, media=2) == udp.POLL_MAX  # never longer
    assert udp.read_period(0.05, peers=1, media=1) == 0.05  # one per period: polled
    assert udp.read_period(0.0, peers=1, media=1) is None
    assert udp.read_period(1.0, peers=0, media=1) is None  # alone


def test_a_polled_socket_wakes_nobody_and_drain_gives_the_arrival_time() -> None:
    async def go() -> tuple[list[tuple[bytes, float | None]], float, float, bool]:
        port = free_port()
        got: list[tuple[bytes, float | None]] = []
        t = UdpTransport(Medium("ucast", interface="lo", address="127.0.0.1", port=port), port)
        await t.start(lambda data, source, when=None: got.append((data, when)))
        t.set_polled(True)
        loop = asyncio.get_running_loop()
        try:
            registered = loop._selector.get_map().get(t._rx.fileno()) is not None  # type: ignore[attr-defined, union-attr]
            sent = time.monotonic()
            send(port, [HEARTBEAT + b"1", HEARTBEAT + b"2"])
            wait_queued(port)
            for _ in range(3):  # turns of the loop: a reader, were there one, would run
                await asyncio.sleep(0)
            assert got == []
            time.sleep(0.05)  # the datagrams wait in the socket: the age under test
            read = time.monotonic()
            t.drain()
            t.set_polled(False)  # back to readiness: the reader is registered again
            back = loop._selector.get_map().get(t._rx.fileno()) is not None  # type: ignore[attr-defined, union-attr]
            assert back
            return got, sent, read, registered
        finally:
            await t.close()

    got, sent, read, registered = asyncio.run(go())
    assert not registered
    assert [d for d, _ in got] == [HEARTBEAT + b"1", HEARTBEAT + b"2"]
    for _, when in got:
        assert when is not None
        # stamped on arrival (the kernel's clock, within 20 ms of the send), not on reading
        assert sent - 0.02 <= when <= sent + 0.02 < read - 0.02


def test_a_polled_drain_reads_past_a_batch_up_to_its_limit() -> None:
    async def go() -> tuple[bool, int, bool, int]:
        port = free_port()
        got: list[bytes] = []
        t = UdpTransport(Medium("ucast", interface="lo", address="127.0.0.1", port=port), port)
        await t.start(lambda data, source, when=None: got.append(data))
        t.set_polled(True)
        try:
            send(port, [HEARTBEAT] * (udp.BATCH + 5))
            wait_queued(port)
            first = t.drain(limit=udp.BATCH)  # stopped at its limit: more waits
            n = len(got)
            rest = t.drain()  # a daemon that got no CPU for a while reads it all at once
            return first, n, rest, len(got)
        finally:
            await t.close()

    assert asyncio.run(go()) == (False, udp.BATCH, True, udp.BATCH + 5)
