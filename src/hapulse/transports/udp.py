"""UDP media over IPv4: ``ucast``, ``bcast`` and ``mcast``.

- ``ucast IFACE ADDR``: sends to ADDR:udpport out of IFACE (SO_BINDTODEVICE)
  from an ephemeral port; receives on udpport bound to IFACE.
- ``bcast IFACE``: sends to the interface's broadcast address.
- ``mcast IFACE GROUP PORT TTL LOOP``: joins GROUP on IFACE.

Send errors are counted and logged once, never raised into the daemon's loop.

Garbage stays off the heartbeat path, cheapest check first: every receive
socket carries a classic BPF filter (built here with ``struct``) so the
kernel drops, before any wake-up or copy, a datagram that Heartbeat 3.0.6
itself could never parse (cluster-glue's ``wirefmt2msg`` takes only a
``###\\n`` netstring or a ``>>>\\n`` classic message) or one shorter than the
smallest message. On ``ucast`` the filter keeps only datagrams from the
configured peers: the addresses of every ``ucast`` line of this process on
the same interface and port (the sockets share the port, so any of them may
receive a peer's packet); peers, Heartbeat included, send from an ephemeral
port, so only the address is checked. ``bcast`` and ``mcast`` peers are any
host on the link: no source check. The kernel's drop count for the socket
(by the filter, or a full receive queue) is read with ``SO_MEMINFO`` into
``counters.kernel_drops`` when the counters are read (a status, a scrape), not
per wake-up; signatures are checked after all that, by the daemon.

Two ways to read, chosen by the daemon (``read_period``):

- *on readiness* (the default): one reader per socket (``loop.add_reader``)
  that reads it with ``drain(BATCH)``; the reader also drains the process's
  other UDP heartbeat sockets, so a peer's heartbeat sent on two media
  (arriving a few µs apart) costs one turn of the event loop, not two.
- *polled* (``set_polled(True)``), when heartbeats arrive faster than one
  per read period (50 to 250 ms, longer as they are more): no reader; the
  daemon calls ``drain()`` on each of its timer's wake-ups (its own
  heartbeat sends, a deadline) and at least every read period. Each datagram
  comes with the kernel's arrival time (``SO_TIMESTAMPNS``, turned into the
  monotonic clock), so a heartbeat that waited in the socket counts from when
  it arrived, not from when it was read: deaths and late heartbeats are judged
  as precisely as on readiness, for one wake-up per period instead of one per
  packet.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import logging
import socket
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

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


# ---- the kernel's filter ---------------------------------------------------
# classic BPF (linux/filter.h): a UDP socket's filter sees the datagram from its UDP header
_LD_W_ABS, _LD_W_LEN, _JEQ_K, _JGE_K, _RET_K = 0x20, 0x80, 0x15, 0x35, 0x06
SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
SO_MEMINFO = 55  # struct sock's memory figures, SK_MEMINFO_DROPS at index 8 (Linux 4.12+)
SKF_NET_OFF = -0x100000  # loads relative to the IP header: the source address is at +12
UDP_HEADER = 8
MIN_MESSAGE = 8  # ">>>\n<<<\n" or "###\n%%%\n": no Heartbeat message is shorter
STARTS = (b"###\n", b">>>\n")  # what cluster-glue's wirefmt2msg takes, nothing else
ACCEPT, DROP = 0xFFFFFFFF, 0


@dataclass(frozen=True)
class Insn:
    """One classic BPF instruction; jumps are relative to the next instruction."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0

    def pack(self) -> bytes:
        return struct.pack("HBBI", self.code, self.jt, self.jf, self.k & 0xFFFFFFFF)


