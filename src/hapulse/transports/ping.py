"""ICMP echo to ha.cf's ping nodes (asyncio edge of :mod:`hapulse.membership.ping`).

Heartbeat's ``ping`` medium sends one ICMP echo request to each ping node
every keepalive (it piggybacks on each outgoing heartbeat) and counts an
echo reply carrying its identifier as a heartbeat from that node; its
``ping_group NAME addr...`` sends to every member and counts a reply
from any of them as one from NAME. This module does the same and reports
each valid reply through ``on_reply(node_name, now)``; the liveness
decision (``deadping``) is :class:`hapulse.membership.ping.PingTracker`'s.

Sockets: a raw ICMP socket when allowed (root, or CAP_NET_RAW), else an
unprivileged ICMP datagram socket (``net.ipv4.ping_group_range``); the
kernel then picks the echo identifier. A reply counts only if it is an
echo reply to one of the last :data:`WINDOW` requests sent to that very
address, with the identifier and the random payload of that request,
answered once: a forged, replayed or duplicated reply refreshes nothing.

    targets = ping_targets([("ping", ("192.168.1.1",)),
                            ("ping_group", ("routers", "10.0.0.1", "10.0.0.2"))])
    t = PingTransport(targets, on_reply)
    await t.start()
    t.send()          # once per keepalive
    await t.close()
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket
import struct
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

ICMP_ECHO_REPLY = 0
ICMP_ECHO_REQUEST = 8
WINDOW = 64  # requests per address whose replies are still accepted
_PAYLOAD_TAG = b"hapulse\0"
_HEADER = struct.Struct("!BBHHH")  # type, code, checksum, identifier, sequence

OnReply = Callable[[str, float], None]
LogFn = Callable[[str, str], None]


@dataclass(frozen=True)
class PingTarget:
    """One ping node: its node name and the addresses whose replies count for it."""

    name: str  # the address for `ping`, the group name for `ping_group`
    addresses: tuple[str, ...]


def ping_targets(directives: Iterable[tuple[str, Sequence[str]]]) -> tuple[PingTarget, ...]:
    """The ping nodes of ha.cf's ``ping`` and ``ping_group`` lines (name, args); pure.

    ``ping 10.0.0.254 10.0.1.254`` gives two nodes named by their address;
    ``ping_group routers 10.0.0.254 10.0.1.254`` one node named ``routers``.
    Names are lowercased as Heartbeat does. Other directives are ignored.
    ValueError for a ping_group without members or a repeated node name.
    """
    out: list[PingTarget] = []
    for name, args in directives:
        if name == "ping":
            out.extend(PingTarget(a.lower(), (a,)) for a in args)
        elif name == "ping_group":
            if len(args) < 2:
                raise ValueError(f"ping_group {' '.join(args)}: needs a name and an address")
            out.append(PingTarget(args[0].lower(), tuple(args[1:])))
    names = [t.name for t in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"ping node named twice: {', '.join(dup)}")
    return tuple(out)


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def echo_request(ident: int, seq: int, payload: bytes) -> bytes:
    """An ICMP echo request with its checksum."""
    head = _HEADER.pack(ICMP_ECHO_REQUEST, 0, 0, ident, seq)
    return _HEADER.pack(ICMP_ECHO_REQUEST, 0, checksum(head + payload), ident, seq) + payload


class PingTransport:
    """Sends echo requests to every ping node's addresses; reports valid replies."""

    def __init__(self, targets: Sequence[PingTarget], on_reply: OnReply,
                 log: LogFn | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.targets = tuple(targets)
        self._on_reply = on_reply
        self._log = log or (lambda level, text: None)
        self._clock = clock
        self._sock: socket.socket | None = None
        self._raw = False
        self._ident = os.getpid() & 0xFFFF
        self._seq = 0
        # resolved address -> the nodes it answers for (a `ping` and a ping_group may share one)
        self._owner: dict[str, tuple[str, ...]] = {}
        # (address, seq) -> payload of a request not yet answered, oldest first
        self._pending: OrderedDict[tuple[str, int], bytes] = OrderedDict()
        self._failing: set[str] = set()  # addresses whose last send failed (logged once)
        self.sent = 0
        self.replies = 0

    @property
    def mode(self) -> str:
        """``raw`` or ``dgram``: which kind of ICMP socket is in use."""
        return "raw" if self._raw else "dgram"

    async def start(self) -> None:
        """Resolve the addresses and open the socket; OSError if neither kind opens."""
        loop = asyncio.get_running_loop()
        for t in self.targets:
            for a in t.addresses:
                addr = await _resolve(loop, a)
                if t.name not in self._owner.get(addr, ()):
                    self._owner[addr] = (*self._owner.get(addr, ()), t.name)
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
            self._raw = True
        except PermissionError:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            self._raw = False
        sock.setblocking(False)
        self._sock = sock
        loop.add_reader(sock.fileno(), self._readable)

    def send(self) -> None:
        """One echo request to every address of every ping node (call once per keepalive)."""
        sock = self._sock
        if sock is None:
            return
        self._seq = (self._seq + 1) & 0xFFFF
        for addr in self._owner:
            payload = _PAYLOAD_TAG + os.urandom(8)
            key = (addr, self._seq)
            self._pending.pop(key, None)
            self._pending[key] = payload
            try:
                sock.sendto(echo_request(self._ident, self._seq, payload), (addr, 0))
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EWOULDBLOCK) and addr not in self._failing:
                    self._failing.add(addr)
                    self._log("error", f"ping {', '.join(self._owner[addr])}: cannot send to "
                                       f"{addr}: {e.strerror or e}")
                continue
            self._failing.discard(addr)
            self.sent += 1
        while len(self._pending) > WINDOW * max(1, len(self._owner)):
            self._pending.popitem(last=False)

    def _readable(self) -> None:
        sock = self._sock
        for _ in range(256):  # bounded: the rest waits for the next wake-up
            if sock is None:
                return
            try:
                data, (source, _port) = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # an ICMP error queued on the socket: nothing to count
                continue
            self._packet(data, source)

    def _packet(self, data: bytes, source: str) -> None:
        if self._raw:
            if len(data) < 20:
                return
            data = data[(data[0] & 0x0F) * 4:]
        if len(data) < _HEADER.size:
            return
        kind, _code, _sum, ident, seq = _HEADER.unpack_from(data)
        if kind != ICMP_ECHO_REPLY or (self._raw and ident != self._ident):
            return
        payload = self._pending.get((source, seq))
        if payload is None or data[_HEADER.size:] != payload:
            return  # not ours, answered already, too old, or forged
        del self._pending[(source, seq)]
        self.replies += 1
        now = self._clock()
        for node in self._owner[source]:
            self._on_reply(node, now)

    async def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            asyncio.get_running_loop().remove_reader(sock.fileno())
            sock.close()


async def _resolve(loop: asyncio.AbstractEventLoop, host: str) -> str:
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        infos = await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_RAW)
        return str(infos[0][4][0])
