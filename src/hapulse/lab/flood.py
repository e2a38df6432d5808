"""A garbage flood on the heartbeat port, from a third host on the heartbeat link.

:func:`flood_lab` is the seed's topology with the heartbeat link on a switch
(a bridge in its own namespace) and a third host, ``mallory``
(10.0.0.66/24), plugged into it. :func:`start_flood` runs this module as a
program inside ``mallory``: UDP datagrams to one address and port, each
with a random source port (a raw socket writing its own IP and UDP headers),
as fast as the host can send or paced to ``rate`` packets per second,
stopping by itself after ``seconds`` (at most :data:`MAX_SECONDS`) or
``count`` packets. It prints one JSON line: packets sent and the time taken.

The payloads: ``random`` bytes that cannot be a Heartbeat message, and
``prefixed`` ones, ``###\\n`` and random bytes, that pass every cheap check
and reach the decoder. ``spoof`` writes another source address (the peer's,
to get past ucast's source check): the lab only, the address must be inside
the lab's own heartbeat subnet.

    python -m hapulse.lab.flood --dst 10.0.0.2 --seconds 30 --prefixed 0.5 --spoof 10.0.0.1
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
import random
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hapulse.lab.host import Host
from hapulse.lab.topology import Lab

MAX_SECONDS = 300.0
LAB_NET = ipaddress.ip_network("10.0.0.0/24")  # the seed's heartbeat subnet
MALLORY = "10.0.0.66"
POOL = 512  # distinct payloads, cycled


def flood_lab(prefix: str, workdir: Path | None = None) -> Lab:
    """The seed's topology (f801, f802, client on the LAN switch) with the heartbeat link
    on a switch, and `mallory` (eth0 10.0.0.66/24) on it."""
    lab = Lab(prefix, workdir)
    try:
        f801, f802 = lab.add_host("f801"), lab.add_host("f802")
        client, mallory = lab.add_host("client"), lab.add_host("mallory")
        hb, lan = lab.add_switch("hb"), lab.add_switch("lan")
        lab.plug(f801, "eth1", hb)
        lab.plug(f802, "eth2", hb)
        lab.plug(mallory, "eth0", hb)
        lab.plug(f801, "eth0", lan)
        lab.plug(f802, "eth1", lan)
        lab.plug(client, "eth0", lan)
        f801.add_address("eth0", "192.168.1.110/24")
        f801.add_address("eth1", "10.0.0.1/24")
        f802.add_address("eth1", "192.168.1.111/24")
        f802.add_address("eth2", "10.0.0.2/24")
        client.add_address("eth0", "192.168.1.50/24")
        mallory.add_address("eth0", f"{MALLORY}/24")
    except BaseException:
        lab.close()
        raise
    return lab


@dataclass(frozen=True)
class FloodResult:
    sent: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


def start_flood(host: Host, dst: str, *, seconds: float, rate: float = 0, port: int = 694,
                prefixed: float = 0.0, spoof: str | None = None,
                count: int = 0) -> subprocess.Popen[Any]:
    """Start the flood in `host` (its process is tracked by the host; read it with
    :func:`flood_result`)."""
    argv = [sys.executable, "-m", "hapulse.lab.flood", "--dst", dst, "--port", str(port),
            "--seconds", str(seconds), "--rate", str(rate), "--prefixed", str(prefixed),
            "--count", str(count)]
    if spoof:
        argv += ["--spoof", spoof]
    return host.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def flood_result(proc: subprocess.Popen[Any], timeout: float) -> FloodResult:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"the flood failed ({proc.returncode}): {err.strip()}")
    data = json.loads(out.strip().splitlines()[-1])
    return FloodResult(int(data["sent"]), float(data["seconds"]))


def _payloads(prefixed: float, rng: random.Random) -> list[bytes]:
    out = []
    for i in range(POOL):
        size = rng.randrange(16, 400)
        body = rng.randbytes(size)
        if i < round(prefixed * POOL):
            body = b"###\n" + body  # past the kernel's filter: the decoder's work
        elif body[:4] in (b"###\n", b">>>\n"):
            body = b"\0" + body
        out.append(body)
    rng.shuffle(out)
    return out


def _ip_header(src: str, dst: str, total: int) -> bytes:
    # IP_HDRINCL: the kernel fills in the checksum (and the id, left 0)
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))


def flood(dst: str, port: int, seconds: float, rate: float, prefixed: float, spoof: str | None,
          count: int, seed: int | None = None) -> FloodResult:
    """Send until `seconds` pass or `count` packets (0: no count) went; `rate` 0 is flat out."""
    seconds = min(seconds, MAX_SECONDS)
    for addr in (dst, spoof):
        if addr is not None and ipaddress.ip_address(addr) not in LAB_NET:
            raise ValueError(f"{addr} is outside the lab's heartbeat subnet {LAB_NET}")
    rng = random.Random(seed)
    src = spoof or MALLORY
    packets = []
    for body in _payloads(prefixed, rng):
        udp_len = 8 + len(body)
        packets.append((_ip_header(src, dst, 20 + udp_len), udp_len, body))
    ports = [rng.randrange(1024, 65536) for _ in range(4099)]  # prime: cycles apart
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    target = (dst, 0)
    pack, send, clock = struct.pack, s.sendto, time.monotonic
    sent, start = 0, clock()
    end = start + seconds
    batch = 64 if rate <= 0 else max(1, int(rate / 1000))
    n_pk, n_po = len(packets), len(ports)
    try:
        while True:
            now = clock()
            if now >= end or (count and sent >= count):
                break
            if rate > 0 and sent > (now - start) * rate:
                time.sleep(min(0.001, end - now))
                continue
            for _ in range(batch):
                ip, udp_len, body = packets[sent % n_pk]
                try:
                    send(ip + pack("!HHHH", ports[sent % n_po], port, udp_len, 0) + body,
                         target)
                except OSError as exc:  # a full device queue: that one is not sent, not counted
                    if exc.errno not in (errno.ENOBUFS, errno.EAGAIN):
                        raise
                else:
                    sent += 1
    finally:
        s.close()
    return FloodResult(sent, clock() - start)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="hapulse.lab.flood", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dst", required=True)
    p.add_argument("--port", type=int, default=694)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=0.0, help="packets/s (0: as fast as it can)")
    p.add_argument("--prefixed", type=float, default=0.0,
                   help="share of payloads starting with ###\\n (past the kernel filter)")
    p.add_argument("--spoof", help="source address to write (inside the lab's subnet)")
    p.add_argument("--count", type=int, default=0)
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        print("hapulse.lab.flood: needs root (a raw socket), in a lab host", file=sys.stderr)
        return 1
    r = flood(a.dst, a.port, a.seconds, a.rate, a.prefixed, a.spoof, a.count)
    print(json.dumps({"sent": r.sent, "seconds": round(r.seconds, 3), "rate": round(r.rate)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
