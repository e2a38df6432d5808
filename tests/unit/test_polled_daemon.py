"""The daemon's polled reading (transports.udp.read_period): chosen from the timers and
the cluster's size, changed by a reload, and a heartbeat read late counts from its arrival.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from pathlib import Path

from factories import solo_daemon, solo_ha_cf

from hapulse.membership import Membership, Timers
from hapulse.wire.auth import Authenticator

PEER_AUTH = Authenticator("sha1", 1, b"k")
FAST = solo_ha_cf(keepalive="10ms", warntime="20ms", deadtime="30ms", initdead="1")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peer_heartbeats(n: int) -> list[bytes]:
    core = Membership("peer", ("solo", "peer"), ("lo",), Timers(0.01, 0.03, 0.02, 1.0),
                      generation=8, uuid=b"p" * 16, now=0.0, clock_offset=1.8e9)
    return [PEER_AUTH.sign_and_encode(core.heartbeat(i * 0.01)) for i in range(n)]


def test_a_heartbeat_read_late_counts_from_its_arrival(tmp_path: Path) -> None:
    d = solo_daemon(tmp_path, hacf=FAST)
    beats = peer_heartbeats(3)
    now = d.now()
    d._on_packet(beats[0], "127.0.0.2:694", "lo", now - 0.008)  # waited 8 ms in the socket
    peer = d.node.membership.peers["peer"]
    assert peer.heard == now - 0.008
    # its death is due one deadtime after it arrived, not after it was read
    assert abs(d.node.membership.next_deadline() - min(
        d.node.membership.next_heartbeat, now - 0.008 + 0.02 + 1e-6)) < 1e-9
    # a stamp older than what the node was already fed (another socket, read after) is
    # taken as that time: the core's clock never goes back
    d._on_packet(beats[1], "127.0.0.2:694", "lo", now - 0.009)
    assert peer.heard == now - 0.008
    d._on_packet(beats[2], "127.0.0.2:694", "lo", now - 0.001)
    assert peer.heard == now - 0.001 and peer.high_seq == 3


def test_the_reading_follows_the_timers_and_a_reload(tmp_path: Path) -> None:
    port = free_port()

    async def go() -> list[tuple[float | None, bool, bool]]:
        d = solo_daemon(tmp_path, hacf=solo_ha_cf(keepalive="10ms", warntime="20ms",
                                                   deadtime="30ms", initdead="1",
                                                   udpport=port))
        loop = asyncio.get_running_loop()
        d._loop, d._done = loop, loop.create_future()
        t = d.transports[0]
        await t.start(d._packet_handler(t.link))
        seen = []
        try:
            for hacf in (None, solo_ha_cf(keepalive="1", deadtime="10", udpport=port),
                         solo_ha_cf(keepalive="10ms", warntime="20ms", deadtime="30ms",
                                    initdead="1", udpport=port)):
                if hacf is None:
                    d._choose_reading()
                else:
                    (tmp_path / "ha.cf").write_text(hacf)
                    assert d.reload()["ok"]
                rx = t._rx  # type: ignore[attr-defined]
                registered = loop._selector.get_map().get(rx.fileno()) is not None  # type: ignore[attr-defined]
                seen.append((d._read_period, bool(d._polled), registered))
        finally:
            if d._timer is not None:
                d._timer.cancel()
            await t.close()
            d._done.set_result(None)
        return seen

    assert asyncio.run(go()) == [(0.01, True, False),  # 10 ms: polled, no reader
                                 (None, False, True),  # the seed's 1 s: on readiness
                                 (0.01, True, False)]  # and back


class _Backlog:
    """A polled medium with heartbeats waiting: records what the daemon does, in order."""

    kind, link = "ucast", "lo"

    def __init__(self, daemon_packets: list[bytes], order: list[str]) -> None:
        self.packets, self.order = daemon_packets, order
        self.on_packet: Callable[..., None] | None = None

    def drain(self) -> bool:
        assert self.on_packet is not None
        for p in self.packets:
            self.order.append("read")
            self.on_packet(p, "127.0.0.2:694", time.monotonic() - 0.005)
        self.packets = []
        return True

    def send(self, data: bytes) -> None:
        self.order.append("send")


def test_a_daemon_behind_on_its_input_sends_its_heartbeat_before_reading_it(
        tmp_path: Path) -> None:
    async def go() -> list[str]:
        d = solo_daemon(tmp_path, hacf=FAST)
        loop = asyncio.get_running_loop()
        d._loop, d._done = loop, loop.create_future()
        order: list[str] = []
        medium = _Backlog(peer_heartbeats(50), order)
        medium.on_packet = d._packet_handler("lo")
        d.transports = [medium]  # type: ignore[list-item]
        d._polled, d._read_period = [medium], 0.01  # type: ignore[list-item]
        d._on_timer()
        if d._timer is not None:
            d._timer.cancel()
        d._done.set_result(None)
        return order

    order = asyncio.run(go())
    assert order[0] == "send"  # alive first ...
    assert order.count("read") == 50  # ... then the backlog, all of it


def test_a_polled_wake_up_arms_the_timer_once_from_what_the_drain_left(
        tmp_path: Path) -> None:
    """Armed after the beat, before the drain, the timer kept a peer's deadline the drain
    was about to move, and the loop woke up again for nothing: twice per keepalive."""
    async def go() -> tuple[float | None, float]:
        d = solo_daemon(tmp_path, hacf=FAST)
        loop = asyncio.get_running_loop()
        d._loop, d._done = loop, loop.create_future()
        beats = peer_heartbeats(2)
        d._on_packet(beats[0], "127.0.0.2:694", "lo", time.monotonic() - 0.015)
        if d._timer is not None:  # armed at the peer's warntime, 5 ms from now
            d._timer.cancel()
            d._timer = d._armed_at = None
        medium = _Backlog([beats[1]], [])  # its next heartbeat waits in the socket
        medium.on_packet = d._packet_handler("lo")
        d.transports = [medium]  # type: ignore[list-item]
        d._polled, d._read_period = [medium], 0.01  # type: ignore[list-item]
        d._on_timer()
        armed = d._armed_at
        due = min(d.node.next_deadline(d.now()), d._next_read)
        if d._timer is not None:
            d._timer.cancel()
        d._done.set_result(None)
        return armed, due

    armed, due = asyncio.run(go())
    assert armed is not None and armed >= due - 1e-6
