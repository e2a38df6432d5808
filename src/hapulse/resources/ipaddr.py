"""The floating address: IPaddr / IPaddr2, native, via netlink, with gratuitous ARP."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hapulse.config.ipaddr_arg import (
    IPaddrArg,
    IPaddrArgError,
    ipaddr_arg_from_params,
    parse_ipaddr_arg,
)
from hapulse.resources.agent import LogFn, Result
from hapulse.resources.netlink import iproute_class

if TYPE_CHECKING:  # pyroute2's netlink objects (the library has no type hints)
    from pyroute2 import IPRoute
    from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
    from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg

ETH_P_ARP = 0x0806
GARP_COUNT = 5
GARP_INTERVAL = 0.2
# the running gratuitous-ARP burst per address (also the strong reference the loop lacks)
_BURSTS: dict[str, asyncio.Task[None]] = {}


@dataclass(frozen=True)
class Placement:
    ifname: str
    index: int
    prefixlen: int
    broadcast: str | None
    label: str | None
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
    """An IPaddr/IPaddr2 argument (hapulse.config.ipaddr_arg) placed by netlink.

    The address goes on the interface named (with its alias label as IFA_LABEL),
    else on the interface whose subnet holds it. Starting an address already
    present only re-sends the gratuitous ARP burst (re-advertising after a split
    brain relies on that).
    """

    def __init__(self, arg: str, log: LogFn, text: str = "",
                 garp_count: int = GARP_COUNT, garp_interval: float = GARP_INTERVAL) -> None:
        self.address = arg.split("/", 1)[0]
        self.arg: IPaddrArg | None = None
        self.problem = ""
        try:
            self.arg = parse_ipaddr_arg(arg)
        except IPaddrArgError as exc:
            self.problem = f"IPaddr::{arg}: {exc}"
        self.log = log
        self.text = text or arg
        self.garp_count = garp_count
        self.garp_interval = garp_interval

    @classmethod
    def from_params(cls, params: Mapping[str, str], log: LogFn, text: str = "") -> IPaddr:
        """From OCF-style parameters (``IPaddr2::ip=...::cidr_netmask=24::nic=eth0``)."""
        agent = cls(params.get("ip", ""), log, text=text)
        try:
            agent.arg, agent.problem = ipaddr_arg_from_params(params), ""
        except IPaddrArgError as exc:
            agent.arg, agent.problem = None, f"{text or 'IPaddr'}: {exc}"
        return agent

    def _placement(self, arg: IPaddrArg, link: ifinfmsg, prefixlen: int) -> Placement:
        mac = bytes.fromhex((link.get_attr("IFLA_ADDRESS") or "00:00:00:00:00:00")
                            .replace(":", ""))
        return Placement(link.get_attr("IFLA_IFNAME"), link["index"], prefixlen,
                         arg.broadcast or arg.default_broadcast(prefixlen), arg.label, mac)

    def _others(self, ipr: IPRoute, **filters: int) -> list[ifaddrmsg]:
        """IPv4 addresses other than ours (optionally on one link)."""
        return [a for a in ipr.get_addr(family=socket.AF_INET, **filters)
                if a.get_attr("IFA_ADDRESS") != self.address]

    def _place(self, ipr: IPRoute, arg: IPaddrArg) -> Placement | str:
        ip = ipaddress.IPv4Address(arg.address)

        def holds(a: ifaddrmsg) -> bool:
            net = f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}"
            return ip in ipaddress.IPv4Network(net, strict=False)

        links = {link["index"]: link for link in ipr.get_links()}
        if arg.interface:
            link = next((lk for lk in links.values()
                         if lk.get_attr("IFLA_IFNAME") == arg.interface), None)
            if link is None:
                return f"{arg.address}: there is no interface {arg.interface} here"
            prefixlen = arg.prefixlen
            if prefixlen is None:
                addrs = self._others(ipr, index=link["index"])
                pick = next((a for a in addrs if holds(a)), addrs[0] if addrs else None)
                if pick is None:
                    return (f"{arg.address}: {arg.interface} has no IPv4 address to take the "
                            f"netmask from; give it: IPaddr::{arg.address}/BITS/{arg.interface}")
                prefixlen = int(pick["prefixlen"])
            return self._placement(arg, link, prefixlen)
        for a in self._others(ipr):
            if a["index"] in links and holds(a):
                return self._placement(arg, links[a["index"]], arg.prefixlen or a["prefixlen"])
        return (f"{arg.address}: no place for it (no interface has an IPv4 address in its "
                f"subnet); give the interface: IPaddr::{arg.address}/BITS/IFACE")

    def _present(self, ipr: IPRoute) -> list[tuple[int, int]]:
        return [(a["index"], a["prefixlen"]) for a in ipr.get_addr(family=socket.AF_INET)
                if a.get_attr("IFA_ADDRESS") == self.address]

    def _add(self, arg: IPaddrArg) -> tuple[Placement | None, str, bool]:
        """Blocking netlink work (pyroute2's sync API), run in a worker thread.

        Returns the placement, why not, and whether the address was already there.
        """
        with iproute_class()() as ipr:
            here = self._present(ipr)
            if here:  # announce it again from where it is
                index, prefixlen = here[0]
                return self._placement(arg, ipr.get_links(index)[0], prefixlen), "", True
            place = self._place(ipr, arg)
            if isinstance(place, str):
                return None, place, False
            kw: dict[str, object] = {"index": place.index, "address": arg.address,
                                  "prefixlen": place.prefixlen}
            if place.broadcast:
                kw["broadcast"] = place.broadcast
            if place.label:
                kw["label"] = place.label
            try:
                ipr.addr("add", **kw)
            except Exception as exc:  # NetlinkError and friends
                return None, (f"adding {arg.address}/{place.prefixlen} on "
                              f"{place.label or place.ifname} failed: {exc}"), False
        return place, "", False

    async def start(self) -> Result:
        if self.arg is None:
            return Result(False, self.problem, self.text)
        place, why, present = await asyncio.to_thread(self._add, self.arg)
        if place is None:
            return Result(False, why, self.text)
        where = place.ifname + (f" (label {place.label})" if place.label else "")
        if present:
            self.log("info", f"IPaddr: {self.address} already on this node; "
                             "announcing it again")
        else:
            brd = f" brd {place.broadcast}" if place.broadcast else ""
            self.log("info", f"IPaddr: {self.address}/{place.prefixlen}{brd} added on {where}")
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
        with iproute_class()() as ipr:
            for index, prefixlen in self._present(ipr):
                with contextlib.suppress(Exception):
                    ipr.addr("del", index=index, address=self.address, prefixlen=prefixlen)
            return not self._present(ipr)

    def _here(self) -> bool:
        with iproute_class()() as ipr:
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
