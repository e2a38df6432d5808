"""A :class:`~hapulse.export.model.Cluster` in crm shell syntax (`crm configure load update`).

Gaps and notes are `#` comments at the top; each group is preceded by the
haresources line it comes from.
"""

from __future__ import annotations

import re

from hapulse.export.model import Cluster, Params, Primitive, header

_PLAIN = re.compile(r"[A-Za-z0-9_.:/@+-]+")


def quote(value: str) -> str:
    if _PLAIN.fullmatch(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pairs(pairs: Params) -> str:
    return " ".join(f"{k}={quote(v)}" for k, v in pairs)


def _primitive(p: Primitive) -> list[str]:
    lines = [f"primitive {p.id} {p.agent}"]
    if p.params:
        lines.append(f"\tparams {_pairs(p.params)}")
    for op in p.ops:
        lines.append(f"\top {op.name} interval={op.interval} timeout={op.timeout}")
    return [" \\\n".join(lines)]


def render_crm(cluster: Cluster) -> str:
    out = header(cluster.notes)
    out += [f"node {i}: {name}" for i, name in enumerate(cluster.nodes, start=1)]
    for dev in cluster.fencing:
        out += [f"# {dev.source}", *_primitive(dev)]
    for g in cluster.groups:
        out.append(f"# {g.source}")
        for p in g.members:
            out += _primitive(p)
        out.append(f"group {g.id} {' '.join(p.id for p in g.members)}")
    for c in cluster.clones:
        out += [*_primitive(c.primitive), f"clone {c.id} {c.primitive.id}"]
    for pref in cluster.preferences:
        score = "inf" if pref.score == "INFINITY" else pref.score
        out.append(f"location {pref.id} {pref.rsc} {score}: {pref.node}")
    for r in cluster.rules:
        out.append(f"location {r.id} {r.rsc} rule -inf: not_defined {r.attribute} "
                   f"or {r.attribute} number:lte 0")
    out.append(f"property cib-bootstrap-options: {_pairs(cluster.properties)}")
    out.append(f"rsc_defaults rsc-options: {_pairs(cluster.rsc_defaults)}")
    return "\n".join(out) + "\n"
