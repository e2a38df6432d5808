"""The floating address: IPaddr / IPaddr2, native, via netlink, with gratuitous ARP."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from dataclasses import dataclass
from typing import Any

from hapulse.resources.agent import LogFn, Result

ETH_P_ARP = 0x0806
GARP_COUNT = 5
GARP_INTERVAL = 0.2
# the running gratuitous-ARP burst per address (also the strong reference the loop lacks)
_BURSTS: dict[str, asyncio.Task[None]] = {}


@dataclass
class Placement:
    ifname: str
    index: int
    prefixlen: int
    broadcast: str | None
    mac: bytes


def arp_frame(mac: bytes, ip: str, op: int) -> bytes:
    """A gratuitous ARP for `ip` from `mac`: op 1 (request) or 2 (reply), broadcast."""
    bcast = b"\xff" * 6
    ipb = socket.inet_aton(ip)
    tha = b"\x00" * 6 if op == 1 else bcast
    eth = bcast + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + mac + ipb + tha + ipb
    return eth + arp + b"\x00" * 18  # pad to the 60-byte minimum


def send_garp(ifname: str, mac: bytes, ip: str) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as s:
        s.bind((ifname, 0))
        s.send(arp_frame(mac, ip, 1))
        s.send(arp_frame(mac, ip, 2))


class IPaddr:
    """``a.b.c.d[/bits[/iface[/broadcast]]]`` on the interface named or the matching subnet."""

    def __init__(self, arg: str, log: LogFn, text: str = "",
                 garp_count: int = GARP_COUNT, garp_interval: float = GARP_INTERVAL) -> None:
        parts = arg.split("/")
        self.address = parts[0]
        self.prefixlen = int(parts[1]) if len(parts) > 1 and parts[1] else None
        self.ifname = parts[2] if len(parts) > 2 and parts[2] else None
        self.broadcast = parts[3] if len(parts) > 3 and parts[3] else None
        self.log = log
        self.text = text or arg
        self.garp_count = garp_count
        self.garp_interval = garp_interval

    def _place(self, ipr: Any) -> Placement | None:
        ip = ipaddress.IPv4Address(self.address)
        links = {link["index"]: link for link in ipr.get_links()}
        for a in ipr.get_addr(family=socket.AF_INET):
            link = links.get(a["index"])
            if link is None:
                continue
            name = link.get_attr("IFLA_IFNAME")
            local = a.get_attr("IFA_ADDRESS")
            if local == self.address:
                continue  # our own floating address
            net = ipaddress.IPv4Network(f"{local}/{a['prefixlen']}", strict=False)
            if self.ifname and name != self.ifname:
                continue
            if self.ifname or ip in net:
                mac = bytes.fromhex((link.get_attr("IFLA_ADDRESS") or "00:00:00:00:00:00")
                                    .replace(":", ""))
                return Placement(name, a["index"], self.prefixlen or a["prefixlen"],
                                 self.broadcast, mac)
        return None

    def _present(self, ipr: Any) -> list[tuple[int, int]]:
        return [(a["index"], a["prefixlen"]) for a in ipr.get_addr(family=socket.AF_INET)
                if a.get_attr("IFA_ADDRESS") == self.address]

    def _add(self) -> tuple[Placement | None, str]:
        """Blocking netlink work (pyroute2's sync API), run in a worker thread."""
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            place = self._place(ipr)
            if place is None:
                where = f"interface {self.ifname}" if self.ifname else "any interface's subnet"
                return None, (f"{self.address}: no place for it ({where} has no IPv4 "
                              "address in that subnet); give the interface: "
                              f"IPaddr::{self.address}/BITS/IFACE")
            if not self._present(ipr):
                kw: dict[str, Any] = {"index": place.index, "address": self.address,
                                      "prefixlen": place.prefixlen}
                if place.broadcast:
                    kw["broadcast"] = place.broadcast
                try:
                    ipr.addr("add", **kw)
                except Exception as exc:  # NetlinkError and friends
                    return None, (f"adding {self.address}/{place.prefixlen} on "
                                  f"{place.ifname} failed: {exc}")
        return place, ""

    async def start(self) -> Result:
        place, why = await asyncio.to_thread(self._add)
        if place is None:
            return Result(False, why, self.text)
        self.log("info", f"IPaddr: {self.address}/{place.prefixlen} added on {place.ifname}")
        old = _BURSTS.pop(self.address, None)
        if old is not None:
            old.cancel()
        burst = asyncio.ensure_future(self._garp(place))
        _BURSTS[self.address] = burst
        burst.add_done_callback(lambda t: _BURSTS.pop(self.address, None) if
                                _BURSTS.get(self.address) is t else None)
        return Result(True, "", self.text)

    async def _garp(self, place: Placement) -> None:
        for i in range(self.garp_count):
            try:
                send_garp(place.ifname, place.mac, self.address)
            except OSError as exc:
                self.log("warning", f"gratuitous ARP for {self.address} on {place.ifname} "
                                    f"failed: {exc}")
                return
            if i + 1 < self.garp_count:
                await asyncio.sleep(self.garp_interval)
        self.log("info", f"IPaddr: sent {self.garp_count} gratuitous ARP (request+reply) for "
                         f"{self.address} on {place.ifname}")

    def _delete(self) -> bool:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            for index, prefixlen in self._present(ipr):
                with contextlib.suppress(Exception):
                    ipr.addr("del", index=index, address=self.address, prefixlen=prefixlen)
            return not self._present(ipr)

    def _here(self) -> bool:
        from pyroute2 import IPRoute

        with IPRoute() as ipr:
            return bool(self._present(ipr))

    async def stop(self) -> Result:
        # the agent that started the address may be another object: the burst is
        # found by address, so no gratuitous ARP claims an address we gave away
        burst = _BURSTS.pop(self.address, None)
        if burst is not None:
            burst.cancel()
        if not await asyncio.to_thread(self._delete):
            return Result(False, f"{self.address} is still configured", self.text)
        self.log("info", f"IPaddr: {self.address} removed")
        return Result(True, "", self.text)

    async def status(self) -> Result:
        here = await asyncio.to_thread(self._here)
        return Result(here, "running" if here else "stopped", self.text)
