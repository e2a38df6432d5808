"""The exported cluster as typed data: what Pacemaker and Corosync are told (pure).

:mod:`hapulse.export.pacemaker` builds a :class:`Cluster` from a Heartbeat
configuration; the renderers (:mod:`~hapulse.export.cib`,
:mod:`~hapulse.export.crm`, :mod:`~hapulse.export.pcs`,
:mod:`~hapulse.export.corosync`) only write it out. Every construct a
renderer writes is one of these classes, and every haresources word or
ha.cf line that has no construct becomes a :class:`Note`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Params = tuple[tuple[str, str], ...]
Standard = Literal["ocf", "lsb", "systemd", "stonith"]
INFINITY = "INFINITY"


@dataclass(frozen=True)
class Note:
    """A line for the top of the output: a `gap` (not carried over) or a `note` (carried over,
    with something the operator should know). Gaps make the export exit 2."""

    kind: Literal["gap", "note"]
    where: str  # FILE:LINE of the Heartbeat line it is about
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.where}: {self.text}"


@dataclass(frozen=True)
class Op:
    name: str
    interval: str
    timeout: str


@dataclass(frozen=True)
class Primitive:
    id: str
    standard: Standard
    provider: str | None  # OCF only
    type: str
    params: Params = ()
    ops: tuple[Op, ...] = ()
    source: str = ""  # the haresources word or ha.cf line it comes from

    @property
    def agent(self) -> str:
        """`ocf:heartbeat:IPaddr2`, `lsb:httpd`, `stonith:external/ssh`."""
        if self.provider:
            return f"{self.standard}:{self.provider}:{self.type}"
        return f"{self.standard}:{self.type}"


@dataclass(frozen=True)
class Group:
    """One haresources line: its resources started in order, stopped in reverse."""

    id: str
    members: tuple[Primitive, ...]
    preferred: str  # the node named first on the line
    source: str  # `haresources:LINE`


@dataclass(frozen=True)
class Clone:
    id: str
    primitive: Primitive


@dataclass(frozen=True)
class Preference:
    """`location ID RSC SCORE: NODE`: where a resource prefers to run."""

    id: str
    rsc: str
    node: str
    score: str


@dataclass(frozen=True)
class ConnectivityRule:
    """`location ID RSC rule -inf: not_defined ATTR or ATTR lte 0`: never where the ping
    clone sees none of its hosts."""

    id: str
    rsc: str
    attribute: str


@dataclass(frozen=True)
class Cluster:
    nodes: tuple[str, ...]
    properties: Params
    rsc_defaults: Params
    fencing: tuple[Primitive, ...]
    groups: tuple[Group, ...]
    clones: tuple[Clone, ...]
    preferences: tuple[Preference, ...]
    rules: tuple[ConnectivityRule, ...]
    notes: tuple[Note, ...]

    @property
    def gaps(self) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.kind == "gap")


@dataclass(frozen=True)
class Link:
    """One Corosync knet link (a Heartbeat medium), with each node's address on it."""

    number: int
    interface: str  # the Heartbeat interface it comes from, for the comment
    addresses: tuple[tuple[str, str], ...]  # (node, address or resolvable name)
    mcast_port: int | None = None


@dataclass(frozen=True)
class Totem:
    cluster_name: str
    token_ms: int
    links: tuple[Link, ...]
    nodes: tuple[str, ...]
    notes: tuple[Note, ...]

    @property
    def gaps(self) -> tuple[Note, ...]:
        return tuple(n for n in self.notes if n.kind == "gap")


@dataclass(frozen=True)
class Machine:
    """What the export knows about the nodes beyond the three files (all optional).

    `interfaces`: the local node's IPv4 addresses, (interface, address, prefixlen);
    `nics`: --nic NODE=IFACE hints; `addresses`: --addr NODE=ADDR hints;
    `init_scripts` / `units`: names found in /etc/init.d and systemd units here
    (None: not looked at, names are LSB scripts).
    """

    local: str | None = None
    interfaces: tuple[tuple[str, str, int], ...] = ()
    nics: tuple[tuple[str, str], ...] = ()
    addresses: tuple[tuple[str, str], ...] = ()
    init_scripts: frozenset[str] | None = None
    units: frozenset[str] | None = None


def header(notes: tuple[Note, ...], prefix: str = "# ") -> list[str]:
    """The top-of-output lines: gaps first (what was not carried over), then notes."""
    gaps = [n for n in notes if n.kind == "gap"]
    rest = [n for n in notes if n.kind == "note"]
    lines = [f"{prefix}hapulse export: {len(gaps)} gap(s), {len(rest)} note(s)"]
    # `--` may not appear in an XML comment (the CIB's, or crm's once loaded)
    lines += [f"{prefix}{n}".replace("--", "- -") for n in (*gaps, *rest)]
    return lines