def heartbeat_filter(peers: Sequence[str] = ()) -> list[Insn]:
    """The program: at least a minimal message, starting as Heartbeat's messages start;
    with `peers` (dotted IPv4 addresses), only from one of them."""
    words = [struct.unpack("!I", start)[0] for start in STARTS]
    addrs = [struct.unpack("!I", socket.inet_aton(p))[0] for p in dict.fromkeys(peers)]
    after_starts = 3 + len(words)
    accept = after_starts + (1 + len(addrs) if addrs else 0)
    drop = accept + 1

    def to(target: int, at: int) -> int:  # a jump offset from instruction `at`
        return target - at - 1

    prog = [Insn(_LD_W_LEN), Insn(_JGE_K, 0, to(drop, 1), UDP_HEADER + MIN_MESSAGE),
            Insn(_LD_W_ABS, k=UDP_HEADER)]
    for n, w in enumerate(words):
        at = 3 + n
        last = n == len(words) - 1
        prog.append(Insn(_JEQ_K, to(after_starts, at), to(drop, at) if last else 0, w))
    if addrs:
        prog.append(Insn(_LD_W_ABS, k=SKF_NET_OFF + 12))
        for n, a in enumerate(addrs):
            at = after_starts + 1 + n
            last = n == len(addrs) - 1
            prog.append(Insn(_JEQ_K, to(accept, at), to(drop, at) if last else 0, a))
    prog += [Insn(_RET_K, k=ACCEPT), Insn(_RET_K, k=DROP)]
    assert len(prog) == drop + 1
    return prog


def attach_filter(s: socket.socket, prog: Iterable[Insn]) -> None:
    """SO_ATTACH_FILTER (replaces any filter already there); raises OSError."""
    code = b"".join(i.pack() for i in prog)
    buf = ctypes.create_string_buffer(code, len(code))
    fprog = struct.pack("HL", len(code) // 8, ctypes.addressof(buf))
    s.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


def kernel_drops(s: socket.socket) -> int | None:
    """Datagrams the kernel dropped for this socket (filter or full queue), or None."""
    try:
        raw = s.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, 9 * 4)
    except OSError:
        return None
    return struct.unpack("9I", raw)[8] if len(raw) >= 36 else None


SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # == SCM_TIMESTAMPNS on Linux
_TIMESPEC = struct.Struct("qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
POLL_MIN = 0.05  # s: the read period of polled sockets while heartbeats are few
POLL_MAX = 0.25  # s: the longest: no message waits longer to be read
POLL_RATE = 400.0  # datagrams a second per second of period: the period grows with the rate


def read_period(keepalive: float, peers: int, media: int) -> float | None:
    """How often to read the heartbeat sockets, or None to read them on readiness.

    `peers` peers each sending on `media` media every `keepalive` make
    ``rate`` datagrams a second. The period is min(keepalive, rate / POLL_RATE
    kept within POLL_MIN..POLL_MAX), and the sockets are polled when at least
    one datagram is due per period. The period grows with the rate because on a
    busy machine the cost of a datagram is mostly the caches a wake-up finds
    cold: the first datagram of a wake-up costs ten times the next ones.

    Two nodes at the seed's 1 s: on readiness (few heartbeats, a wake-up each).
    Two nodes on two media at 10 ms: polled every 10 ms, with the node's own
    sends (200 heartbeats in, 100 wake-ups, not 300 a second). 25 nodes at
    1 s: every 60 ms. 100 nodes at 1 s: every 247 ms, 25 datagrams a wake-up
    (at 50 ms, five: the N-node bench's 100 nodes saturated both CPUs and
    logged false deaths; at 247 ms, 69% busy and none)."""
    if keepalive <= 0 or peers <= 0 or media <= 0:
        return None
    rate = peers * media / keepalive
    period = min(keepalive, max(POLL_MIN, min(POLL_MAX, rate / POLL_RATE)))
    return period if rate * period >= 1.0 else None


_UCAST: list[UdpTransport] = []  # the ucast transports of this process, for their peer set
_RECEIVING: list[UdpTransport] = []  # the started transports of this process, drained together
BATCH = 64  # datagrams read per socket per turn of the loop: a flood cannot starve the timer
# datagrams read per polled socket per wake-up: all a full receive buffer holds, so nobody
# is judged silent while their heartbeat still waits unread (a daemon that got no CPU for
# seconds reads it all, each with its arrival time), yet a flood cannot hold the loop
DRAIN_MAX = 8192


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
        self._counters = Counters()
        self._rx: socket.socket | None = None
        self._tx: socket.socket | None = None
        self._dest: tuple[str, int] | None = None
        self._local_addrs: set[str] = set()
        self._on_packet: OnPacket | None = None
        self._warned = False
        self._polled = False
        self._reading = False  # a reader is registered with the loop

    @property
    def counters(self) -> Counters:
        """The counters, the kernel's drop count read now (SO_MEMINFO)."""
        if self._rx is not None:
            drops = kernel_drops(self._rx)
            if drops is not None:
                self._counters.kernel_drops = drops
        return self._counters

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
        with contextlib.suppress(OSError):  # the kernel's arrival time, for polled reads
            rx.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        rx.setblocking(False)
        self._rx = rx
        if self.kind == "ucast":
            _UCAST.append(self)
            for t in self._same_port():
                t._filter()
        else:
            self._filter()

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
        _RECEIVING.append(self)
        self._set_reader()

    def set_polled(self, polled: bool) -> None:
        """Polled: the daemon calls drain(); else a reader wakes on each datagram."""
        self._polled = polled
        self._set_reader()

    def _set_reader(self) -> None:
        if self._rx is None:
            return
        want = not self._polled
        if want == self._reading:
            return
        loop = asyncio.get_running_loop()
        if want:
            loop.add_reader(self._rx.fileno(), self._readable)
        else:
            loop.remove_reader(self._rx.fileno())
        self._reading = want

    def _same_port(self) -> list[UdpTransport]:
        return [t for t in _UCAST if t.link == self.link and t.port == self.port]

    def peers(self) -> list[str]:
        """The addresses this transport takes datagrams from (empty: any)."""
        if self.kind != "ucast":
            return []
        return [str(t.medium.address) for t in self._same_port()]

    def _filter(self) -> None:
        if self._rx is None:
            return
        peers = self.peers()
        try:
            for addr in peers:
                socket.inet_aton(addr)
        except OSError:
            peers = []  # not an IPv4 address: no source check, the prefix check still holds
        try:
            attach_filter(self._rx, heartbeat_filter(peers))
        except OSError as exc:  # no filter: the daemon's checks still hold
            log.warning("%s %s: no kernel packet filter (%s); garbage is dropped after "
                        "reading it", self.kind, self.link, exc)

    def _readable(self) -> None:
        """This socket is readable: read it, then whatever the others have by now
        (at most BATCH datagrams each: a flood cannot starve the timer)."""
        self.drain(BATCH)
        for t in _RECEIVING:
            if t is not self:
                t.drain(BATCH)

    def drain(self, limit: int = DRAIN_MAX) -> bool:
        """Read what waited (up to `limit` datagrams), each with its arrival time on the
        monotonic clock: the kernel's stamp, never later than now (polled mode reads
        a backlog; on readiness it is a few µs old). False: `limit` datagrams were read
        and more may wait."""
        rx, on_packet, counters = self._rx, self._on_packet, self._counters
        if rx is None or on_packet is None:
            return True
        own = self._local_addrs if self.kind != "ucast" else ()
        recvmsg, unpack = rx.recvmsg, _TIMESPEC.unpack
        mono = time.monotonic()
        offset = time.time() - mono  # the kernel stamps on the wall clock
        for _ in range(limit):
            try:
                data, ancillary, _flags, (addr, port) = recvmsg(65535, _ANCILLARY)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                counters.errors += 1
                return True
            if addr in own:
                continue
            when = mono
            for _level, kind, raw in ancillary:
                if kind == SO_TIMESTAMPNS and len(raw) >= _TIMESPEC.size:
                    sec, nsec = unpack(raw[:_TIMESPEC.size])
                    when = min(mono, sec + nsec * 1e-9 - offset)
            counters.packets_in += 1
            counters.bytes_in += len(data)
            on_packet(data, f"{addr}:{port}", when)
        return False

    def send(self, data: bytes) -> None:
        if self._tx is None or self._dest is None:
            return
        try:
            self._tx.sendto(data, self._dest)
        except OSError as exc:
            self._counters.errors += 1
            if not self._warned:
                self._warned = True
                log.warning("%s %s: cannot send to %s: %s (further errors counted)",
                            self.kind, self.link, self._dest[0], exc)
            return
        self._warned = False
        self._counters.packets_out += 1
        self._counters.bytes_out += len(data)

    async def close(self) -> None:
        if self in _RECEIVING:
            _RECEIVING.remove(self)
        if self in _UCAST:
            _UCAST.remove(self)
            for t in self._same_port():
                t._filter()
        if self._rx is not None:
            if self._reading:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_reader(self._rx.fileno())
                self._reading = False
            self._counters = self.counters  # the last drop count, before the socket goes
            self._rx.close()
            self._rx = None
        if self._tx is not None:
            self._tx.close()
