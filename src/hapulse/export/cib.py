"""A :class:`~hapulse.export.model.Cluster` as a Pacemaker CIB document (xml.etree).

The whole `<cib>` with an empty `<status/>`: what `crm_verify --xml-file`
checks and `cibadmin --replace --xml-file` loads. Node ids are Corosync's
nodeids (1, 2, ... in ha.cf's order). Gaps and notes are XML comments
before the root element.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hapulse.export.model import Cluster, ConnectivityRule, Params, Primitive, header

SCHEMA = "pacemaker-3.0"  # the oldest Pacemaker 2.x schema: any 2.x cluster reads it


def _nvpairs(parent: ET.Element, tag: str, set_id: str, pairs: Params) -> None:
    if not pairs:
        return
    box = ET.SubElement(parent, tag, id=set_id)
    for name, value in pairs:
        ET.SubElement(box, "nvpair", id=f"{set_id}-{name}", name=name, value=value)


def _primitive(parent: ET.Element, p: Primitive) -> None:
    attrs = {"id": p.id, "class": p.standard, "type": p.type}
    if p.provider:
        attrs["provider"] = p.provider
    if p.source:
        attrs["description"] = p.source
    el = ET.SubElement(parent, "primitive", attrs)
    _nvpairs(el, "instance_attributes", f"{p.id}-instance_attributes", p.params)
    if p.ops:
        ops = ET.SubElement(el, "operations")
        for op in p.ops:
            ET.SubElement(ops, "op", id=f"{p.id}-{op.name}-interval-{op.interval}",
                          name=op.name, interval=op.interval, timeout=op.timeout)


def _rule(parent: ET.Element, r: ConnectivityRule) -> None:
    loc = ET.SubElement(parent, "rsc_location", id=r.id, rsc=r.rsc)
    rule = ET.SubElement(loc, "rule", {"id": f"{r.id}-rule", "score": "-INFINITY",
                                       "boolean-op": "or"})
    ET.SubElement(rule, "expression", id=f"{r.id}-undefined", attribute=r.attribute,
                  operation="not_defined")
    ET.SubElement(rule, "expression", id=f"{r.id}-zero", attribute=r.attribute,
                  operation="lte", value="0", type="number")


def cib_element(cluster: Cluster) -> ET.Element:
    cib = ET.Element("cib", {"validate-with": SCHEMA, "admin_epoch": "0", "epoch": "1",
                             "num_updates": "0"})
    conf = ET.SubElement(cib, "configuration")
    crm_config = ET.SubElement(conf, "crm_config")
    _nvpairs(crm_config, "cluster_property_set", "cib-bootstrap-options", cluster.properties)
    nodes = ET.SubElement(conf, "nodes")
    for i, name in enumerate(cluster.nodes, start=1):
        ET.SubElement(nodes, "node", id=str(i), uname=name)
    resources = ET.SubElement(conf, "resources")
    for dev in cluster.fencing:
        _primitive(resources, dev)
    for g in cluster.groups:
        el = ET.SubElement(resources, "group", id=g.id, description=g.source)
        for p in g.members:
            _primitive(el, p)
    for c in cluster.clones:
        el = ET.SubElement(resources, "clone", id=c.id)
        _primitive(el, c.primitive)
    constraints = ET.SubElement(conf, "constraints")
    for pref in cluster.preferences:
        ET.SubElement(constraints, "rsc_location", id=pref.id, rsc=pref.rsc, node=pref.node,
                      score=pref.score)
    for r in cluster.rules:
        _rule(constraints, r)
    defaults = ET.SubElement(conf, "rsc_defaults")
    _nvpairs(defaults, "meta_attributes", "rsc-options", cluster.rsc_defaults)
    ET.SubElement(cib, "status")
    return cib


def render_cib(cluster: Cluster) -> str:
    root = cib_element(cluster)
    ET.indent(root)
    comments = [f"<!-- {line} -->"
                for line in header(cluster.notes, prefix="")]
    return "\n".join([*comments, ET.tostring(root, encoding="unicode"), ""])
