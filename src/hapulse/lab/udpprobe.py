"""The client's view of a floating address at 1 ms: a UDP echo on every node, a prober.

- **echo** (:func:`serve_echo`, ``python -m hapulse.lab.udpprobe echo``) runs in every
  node host, bound to ``0.0.0.0:PORT``: it answers each probe with the host's name.
  Only the host holding the floating address receives what is sent to it, so the
  answer names the active node. It answers from the address the probe was sent to
  (``IP_PKTINFO``), as a real service on the address would.
- **prober** (:class:`Prober`, ``python -m hapulse.lab.udpprobe probe VIP``) runs in the
  client host: one datagram every `interval` (1 ms), never more (a slot missed by a
  late wake-up is skipped, not caught up), non-blocking, each with the run's token
  and a sequence number; answers are matched by sequence to their send time. It
  prints *runs* of answers, not every answer: a run is a stretch of answers from one
  node with no silence longer than `split`.

Prober output, one line per event, times in CLOCK_MONOTONIC seconds (shared by every
network namespace, so comparable with the caller's ``time.monotonic()``)::

    A who seq sent recv          the first answer of a run
    T who seq sent recv n        the run goes on (its latest answer, n answers so far),
                                 every `tick` seconds
    E who seq sent recv n        the last answer of a run, once it has ended
    S sent answered stale        at the end: datagrams sent, answered, answers too late

:class:`UdpProbe` reads that from a prober started in a lab host and answers the
questions a benchmark asks (who serves, since when, the gap of a failover).
Every loop here is bounded in time and in count.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from hapulse.lab.host import Host

PORT = 7007
INTERVAL = 0.001
MAGIC = b"HPP1"
REQUEST = struct.Struct("!4sIQ")  # magic, run token, sequence number
MAX_NAME = 64
RING = 1 << 16  # send times kept: 65 s at 1 ms; an older answer is stale
BURST = 64  # datagrams read per wake-up at most (then the clock is looked at again)

# Linux's IP_PKTINFO (Python 3.11's socket module does not name it) and struct in_pktinfo
SOL_IP = 0
IP_PKTINFO = 8
PKTINFO = struct.Struct("=I4s4s")  # ifindex, spec_dst, addr

Clock = Callable[[], float]


def echo_socket(port: int, address: str = "0.0.0.0") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    with contextlib.suppress(OSError):
        sock.setsockopt(SOL_IP, IP_PKTINFO, 1)
    sock.bind((address, port))
    sock.setblocking(False)
    return sock


def _local_address(ancillary: list[tuple[int, int, bytes]]) -> bytes | None:
    for level, kind, data in ancillary:
        if level == SOL_IP and kind == IP_PKTINFO and len(data) >= PKTINFO.size:
            addr: bytes = PKTINFO.unpack_from(data)[2]  # the header's destination address
            return addr
    return None


def serve_echo(sock: socket.socket, name: str, limit: float, max_answers: int,
               clock: Clock = time.monotonic) -> int:
    """Answer probes on `sock` with `name` for `limit` seconds or `max_answers` answers
    (whichever comes first); returns the number of answers sent."""
    reply_name = name.encode()[:MAX_NAME]
    end = clock() + limit
    answered = 0
    while answered < max_answers:
        remaining = end - clock()
        if remaining <= 0:
            break
        ready, _, _ = select.select([sock], [], [], min(remaining, 1.0))
        if not ready:
            continue
        for _ in range(BURST):
            try:
                data, anc, _flags, peer = sock.recvmsg(256, socket.CMSG_SPACE(PKTINFO.size))
            except BlockingIOError:
                break
            except OSError:
                continue
            if len(data) != REQUEST.size or not data.startswith(MAGIC):
                continue
            local = _local_address(anc)
            cmsg = [] if local is None else [(SOL_IP, IP_PKTINFO,
                                              PKTINFO.pack(0, local, bytes(4)))]
            with contextlib.suppress(OSError):
                sock.sendmsg([data, reply_name], cmsg, 0, peer)
            answered += 1
            if answered >= max_answers:
                break
    return answered


@dataclass
class Run:
    """A stretch of answers from one node, with no silence longer than the split."""

    who: str
    first_seq: int
    first_sent: float
    first_recv: float
    last_seq: int
    last_sent: float
    last_recv: float
    count: int
    ended: bool = False


class Prober:
    """Sends one probe every `interval` to `dest`, matches answers by sequence, and
    writes runs of answers to `out` (see the module's text)."""

    def __init__(self, sock: socket.socket, dest: tuple[str, int], out: IO[str],
                 interval: float = INTERVAL, split: float = 0.005, tick: float = 0.05,
                 token: int | None = None, clock: Clock = time.monotonic) -> None:
        if interval < 0.0005:
            raise ValueError("a probe every 0.5 ms at most")
        self.sock, self.dest, self.out = sock, dest, out
        self.interval, self.split, self.tick, self.clock = interval, split, tick, clock
        self.token = token if token is not None else int.from_bytes(os.urandom(4), "big")
        self.sent_at = [0.0] * RING
        self.sent_seq = [-1] * RING
        self.sent = self.answered = self.stale = 0
        self.run: Run | None = None
        sock.setblocking(False)

    def _emit(self, kind: str, r: Run, last: bool = True) -> None:
        if last:
            self.out.write(f"{kind} {r.who} {r.last_seq} {r.last_sent:.6f} "
                           f"{r.last_recv:.6f} {r.count}\n")
        else:
            self.out.write(f"{kind} {r.who} {r.first_seq} {r.first_sent:.6f} "
                           f"{r.first_recv:.6f}\n")
        self.out.flush()

    def _answer(self, seq: int, who: str, now: float) -> None:
        slot = seq % RING
        if self.sent_seq[slot] != seq:
            self.stale += 1
            return
        self.answered += 1
        sent = self.sent_at[slot]
        r = self.run
        if r is not None and r.who == who and now - r.last_recv <= self.split:
            r.last_seq, r.last_sent, r.last_recv = seq, sent, now
            r.count += 1
            return
        if r is not None and not r.ended:
            self._emit("E", r)
        self.run = Run(who, seq, sent, now, seq, sent, now, 1)
        self._emit("A", self.run, last=False)

    def _drain(self) -> None:
        for _ in range(BURST):
            try:
                data = self.sock.recv(256)
            except BlockingIOError:
                return
            except OSError:
                continue
            now = self.clock()
            if len(data) < REQUEST.size or not data.startswith(MAGIC):
                continue
            _, token, seq = REQUEST.unpack_from(data)
            if token != self.token:
                continue
            self._answer(seq, data[REQUEST.size:].decode(errors="replace") or "?", now)

    def run_for(self, limit: float, max_sends: int | None = None) -> None:
        """Probe for `limit` seconds (and at most `max_sends` datagrams)."""
        cap = max_sends if max_sends is not None else int(limit / self.interval) + 1
        start = self.clock()
        end = start + limit
        next_send = start
        next_tick = start + self.tick
        while self.sent < cap:
            now = self.clock()
            if now >= end:
                break
            if now >= next_send:
                slot = self.sent % RING
                self.sent_seq[slot], self.sent_at[slot] = self.sent, now
                with contextlib.suppress(BlockingIOError, OSError):
                    self.sock.sendto(REQUEST.pack(MAGIC, self.token, self.sent), self.dest)
                self.sent += 1
                next_send += self.interval
                if next_send <= now:  # woke up late: skip the missed slots, never a burst
                    next_send = now + self.interval
            self._drain()
            now = self.clock()
            r = self.run
            if r is not None and not r.ended and now - r.last_recv > self.split:
                r.ended = True
                self._emit("E", r)
            if now >= next_tick:
                if r is not None and not r.ended:
                    self._emit("T", r)
                next_tick = now + self.tick
            wait = min(next_send, end) - self.clock()
            if wait > 0:
                select.select([self.sock], [], [], wait)
        self._drain()
        if self.run is not None and not self.run.ended:
            self.run.ended = True
            self._emit("E", self.run)
        self.out.write(f"S {self.sent} {self.answered} {self.stale}\n")
        self.out.flush()


# ---- the caller's side: a prober in a lab host, read ------------------------------

class UdpProbe:
    """The runs of answers a prober (its process `proc`) reports, as they come."""

    def __init__(self, proc: subprocess.Popen[str] | None = None) -> None:
        self.proc = proc
        self.runs: list[Run] = []
        self.summary: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        if proc is not None:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            self.feed(line)

    def feed(self, line: str) -> None:
        """One line of the prober's output."""
        w = line.split()
        with self._lock:
            if len(w) == 5 and w[0] == "A":
                seq, sent, recv = int(w[2]), float(w[3]), float(w[4])
                self.runs.append(Run(w[1], seq, sent, recv, seq, sent, recv, 1))
            elif len(w) == 6 and w[0] in "TE" and self.runs and self.runs[-1].who == w[1]:
                r = self.runs[-1]
                r.last_seq, r.last_sent, r.last_recv = int(w[2]), float(w[3]), float(w[4])
                r.count = int(w[5])
                r.ended = w[0] == "E"
            elif len(w) == 4 and w[0] == "S":
                self.summary = (int(w[1]), int(w[2]), int(w[3]))

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)

    def _runs(self) -> list[Run]:
        with self._lock:
            return [Run(**vars(r)) for r in self.runs]

    def first_from(self, who: str, since: float) -> float | None:
        """When the first answer from `who` at or after `since` arrived (None: none yet)."""
        for r in self._runs():
            if r.who == who and r.last_recv >= since:
                return max(r.first_recv, since) if r.first_recv < since else r.first_recv
        return None

    def seen(self, who: str, since: float) -> bool:
        return self.first_from(who, since) is not None

    def last_from(self, who: str, before: float) -> float | None:
        """When the last answer from `who` at or before `before` arrived."""
        best = None
        for r in self._runs():
            if r.who == who and r.first_recv <= before:
                t = r.last_recv if r.last_recv <= before else before
                best = t if best is None else max(best, t)
        return best

    def gap(self, t0: float, old: str, new: str) -> tuple[float, float]:
        """From t0 (a failure, a command): (time to the first answer from `new`, the
        client's gap: from the last answer by `old` to the first by `new`)."""
        first_new = self.first_from(new, t0)
        if first_new is None:
            raise RuntimeError(f"no answer from {new} since the event")
        last_old = self.last_from(old, first_new)
        return first_new - t0, first_new - (t0 if last_old is None else last_old)

    def steady(self, who: str, need: float, now: float | None = None) -> bool:
        """`who` alone has answered for the last `need` seconds, without a silence
        longer than the split (and its latest answer is recent)."""
        now = time.monotonic() if now is None else now
        runs = self._runs()
        if not runs:
            return False
        r = runs[-1]
        return (r.who == who and not r.ended and r.first_recv <= now - need
                and r.last_recv >= now - 0.5)

    def answers_from(self, who: str, since: float) -> int:
        """Answers from `who` in the runs that went on after `since` (whole runs)."""
        return sum(r.count for r in self._runs() if r.who == who and r.last_recv >= since)


