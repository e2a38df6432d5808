"""The kernel filter on the UDP media: what cannot be a Heartbeat message, or (ucast) comes
from no configured peer, never reaches the daemon, and is counted.

Real sockets on the loopback interface (127.0.0.2 plays a stranger: lo holds all of 127/8).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence

from hapulse.config import Medium
from hapulse.transports.udp import UdpTransport, heartbeat_filter

HEARTBEAT = b"###\n11:(0)t=status,%%%\n42:2 0123,"
CLASSIC = b">>>\nt=status\n<<<\n"
GARBAGE = (b"", b"###\n", b"###\n%%%", b"\x00" * 300, b"GET / HTTP/1.0\r\n\r\n", b"##\n#" * 9,
           b"%%%\n###\n")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def send_from(source: str, port: int, packets: Sequence[bytes]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))  # an ephemeral source port, as Heartbeat's peers send
        for p in packets:
            s.sendto(p, ("127.0.0.1", port))


def receive(media: Sequence[Medium], port: int,
            sends: Sequence[tuple[str, Sequence[bytes]]]) -> tuple[list[bytes], int]:
    """Start transports for `media`, send each batch, end with a marker from 127.0.0.2 that
    every filter here takes; what the daemon would get (in order), and the kernel's drops.
    (bcast and mcast skip datagrams from their own address, 127.0.0.1: their own sends.)"""
    marker = b"###\nmarker%%%\n"

    async def go() -> tuple[list[bytes], int]:
        got: list[bytes] = []
        done = asyncio.Event()

        def on_packet(data: bytes, source: str, when: float | None = None) -> None:
            got.append(data)
            if data == marker:
                done.set()

        ts = [UdpTransport(m, port) for m in media]
        for t in ts:
            await t.start(on_packet)
        try:
            for source, packets in sends:
                send_from(source, port, packets)
            send_from("127.0.0.2", port, [marker])
            await asyncio.wait_for(done.wait(), 5)
            drops = sum(t.counters.kernel_drops for t in ts)
        finally:
            for t in ts:
                await t.close()
        return [g for g in got if g != marker], drops

    return asyncio.run(go())


def ucast(addr: str, port: int) -> Medium:
    return Medium("ucast", interface="lo", address=addr, port=port)


def test_only_what_could_be_a_heartbeat_message_reaches_the_daemon() -> None:
    port = free_port()
    got, drops = receive([Medium("bcast", interface="lo", port=port)], port,
                         [("127.0.0.2", [*GARBAGE, HEARTBEAT, CLASSIC])])
    assert got == [HEARTBEAT, CLASSIC]  # bcast: any host on the link may be a peer
    assert drops == len(GARBAGE)


def test_ucast_takes_datagrams_from_its_peer_only_whatever_the_source_port() -> None:
    port = free_port()
    got, drops = receive([ucast("127.0.0.2", port)], port,
                         [("127.0.0.3", [HEARTBEAT] * 5), ("127.0.0.2", [HEARTBEAT, b"junk!!!!!"])])
    assert got == [HEARTBEAT]
    assert drops == 6


def test_two_ucast_lines_on_one_interface_take_both_peers() -> None:
    # a shared ha.cf names both nodes; the sockets share the port and either may receive
    port = free_port()
    got, drops = receive([ucast("127.0.0.2", port), ucast("127.0.0.4", port)], port,
                         [("127.0.0.4", [HEARTBEAT]), ("127.0.0.3", [HEARTBEAT])])
    assert got == [HEARTBEAT]
    assert drops == 1


def test_the_program_without_peers_checks_no_address() -> None:
    prog = heartbeat_filter()
    with_peers = heartbeat_filter(["10.0.0.1", "10.0.0.1", "10.0.0.3"])
    assert len(with_peers) == len(prog) + 3  # one load, one test per distinct peer
    assert prog[-1].k == 0 and prog[-2].k == 0xFFFFFFFF
