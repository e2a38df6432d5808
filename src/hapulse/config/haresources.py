"""haresources: resource groups and their preferred nodes (pure parser).

Each group is one logical line, ``NODE RESOURCE...`` (a trailing backslash
continues it). A resource is ``Name`` or ``Name::arg1::arg2``; a bare
address ``a.b.c.d[/netmask[/iface[/broadcast]]]`` is shorthand for
``IPaddr::a.b.c.d...`` (the argument forms: hapulse.config.ipaddr_arg).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from hapulse.config.ipaddr_arg import IPaddrArgError, parse_ipaddr_arg
from hapulse.config.model import Diagnostic, ResourceGroup, ResourceSpec

_IPLIKE = re.compile(r"^\d+\.\d+\.\d+\.\d+(/.*)?$|^\d[\d.]*(/.*)?$")
_NAME = re.compile(r"^(resource\.d/)?[A-Za-z0-9_.:+@-]+$")
IP_AGENTS = ("ipaddr", "ipaddr2")


def check_ip_arg(arg: str) -> str | None:
    """Validate an IPaddr/IPaddr2 argument (see hapulse.config.ipaddr_arg); a problem or None."""
    try:
        parse_ipaddr_arg(arg)
    except IPaddrArgError as exc:
        return str(exc)
    return None


def ignored_ip_fields(arg: str) -> tuple[str, ...]:
    """Fields after the broadcast address, which Heartbeat's agents ignore."""
    try:
        return parse_ipaddr_arg(arg).ignored
    except IPaddrArgError:
        return ()


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


def _is_ip(spec: ResourceSpec) -> bool:
    name = spec.agent.lower().removeprefix("resource.d/")
    return name in IP_AGENTS and bool(spec.args) and "=" not in spec.args[0]


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
                extra = ignored_ip_fields(spec.args[0]) if _is_ip(spec) else ()
                if extra:
                    diags.append(Diagnostic(path, lineno, "warning",
                                            f"`{spec.text}`: the fields after the broadcast "
                                            f"address (`{'/'.join(extra)}`) are ignored, as "
                                            "Heartbeat's IPaddr ignores them; remove them",
                                            "ignored-ip-fields"))
        if ok:
            name = known[node.lower()] if known is not None else node
            groups.append(ResourceGroup(name, tuple(specs), lineno))
    return tuple(groups), diags
