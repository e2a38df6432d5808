"""Does anyone on the LAN still answer for this address? (an RFC 5227 ARP probe)

Before a node takes over a dead peer's address, with ping nodes configured
(the LAN is what matters), it asks the LAN who has the address: an ARP
request from 0.0.0.0, as ``arping -D`` sends, a few times. A holder that is
alive on the LAN, but cut off from the heartbeat path or frozen, answers
from its kernel; the takeover is then refused as *contested* instead of
putting the address on two hosts. A dead or unplugged holder answers
nothing and the probe costs `attempts * interval` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import socket
import struct
import time

ETH_P_ARP = 0x0806
SIOCGIFADDR = 0x8915
SIOCGIFNETMASK = 0x891B
SIOCGIFHWADDR = 0x8927
ATTEMPTS = 3
INTERVAL = 0.05  # seconds between probes; the whole probe waits ATTEMPTS * INTERVAL


def _ioctl(ifname: str, request: int) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            return fcntl.ioctl(s.fileno(), request, struct.pack("256s", ifname.encode()[:15]))
        except OSError:
            return None


def interface_for(address: str) -> str | None:
    """The interface whose IPv4 subnet holds `address` (as the native IPaddr chooses)."""
    target = ipaddress.IPv4Address(address)
    for _, name in socket.if_nameindex():
        addr, mask = _ioctl(name, SIOCGIFADDR), _ioctl(name, SIOCGIFNETMASK)
        if addr is None or mask is None:
            continue
        local = socket.inet_ntoa(addr[20:24])
        if local == address:
            continue
        net = ipaddress.IPv4Network(f"{local}/{socket.inet_ntoa(mask[20:24])}", strict=False)
        if target in net and net.prefixlen < 32:
            return name
    return None


def probe_frame(mac: bytes, address: str) -> bytes:
    """An ARP probe: who has `address`? from MAC `mac` and IP 0.0.0.0 (RFC 5227)."""
    eth = b"\xff" * 6 + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + mac + b"\0" * 4 + b"\0" * 6 + \
        socket.inet_aton(address)
    return eth + arp + b"\0" * 18


def answered_by(frame: bytes, address: str, mine: bytes) -> str | None:
    """The sender's MAC if `frame` is an ARP packet from another host claiming `address`."""
    if len(frame) < 42 or frame[12:14] != struct.pack("!H", ETH_P_ARP):
        return None
    sha, spa = frame[22:28], frame[28:32]
    if spa != socket.inet_aton(address) or sha == mine:
        return None
    return ":".join(f"{b:02x}" for b in sha)


def _probe(address: str, ifname: str, attempts: int, interval: float) -> str | None:
    hw = _ioctl(ifname, SIOCGIFHWADDR)
    if hw is None:
        return None
    mac = hw[18:24]
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as s:
        s.bind((ifname, ETH_P_ARP))
        s.settimeout(interval)
        frame = probe_frame(mac, address)
        for _ in range(attempts):
            s.send(frame)
            until = time.monotonic() + interval
            for _ in range(1000):  # bounded: frames within this interval
                left = until - time.monotonic()
                if left <= 0:
                    break
                s.settimeout(left)
                try:
                    data = s.recv(2048)
                except (TimeoutError, BlockingIOError):
                    break
                who = answered_by(data, address, mac)
                if who is not None:
                    return who
    return None


async def probe(address: str, ifname: str | None = None, attempts: int = ATTEMPTS,
                interval: float = INTERVAL) -> str | None:
    """The MAC of a host that answers for `address`, or None (nobody; or no interface)."""
    name = ifname or interface_for(address)
    if name is None:
        return None
    with contextlib.suppress(OSError):
        return await asyncio.to_thread(_probe, address, name, attempts, interval)
    return None
