"""ha.cf's media and nodes as Corosync 3 totem links (pure).

Each interface Heartbeat sends heartbeats on (ucast, bcast or mcast lines,
grouped by interface) becomes one knet link, numbered in ha.cf's order;
every node needs its address on every link. The addresses come from, in
order: `--addr NODE=ADDR` hints, the local node's own interfaces, a ucast
line naming the node, and the ucast lines themselves (in a node's ha.cf
they name the other nodes: with one node left unplaced and one address
left unused, that is its address). A node still without an address on
link 0 is written by name (Corosync resolves it); a later link missing
one is left out, as a gap. deadtime becomes the totem token: a node lost
is out of the membership after the token and then consensus (1.2 x the
token) have expired, so the token is deadtime / 2.2: failover starts after
deadtime, as with Heartbeat. Serial links have no Corosync counterpart.
"""

from __future__ import annotations

import ipaddress

from hapulse.config import Config, Medium
from hapulse.export.model import Link, Machine, Note, Totem

CONSENSUS = 1.2  # Corosync's consensus timeout, as a multiple of the token (its default)
MIN_TOKEN_MS = 1000  # below this, a busy Corosync node loses the token without any fault


def _in_subnet(address: str, iface: str, machine: Machine) -> bool:
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    return any(i == iface and ip in ipaddress.IPv4Network(f"{a}/{p}", strict=False)
               for i, a, p in machine.interfaces)


def _place(interface: str, media: list[Medium], nodes: tuple[str, ...], local: str,
           machine: Machine, single_link: bool) -> dict[str, str]:
    ucast = [m.address for m in media if m.kind == "ucast" and m.address]
    placed: dict[str, str] = {}
    for node, addr in machine.addresses:
        if node in nodes and node not in placed and (
                addr in ucast or _in_subnet(addr, interface, machine) or single_link):
            placed[node] = addr
    if machine.local == local and local not in placed:
        for iface, addr, _ in machine.interfaces:
            if iface == interface:
                placed[local] = addr
                break
    for m in media:
        if m.kind == "ucast" and m.host and m.address and m.host.lower() in nodes:
            placed.setdefault(m.host.lower(), m.address)
    missing = [n for n in nodes if n not in placed]
    unused = [a for a in ucast if a not in placed.values()
              and not any(a == addr for _, addr, _ in machine.interfaces)]
    others = [n for n in missing if n != local]
    if len(others) == 1 and len(unused) == 1:
        placed[others[0]] = unused[0]
    return placed


def build_totem(config: Config, machine: Machine | None = None,
                cluster_name: str = "hapulse") -> Totem:
    machine = machine or Machine()
    hacf = config.hacf
    nodes = hacf.nodes
    notes: list[Note] = []
    by_iface: dict[str, list[Medium]] = {}
    for m in hacf.media:
        if m.kind == "serial":
            notes.append(Note("gap", f"{hacf.path}:{m.line}", f"serial link {m.device}: "
                              "Corosync has no serial links; add a second network link"))
            continue
        by_iface.setdefault(m.interface or m.kind, []).append(m)
    links: list[Link] = []
    for iface, media in by_iface.items():
        where = f"{hacf.path}:{media[0].line}"
        placed = _place(iface, media, nodes, config.node, machine, len(by_iface) == 1)
        missing = [n for n in nodes if n not in placed]
        if missing and links:
            notes.append(Note("gap", where, f"link on {iface} left out: no address known for "
                              f"{', '.join(missing)} (give the export's addr option, "
                              "NODE=ADDR)"))
            continue
        for n in missing:
            placed[n] = n
            notes.append(Note("note", where, f"{n}'s address on {iface} is not in ha.cf: "
                              f"written as its name, which must resolve to that address on "
                              f"every node (or give the export's addr option, {n}=ADDR)"))
        links.append(Link(len(links), iface, tuple((n, placed[n]) for n in nodes)))
    if not links and nodes:
        notes.append(Note("gap", hacf.path, "no network link in ha.cf: nodes written by name "
                          "(give the export's addr option, NODE=ADDR)"))
        links.append(Link(0, "", tuple((n, n) for n in nodes)))
    if len(nodes) != 2:
        notes.append(Note("note", hacf.path, f"{len(nodes)} nodes: no two_node quorum; "
                          "a partition without a majority stops its resources"))
    token = max(int(round(hacf.deadtime * 1000 / (1 + CONSENSUS))), MIN_TOKEN_MS)
    notes.append(Note("note", hacf.path, f"deadtime {hacf.deadtime:g} s as the totem token "
                      f"({token} ms) plus consensus (1.2 x token): Corosync forms the new "
                      "membership, and Pacemaker fails over, when both have passed"
                      + ("; raised to Corosync's sane minimum" if token == MIN_TOKEN_MS
                         and hacf.deadtime * 1000 < MIN_TOKEN_MS else "")))
    notes.append(Note("note", "authkeys", "Corosync's crypto uses its own key: run "
                      "`corosync-keygen` once and copy /etc/corosync/authkey to every node"))
    return Totem(cluster_name, token, tuple(links), nodes, tuple(notes))