def _py(args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "hapulse.lab.udpprobe", *args]


def _rt(argv: list[str], rt: bool) -> list[str]:
    # SCHED_FIFO: the client's and the echo's own wake-ups are not what is measured
    return ["chrt", "-f", "50", *argv] if rt and os.path.exists("/usr/bin/chrt") else argv


def start_echo(host: Host, port: int = PORT, limit: float = 3600, rt: bool = True,
               ready_timeout: float = 30) -> subprocess.Popen[str]:
    """The echo service in `host` (bound to 0.0.0.0:port), once it is listening."""
    p: subprocess.Popen[str] = host.popen(
        _rt(_py(["echo", "--port", str(port), "--limit", str(limit)]), rt),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert p.stdout is not None
    ready, _, _ = select.select([p.stdout], [], [], ready_timeout)
    line = p.stdout.readline() if ready else ""
    if not line.startswith("ready"):
        host.kill(p)
        raise RuntimeError(f"{host.name}: the UDP echo did not start")
    return p


def start_probe(client: Host, vip: str, port: int = PORT, interval: float = INTERVAL,
                limit: float = 3600, rt: bool = True) -> UdpProbe:
    """A prober in `client` sending to vip:port every `interval` (bounded by `limit` s)."""
    return UdpProbe(client.popen(
        _rt(_py(["probe", vip, "--port", str(port), "--interval", str(interval),
                 "--limit", str(limit)]), rt),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hapulse.lab.udpprobe", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo", help="answer probes with this host's name")
    e.add_argument("--port", type=int, default=PORT)
    e.add_argument("--name", default=None, help="default: the host name")
    e.add_argument("--limit", type=float, default=3600.0, help="seconds to run")
    q = sub.add_parser("probe", help="one datagram every --interval to ADDRESS")
    q.add_argument("address")
    q.add_argument("--port", type=int, default=PORT)
    q.add_argument("--interval", type=float, default=INTERVAL)
    q.add_argument("--limit", type=float, default=3600.0, help="seconds to run")
    a = p.parse_args(argv)
    if a.cmd == "echo":
        sock = echo_socket(a.port)
        print("ready", flush=True)
        serve_echo(sock, a.name or socket.gethostname(), a.limit,
                   max_answers=int(a.limit * 2000) + 1)
        return 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    Prober(sock, (a.address, a.port), sys.stdout, interval=a.interval).run_for(a.limit)
    return 0


__all__ = ["INTERVAL", "PORT", "Prober", "Run", "UdpProbe", "echo_socket", "serve_echo",
           "start_echo", "start_probe"]

if __name__ == "__main__":
    sys.exit(main())
