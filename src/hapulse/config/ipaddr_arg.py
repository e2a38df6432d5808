"""The IPaddr/IPaddr2 argument of haresources, read as Heartbeat's agents read it (pure).

``ADDR[/NETMASK[/IFACE[/BROADCAST]]]`` or ``ADDR/NETMASK/BROADCAST``:

- NETMASK is prefix bits (1..32) or a contiguous dotted netmask (``255.255.255.0``);
  resource-agents' findif converts the dotted form to bits.
- IFACE may carry an alias label, ``eth0:10``: the address goes on ``eth0`` with
  the label ``eth0:10`` (at most 15 characters, the kernel's limit).
- The field after NETMASK is the broadcast address when it starts with a digit
  (no interface name does), else the interface.
- Empty fields are skipped, as the agents' wrapper does (it strips every run of
  slashes): ``10.0.30.15//8/eth0:10`` is netmask 8 on eth0:10. So ``ADDR//eth0``
  puts ``eth0`` in the netmask's place, which Heartbeat's agent refuses too.
- Fields after BROADCAST are ignored (Heartbeat ignores them); `ignored` lists them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

IFNAME = re.compile(r"[A-Za-z_.@-][A-Za-z0-9_.@-]{0,14}")
LABEL_MAX = 15


class IPaddrArgError(ValueError):
    """The argument is not one Heartbeat's IPaddr agents can start; str() says why."""


@dataclass(frozen=True)
class IPaddrArg:
    address: str
    prefixlen: int | None = None
    interface: str | None = None
    label: str | None = None
    broadcast: str | None = None
    dotted_netmask: str | None = None
    ignored: tuple[str, ...] = ()

    def default_broadcast(self, prefixlen: int) -> str | None:
        """The broadcast findif computes when none is given: the subnet's last address."""
        if prefixlen >= 31:
            return None
        net = ipaddress.IPv4Network(f"{self.address}/{prefixlen}", strict=False)
        return str(net.broadcast_address)


def _address(text: str, what: str) -> str:
    try:
        ip = ipaddress.IPv4Address(text)
    except ValueError:
        raise IPaddrArgError(f"{what} `{text}` is not a valid IPv4 address") from None
    if ip.packed[0] == 0:
        raise IPaddrArgError(f"{what} `{text}` is not a usable IPv4 address")
    return str(ip)


def netmask_bits(text: str) -> tuple[int, str | None]:
    """Prefix bits of `24` or `255.255.255.0` (and the dotted text); IPaddrArgError if neither."""
    if re.fullmatch(r"[0-9]{1,3}", text):
        bits = int(text)
        if 1 <= bits <= 32:
            return bits, None
        raise IPaddrArgError(f"netmask `/{text}` is not a prefix length 1..32")
    if re.fullmatch(r"[0-9]{1,3}(\.[0-9]{1,3}){3}", text):
        parts = [int(p) for p in text.split(".")]
        if all(p <= 255 for p in parts):
            value = int.from_bytes(bytes(parts), "big")
            bits = bin(value).count("1")
            if bits and value == (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF:
                return bits, text
        raise IPaddrArgError(f"netmask `{text}` is not a contiguous dotted netmask "
                             "(such as 255.255.255.0)")
    hint = " (the netmask comes before the interface: ADDR/BITS/IFACE)" if IFNAME.fullmatch(
        text.split(":", 1)[0]) else ""
    raise IPaddrArgError(f"`{text}` is not a netmask: give bits 1..32 or a dotted netmask{hint}")


def _interface(text: str) -> tuple[str, str | None]:
    base, colon, alias = text.partition(":")
    if not IFNAME.fullmatch(base):
        raise IPaddrArgError(f"`{base}` is not an interface name")
    if not colon:
        return base, None
    if not alias or len(text) > LABEL_MAX or not re.fullmatch(r"[A-Za-z0-9_.@:-]+", alias):
        raise IPaddrArgError(f"`{text}` is not an interface with an alias label "
                             f"(IFACE:LABEL, at most {LABEL_MAX} characters)")
    return base, text


def parse_ipaddr_arg(arg: str) -> IPaddrArg:
    """Read one IPaddr/IPaddr2 haresources argument; raise IPaddrArgError if unusable."""
    head, _, rest = arg.partition("/")
    address = _address(head, "address")
    words = [w for w in rest.split("/") if w]
    if not words:
        return IPaddrArg(address)
    prefixlen, dotted = netmask_bits(words[0])
    interface = label = broadcast = None
    used = 1
    if len(words) > 1:
        if words[1][0].isdigit():
            broadcast = _address(words[1], "broadcast")
            used = 2
        else:
            interface, label = _interface(words[1])
            used = 2
            if len(words) > 2:
                broadcast = _address(words[2], "broadcast")
                used = 3
    return IPaddrArg(address, prefixlen, interface, label, broadcast, dotted,
                     tuple(words[used:]))


def ipaddr_arg_from_params(params: Mapping[str, str]) -> IPaddrArg:
    """The same from OCF-style parameters (`ip`, `cidr_netmask` or `netmask`, `nic`,
    `broadcast`, `iflabel`), as in ``IPaddr2::ip=10.0.0.5::cidr_netmask=24::nic=eth0``."""
    address = _address(params.get("ip", ""), "ip")
    mask = params.get("cidr_netmask") or params.get("netmask") or ""
    prefixlen, dotted = netmask_bits(mask) if mask else (None, None)
    interface = label = None
    if params.get("nic"):
        interface, label = _interface(params["nic"])
        if params.get("iflabel") and label is None:
            interface, label = _interface(f"{interface}:{params['iflabel']}")
    broadcast = _address(params["broadcast"], "broadcast") if params.get("broadcast") else None
    return IPaddrArg(address, prefixlen, interface, label, broadcast, dotted)
