"""UDP media over IPv4: ``ucast``, ``bcast`` and ``mcast``.

- ``ucast IFACE ADDR``: sends to ADDR:udpport out of IFACE (SO_BINDTODEVICE)
  from an ephemeral port; receives on udpport bound to IFACE.
- ``bcast IFACE``: sends to the interface's broadcast address.
- ``mcast IFACE GROUP PORT TTL LOOP``: joins GROUP on IFACE.

Send errors are counted and logged once, never raised into the daemon's loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import socket
import struct

from hapulse.config import Medium
from hapulse.transports.base import Counters, OnPacket

log = logging.getLogger("hapulse")

SIOCGIFADDR = 0x8915
SIOCGIFBRDADDR = 0x8919
SIOCGIFNETMASK = 0x891B


def broadcast_address(iface: str) -> str:
    """The interface's broadcast address, computed from address and mask if unset."""
    brd = _ifaddr(iface, SIOCGIFBRDADDR)
    if brd and brd != "0.0.0.0":
        return brd
    addr, mask = _ifaddr(iface, SIOCGIFADDR), _ifaddr(iface, SIOCGIFNETMASK)
    if not addr or not mask:
        return "255.255.255.255"
    a = struct.unpack("!I", socket.inet_aton(addr))[0]
    m = struct.unpack("!I", socket.inet_aton(mask))[0]
    return socket.inet_ntoa(struct.pack("!I", (a & m) | (~m & 0xFFFFFFFF)))


RCVBUF = 4 << 20  # bytes: a stalled daemon (a busy machine, a big cluster) loses no heartbeats


def _big_receive_buffer(s: socket.socket) -> None:
    """A receive buffer for seconds of traffic, past net.core.rmem_max when root may."""
    so_rcvbufforce = getattr(socket, "SO_RCVBUFFORCE", 33)
    try:
        s.setsockopt(socket.SOL_SOCKET, so_rcvbufforce, RCVBUF)
    except OSError:
        with contextlib.suppress(OSError):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)


def _ifaddr(iface: str, request: int) -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            res = fcntl.ioctl(s.fileno(), request, struct.pack("256s", iface.encode()[:15]))
        except OSError:
            return None
    return socket.inet_ntoa(res[20:24])


class UdpTransport:
    def __init__(self, medium: Medium, udpport: int) -> None:
        self.medium = medium
        self.kind: str = medium.kind
        self.link: str = medium.link
        self.port: int = medium.port or udpport
        self.counters = Counters()
        self._rx: socket.socket | None = None
        self._tx: socket.socket | None = None
        self._dest: tuple[str, int] | None = None
        self._local_addrs: set[str] = set()
        self._on_packet: OnPacket | None = None
        self._warned = False

    def _bind_device(self, s: socket.socket) -> None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.link.encode() + b"\0")

    async def start(self, on_packet: OnPacket) -> None:
        self._on_packet = on_packet
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        _big_receive_buffer(rx)
        with contextlib.suppress(OSError):
            self._bind_device(rx)
        if self.kind == "mcast":
            group = str(self.medium.address)
            rx.bind((group, self.port))
            local = _ifaddr(self.link, SIOCGIFADDR) or "0.0.0.0"
            mreq = socket.inet_aton(group) + socket.inet_aton(local)
            rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        else:
            rx.bind(("", self.port))
        rx.setblocking(False)
        self._rx = rx

        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):
            self._bind_device(tx)
        if self.kind == "ucast":
            self._dest = (str(self.medium.address), self.port)
        elif self.kind == "bcast":
            tx.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            self._dest = (broadcast_address(self.link), self.port)
        else:
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, int(self.medium.ttl or 1))
            tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(self.medium.loop or 0))
            out_if = _ifaddr(self.link, SIOCGIFADDR)
            if out_if:
                tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(out_if))
            self._dest = (str(self.medium.address), self.port)
        tx.setblocking(False)
        self._tx = tx
        addr = _ifaddr(self.link, SIOCGIFADDR)
        if addr:
            self._local_addrs.add(addr)
        asyncio.get_running_loop().add_reader(rx.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._rx is not None and self._on_packet is not None
        for _ in range(64):
            try:
                data, (addr, port) = self._rx.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.counters.errors += 1
                return
            if addr in self._local_addrs and self.kind != "ucast":
                continue  # our own broadcast/multicast
            self.counters.packets_in += 1
            self.counters.bytes_in += len(data)
            self._on_packet(data, f"{addr}:{port}")

    def send(self, data: bytes) -> None:
        if self._tx is None or self._dest is None:
            return
        try:
            self._tx.sendto(data, self._dest)
        except OSError as exc:
            self.counters.errors += 1
            if not self._warned:
                self._warned = True
                log.warning("%s %s: cannot send to %s: %s (further errors counted)",
                            self.kind, self.link, self._dest[0], exc)
            return
        self._warned = False
        self.counters.packets_out += 1
        self.counters.bytes_out += len(data)

    async def close(self) -> None:
        if self._rx is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._rx.fileno())
            self._rx.close()
        if self._tx is not None:
            self._tx.close()
