"""haresources resources as Pacemaker primitives (pure).

Heartbeat resolved a haresources word `Name::arg1::arg2` to a resource.d
script (most of them wrappers that hand positional arguments to an OCF
agent as named parameters), else to `/etc/init.d/Name` (LSB). The table
below is those wrappers' mapping, read from Heartbeat 3.0.6's resource.d:
the same agent in resource-agents, its parameters named.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from hapulse.config import ResourceSpec
from hapulse.config.ipaddr_arg import IPaddrArgError, parse_ipaddr_arg
from hapulse.export.model import Machine, Params, Primitive

# resource.d NAME -> (ocf:heartbeat TYPE, positional parameter names); the last name takes
# the remaining arguments joined by spaces when it is marked with `*`
RESOURCE_D: dict[str, tuple[str, tuple[str, ...]]] = {
    "AudibleAlarm": ("AudibleAlarm", ("nodelist*",)),
    "Delay": ("Delay", ("startdelay", "stopdelay")),
    "Filesystem": ("Filesystem", ("device", "directory", "fstype", "options")),
    "ICP": ("ICP", ("driveid", "device")),
    "IPsrcaddr": ("IPsrcaddr", ("ipaddress",)),
    "LVM": ("LVM", ("volgrpname",)),
    "LinuxSCSI": ("LinuxSCSI", ("scsi",)),
    "MailTo": ("MailTo", ("email", "subject")),
    "Raid1": ("Raid1", ("raidconf", "raiddev")),
    "ServeRAID": ("ServeRAID", ("serveraid", "mergegroup")),
    "WinPopup": ("WinPopup", ("hostfile",)),
    "Xinetd": ("Xinetd", ("service",)),
    "apache": ("apache", ("configfile",)),
    "db2": ("db2", ("instance",)),
    "ids": ("ids", ("informixdir", "informixserver", "onconfig")),
    "portblock": ("portblock", ("protocol", "portno", "action")),
}
IP_AGENTS = {"ipaddr", "ipaddr2"}
# resource.d scripts with no agent Pacemaker 2.1 can run as they are: what to do instead
NO_AGENT: dict[str, str] = {
    "drbddisk": "configure ocf:linbit:drbd (drbd-utils) as a promotable clone with "
                "drbd_resource=RESOURCE, colocate the group with its Promoted role and "
                "order promote before the group's start",
    "OCF": "name the OCF agent itself (ocf:PROVIDER:TYPE) with its parameters",
    "IPv6addr": "write ocf:heartbeat:IPv6addr with ipv6addr, cidr_netmask and nic",
    "SendArp": "IPaddr2 sends gratuitous ARP itself; drop it or write ocf:heartbeat:SendArp",
    "WAS": "write ocf:heartbeat:WAS with config= or port=",
}


@dataclass(frozen=True)
class Mapped:
    """A resource as a primitive (None when it cannot be expressed), with what to tell."""

    primitive: Primitive | None
    gap: str | None = None
    note: str | None = None


def safe_id(text: str) -> str:
    """An XML ID (and crm/pcs word) from any text: `192.168.1.118` -> `ip_192_168_1_118`."""
    word = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "rsc"
    return word if re.match(r"[A-Za-z_]", word) else f"r_{word}"


def choose_nic(address: str, nodes: Sequence[str], machine: Machine) -> tuple[str | None, str]:
    """The interface every node would put `address` on, or None and why not.

    hapulse's native IPaddr takes the interface whose subnet holds the address; the export
    knows that for the local node (its interfaces), for others from --nic hints.
    """
    chosen = dict(machine.nics)
    if machine.local and machine.local not in chosen:
        ip = ipaddress.IPv4Address(address)
        for iface, addr, prefix in machine.interfaces:
            if ip in ipaddress.IPv4Network(f"{addr}/{prefix}", strict=False):
                chosen[machine.local] = iface
                break
    known = {n: chosen[n] for n in nodes if n in chosen}
    if len(known) == len(nodes) and len(set(known.values())) == 1:
        return next(iter(known.values())), ""
    if len(set(known.values())) > 1:
        which = ", ".join(f"{n} {i}" for n, i in known.items())
        return None, (f"the nodes put {address} on different interfaces ({which}): nic left "
                      "unset, IPaddr2 finds the interface whose subnet holds the address on "
                      "each node, as hapulse does")
    return None, (f"nic left unset for {address}: IPaddr2 finds the interface whose subnet "
                  "holds the address on each node, as hapulse does (to pin it, give the "
                  "export's nic option, NODE=IFACE, for every node)")


def _ipaddr(spec: ResourceSpec, nodes: Sequence[str], machine: Machine) -> Mapped:
    pid = safe_id("ip_" + spec.args[0].split("/")[0])
    if "=" in spec.args[0]:  # OCF style: IPaddr2::ip=...::nic=...
        return Mapped(Primitive(pid, "ocf", "heartbeat", "IPaddr2", _named(spec.args),
                                source=spec.text))
    try:
        arg = parse_ipaddr_arg(spec.args[0])
    except IPaddrArgError as exc:
        return Mapped(None, gap=f"`{spec.text}`: {exc}; not exported")
    params: list[tuple[str, str]] = [("ip", arg.address)]
    if arg.prefixlen is not None:
        params.append(("cidr_netmask", str(arg.prefixlen)))
    note = None
    nic = arg.interface
    if nic is None:
        nic, note = choose_nic(arg.address, nodes, machine)
    if nic:
        params.append(("nic", nic))
    if arg.label:
        params.append(("iflabel", arg.label.partition(":")[2]))
    if arg.broadcast:
        params.append(("broadcast", arg.broadcast))
    return Mapped(Primitive(pid, "ocf", "heartbeat", "IPaddr2", tuple(params),
                            source=spec.text), note=note or None)


def _named(args: Sequence[str]) -> Params:
    """OCF style arguments, `name=value`."""
    return tuple((k, v) for k, _, v in (a.partition("=") for a in args if "=" in a))


def _positional(name: str, args: Sequence[str]) -> Params:
    ocf_type, names = RESOURCE_D[name]
    out: list[tuple[str, str]] = []
    for i, pname in enumerate(names):
        if i >= len(args):
            break
        if pname.endswith("*"):
            out.append((pname[:-1], " ".join(args[i:])))
            break
        out.append((pname, args[i]))
    return tuple(out)


def map_resource(spec: ResourceSpec, nodes: Sequence[str], machine: Machine) -> Mapped:
    """One haresources resource as Pacemaker runs it, or the gap it leaves."""
    name = spec.agent.removeprefix("resource.d/")
    if name.lower() in IP_AGENTS:
        return _ipaddr(spec, nodes, machine)
    if name.startswith("ocf:"):
        parts = name.split(":")
        if len(parts) != 3 or not all(parts):
            return Mapped(None, gap=f"`{spec.text}`: write ocf:PROVIDER:TYPE; not exported")
        bad = [a for a in spec.args if "=" not in a]
        if bad:
            return Mapped(None, gap=f"`{spec.text}`: OCF arguments are name=value "
                          f"(`{bad[0]}` is not); not exported")
        return Mapped(Primitive(safe_id(parts[2] + "_" + "_".join(spec.args[:1])).rstrip("_"),
                                "ocf", parts[1], parts[2], _named(spec.args),
                                source=spec.text))
    if name in RESOURCE_D:
        ocf_type = RESOURCE_D[name][0]
        extra = len(spec.args) - len(RESOURCE_D[name][1])
        pid = safe_id("_".join([ocf_type, *spec.args[:1]]))
        prim = Primitive(pid, "ocf", "heartbeat", ocf_type, _positional(name, spec.args),
                         source=spec.text)
        if extra > 0 and not RESOURCE_D[name][1][-1].endswith("*"):
            return Mapped(prim, gap=f"`{spec.text}`: {name} takes "
                          f"{len(RESOURCE_D[name][1])} arguments; the last {extra} not exported")
        return Mapped(prim)
    if name in NO_AGENT:
        return Mapped(None, gap=f"`{spec.text}` not exported: {NO_AGENT[name]}")
    if spec.args:
        return Mapped(None, gap=f"`{spec.text}`: a resource.d script with arguments that "
                      "resource-agents has no agent for; not exported (write it as an OCF "
                      "agent, or an LSB script without arguments)")
    if name.startswith("systemd:"):
        return Mapped(Primitive(safe_id(name[8:]), "systemd", None, name[8:],
                                source=spec.text))
    standard = "lsb"
    if (machine.init_scripts is not None and name not in machine.init_scripts
            and machine.units is not None and name in machine.units):
        standard = "systemd"
    return Mapped(Primitive(safe_id(name), "systemd" if standard == "systemd" else "lsb",
                            None, name, source=spec.text))
