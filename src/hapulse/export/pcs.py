"""A :class:`~hapulse.export.model.Cluster` as a pcs script (pcs 0.11, Debian 12's).

The commands work on a CIB file (`pcs -f`) and push it once at the end, so
the cluster sees the whole configuration at once. Gaps and notes are `#`
comments at the top.
"""

from __future__ import annotations

import shlex

from hapulse.export.model import Cluster, Params, Primitive, header


def _pairs(pairs: Params) -> str:
    return " ".join(shlex.quote(f"{k}={v}") for k, v in pairs)


def _create(p: Primitive, verb: str = "resource") -> str:
    words = [f'pcs -f "$CIB" {verb} create {p.id} {p.agent}']
    if p.params:
        words.append(_pairs(p.params))
    for op in p.ops:
        words.append(f"op {op.name} interval={op.interval} timeout={op.timeout}")
    return " ".join(words)


def render_pcs(cluster: Cluster) -> str:
    out = ["#!/bin/sh", *header(cluster.notes), "set -e", 'CIB="${CIB:-hapulse-cib.xml}"',
           'pcs cluster cib "$CIB"']
    out.append(f'pcs -f "$CIB" property set {_pairs(cluster.properties)}')
    out.append(f'pcs -f "$CIB" resource defaults update {_pairs(cluster.rsc_defaults)}')
    for dev in cluster.fencing:
        out.append(_create(dev, "stonith"))
    for g in cluster.groups:
        out.append(f"# {g.source}")
        out += [f"{_create(p)} --group {g.id}" for p in g.members]
    for c in cluster.clones:
        out.append(f"{_create(c.primitive)} clone {c.id}")
    for pref in cluster.preferences:
        out.append(f'pcs -f "$CIB" constraint location {pref.rsc} prefers '
                   f"{pref.node}={pref.score}")
    for r in cluster.rules:
        out.append(f'pcs -f "$CIB" constraint location {r.rsc} rule constraint-id={r.id} '
                   f"score=-INFINITY not_defined {r.attribute} or {r.attribute} lte 0")
    out.append('pcs cluster cib-push "$CIB" --config')
    return "\n".join(out) + "\n"
