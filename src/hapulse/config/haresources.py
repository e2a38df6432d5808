"""haresources: resource groups and their preferred nodes (pure parser).

Each group is one logical line, ``NODE RESOURCE...`` (a trailing backslash
continues it). A resource is ``Name`` or ``Name::arg1::arg2``; a bare
address ``a.b.c.d[/bits[/iface[/broadcast]]]`` is shorthand for
``IPaddr::a.b.c.d...``.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from hapulse.config.model import Diagnostic, ResourceGroup, ResourceSpec
from hapulse.config.model import isnum as _isnum

_IPLIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+(/.*)?$|^\d[\d.]*(/.*)?$")
_NAME = re.compile(r"^(resource\.d/)?[A-Za-z0-9_.:+@-]+$")
IP_AGENTS = ("ipaddr", "ipaddr2")


def check_ip_arg(arg: str) -> str | None:
    """Validate `a.b.c.d[/bits[/iface[/broadcast]]]`; return a problem or None."""
    parts = arg.split("/")
    try:
        ipaddress.IPv4Address(parts[0])
    except ValueError:
        return f"`{parts[0]}` is not a valid IPv4 address"
    if len(parts) > 1 and parts[1] != "" and (
        not _isnum(parts[1]) or not 1 <= int(parts[1]) <= 32
    ):
        return f"`/{parts[1]}` is not a prefix length 1..32"
    if len(parts) > 2 and parts[2] and not re.fullmatch(r"[A-Za-z0-9_.:@-]{1,15}", parts[2]):
        return f"`{parts[2]}` is not an interface name"
    if len(parts) > 3 and parts[3]:
        try:
            ipaddress.IPv4Address(parts[3])
        except ValueError:
            return f"broadcast `{parts[3]}` is not a valid IPv4 address"
    if len(parts) > 4:
        return "too many `/` parts (address/bits/iface/broadcast)"
    return None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    buf = ""
    start = 0
    for lineno, raw in enumerate(text.splitlines(), start=1):
        # Heartbeat continues a line only when the backslash is its very last
        # character (`\\ ` with a trailing space does not continue)
        body = raw.split("#", 1)[0]
        if not buf:
            start = lineno
        if body.endswith("\\"):
            buf += body[:-1] + " "
            continue
        buf += body
        if buf.strip():
            out.append((start, buf.strip()))
        buf = ""
    if buf.strip():
        out.append((start, buf.strip()))
    return out


def parse_resource(word: str) -> tuple[ResourceSpec | None, str | None]:
    if _IPLIKE.match(word):
        problem = check_ip_arg(word)
        if problem:
            return None, f"invalid address `{word}`: {problem}"
        return ResourceSpec("IPaddr", (word,), word), None
    name, *args = word.split("::")
    if not name or not _NAME.match(name):
        return None, f"`{word}` is not a resource name (`Name` or `Name::arg1::arg2`)"
    if name.lower().removeprefix("resource.d/") in IP_AGENTS and args and "=" not in args[0]:
        problem = check_ip_arg(args[0])
        if problem:
            return None, f"invalid address in `{word}`: {problem}"
    return ResourceSpec(name, tuple(args), word), None


def parse_haresources(
    text: str, path: str = "haresources", nodes: Sequence[str] | None = None
) -> tuple[tuple[ResourceGroup, ...], list[Diagnostic]]:
    diags: list[Diagnostic] = []
    groups: list[ResourceGroup] = []
    known = {n.lower(): n for n in nodes} if nodes is not None else None
    seen: dict[str, int] = {}
    for lineno, line in _logical_lines(text):
        words = line.split()
        node = words[0]
        if known is not None and node.lower() not in known:
            listed = ", ".join(known.values()) or "none"
            diags.append(Diagnostic(path, lineno, "error",
                                    f"group owned by unknown node `{node}` (ha.cf lists: "
                                    f"{listed}); use a node from ha.cf's `node` lines",
                                    "unknown-node"))
            continue
        if len(words) < 2:
            diags.append(Diagnostic(path, lineno, "warning",
                                    f"node `{node}` has no resources (Heartbeat accepts the line "
                                    f"and does nothing with it): write `{node} RESOURCE...`",
                                    "empty-group"))
            continue
        specs: list[ResourceSpec] = []
        ok = True
        for word in words[1:]:
            spec, problem = parse_resource(word)
            if problem:
                diags.append(Diagnostic(path, lineno, "warning", problem + " (Heartbeat starts "
                                        "and the resource fails when it is acquired)",
                                        "bad-resource"))
            elif spec is not None:
                if spec.text in seen:
                    diags.append(Diagnostic(path, lineno, "warning",
                                            f"resource `{spec.text}` is also in the group on "
                                            f"line {seen[spec.text]}: whichever node holds either "
                                            "group runs it, and releasing one stops it for both",
                                            "duplicate-resource"))
                seen[spec.text] = lineno
                specs.append(spec)
        if ok:
            name = known[node.lower()] if known is not None else node
            groups.append(ResourceGroup(name, tuple(specs), lineno))
    return tuple(groups), diags
