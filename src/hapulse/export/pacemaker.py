"""A Heartbeat configuration as a Pacemaker 2.1 cluster: the mapping (pure).

`build_cluster(config, machine)` reads the typed :class:`~hapulse.config.Config`
and returns a :class:`~hapulse.export.model.Cluster`:

- one group per haresources line, in order, its resources as primitives
  (:mod:`hapulse.export.agents`);
- `auto_failback` as `resource-stickiness` beside a location preference of
  each group for the node that heads its line (`on`/`legacy`: stickiness 0,
  the group goes home; `off`: stickiness 200 outweighs the preference of 100);
- `ping` nodes as an `ocf:pacemaker:ping` clone, each `ping_group` as
  another, and a rule keeping every group off a node that reaches none;
- `stonith_host` lines as fencing resources (:mod:`hapulse.export.fencing`);
  `stonith-enabled` only when there is one, as Heartbeat ran without;
- everything else Heartbeat did that has no construct as a :class:`Note`.
"""

from __future__ import annotations

from hapulse.config import Config
from hapulse.export.agents import map_resource, safe_id
from hapulse.export.fencing import map_fencing
from hapulse.export.model import (
    Clone,
    Cluster,
    ConnectivityRule,
    Group,
    Machine,
    Note,
    Op,
    Preference,
    Primitive,
)

PREFERENCE = "100"
STICKINESS = {"on": "0", "legacy": "0", "off": "200"}
PING_MULTIPLIER = "1000"
# ha.cf directives Pacemaker/Corosync have no place for, and what replaces them
DIRECTIVE_NOTES: dict[str, tuple[str, str]] = {
    "warntime": ("note", "Corosync has no late-heartbeat warning; knet logs link changes"),
    "initdead": ("note", "Corosync waits for all nodes at first start (wait_for_all, "
                 "implied by two_node) instead of initdead"),
    "apiauth": ("note", "Heartbeat's API clients have no counterpart; Pacemaker's own "
                "daemons replace them"),
    "crm": ("note", "the export is the move to Pacemaker; the line has no counterpart"),
    "pacemaker": ("note", "the export is the move to Pacemaker; the line has no counterpart"),
    "hbaping": ("gap", "HBA ping has no Pacemaker counterpart"),
    "ucast6": ("gap", "IPv6 media: write the link into corosync.conf by hand"),
    "mcast6": ("gap", "IPv6 media: write the link into corosync.conf by hand"),
    "watchdog": ("gap", "configure sbd for a watchdog under Pacemaker"),
}
RESPAWN_NOTES = {
    "ipfail": ("note", "ipfail's job is the ping clone's location rule"),
    "dopd": ("gap", "DRBD's outdate-peer daemon: use DRBD's crm-fence-peer.9.sh handler "
             "under Pacemaker"),
}


def _unique(rid: str, used: set[str]) -> str:
    n, out = 1, rid
    while out in used:
        n += 1
        out = f"{rid}_{n}"
    used.add(out)
    return out


def _ping_clones(config: Config, groups: tuple[Group, ...], used: set[str],
                 ) -> tuple[list[Clone], list[ConnectivityRule], list[Note]]:
    path = config.hacf.path
    sets: list[tuple[str, str, tuple[str, ...], int]] = []  # (rsc id, attribute, hosts, line)
    plain = [d for d in config.hacf.directives if d.name == "ping"]
    hosts = tuple(a for d in plain for a in d.args)
    if hosts:
        sets.append(("ping", "pingd", hosts, plain[0].line))
    for d in config.hacf.directives:
        if d.name == "ping_group" and len(d.args) >= 2:
            name = safe_id(d.args[0])
            sets.append((f"ping_{name}", f"pingd_{name}", d.args[1:], d.line))
    clones, rules, notes = [], [], []
    for rid, attribute, members, line in sets:
        rid = _unique(rid, used)
        prim = Primitive(rid, "ocf", "pacemaker", "ping",
                         (("host_list", " ".join(members)), ("multiplier", PING_MULTIPLIER),
                          ("name", attribute), ("dampen", "5s")),
                         (Op("monitor", "10s", "60s"),), source=f"{path}:{line}")
        clones.append(Clone(_unique(f"{rid}-clone", used), prim))
        for g in groups:
            rules.append(ConnectivityRule(_unique(f"{g.id}_needs_{attribute}", used), g.id,
                                          attribute))
        notes.append(Note("note", f"{path}:{line}",
                          f"ping nodes {' '.join(members)}: every group avoids a node that "
                          f"reaches none of them (attribute {attribute}); Heartbeat moved "
                          "groups only when ipfail ran"))
    return clones, rules, notes


def _directive_notes(config: Config) -> list[Note]:
    notes: list[Note] = []
    path = config.hacf.path
    for d in config.hacf.directives:
        where = f"{path}:{d.line}"
        if d.name in DIRECTIVE_NOTES:
            kind, text = DIRECTIVE_NOTES[d.name]
            notes.append(Note("gap" if kind == "gap" else "note", where, f"`{d.name}`: {text}"))
        elif d.name in ("respawn", "failfast") and len(d.args) >= 2:
            program = d.args[1].rsplit("/", 1)[-1]
            kind, text = RESPAWN_NOTES.get(program, (
                "gap", "run it as a systemd service or a Pacemaker resource"))
            notes.append(Note("gap" if kind == "gap" else "note", where,
                              f"`{d.name} {' '.join(d.args)}`: {text}"))
    return notes


def build_cluster(config: Config, machine: Machine | None = None) -> Cluster:
    machine = machine or Machine()
    nodes = config.hacf.nodes
    used: set[str] = set()
    notes: list[Note] = []
    groups: list[Group] = []
    seen: dict[str, str] = {}
    for g in config.groups:
        where = f"{config.confdir / 'haresources'}:{g.line}"
        members: list[Primitive] = []
        for spec in g.resources:
            mapped = map_resource(spec, nodes, machine)
            if mapped.gap:
                notes.append(Note("gap", where, mapped.gap))
            if mapped.note:
                notes.append(Note("note", where, mapped.note))
            if mapped.primitive is None:
                continue
            if spec.text in seen:
                notes.append(Note("gap", where, f"`{spec.text}` is also in group "
                                  f"{seen[spec.text]}: Pacemaker runs a second copy "
                                  "(Heartbeat ran one for both groups)"))
            prim = mapped.primitive
            members.append(Primitive(_unique(prim.id, used), prim.standard, prim.provider,
                                     prim.type, prim.params, prim.ops, prim.source))
        if not members:
            notes.append(Note("gap", where, f"group `{g.id}` has no resource Pacemaker can "
                              "run; not exported"))
            continue
        gid = _unique(f"grp_{members[0].id}", used)
        for spec in g.resources:
            seen.setdefault(spec.text, gid)
        groups.append(Group(gid, tuple(members), g.node, where))
    prefs = [Preference(_unique(f"{g.id}_prefers_{safe_id(g.preferred)}", used), g.id,
                        g.preferred, PREFERENCE) for g in groups]
    fencing = map_fencing(config.hacf.directives, nodes, config.hacf.path)
    for dev in fencing.devices:
        used.add(dev.id)
    clones, rules, ping_notes = _ping_clones(config, tuple(groups), used)
    notes.extend(fencing.notes)
    notes.extend(ping_notes)
    notes.extend(_directive_notes(config))
    stonith = "true" if fencing.devices else "false"
    if not fencing.devices:
        notes.append(Note("note", config.hacf.path, "no stonith_host lines: stonith-enabled="
                          "false, as Heartbeat ran without fencing (configure fencing before "
                          "shared storage)"))
    properties = (("stonith-enabled", stonith), ("no-quorum-policy", "stop"))
    defaults = (("resource-stickiness", STICKINESS[config.hacf.auto_failback]),)
    return Cluster(nodes, properties, defaults, fencing.devices, tuple(groups),
                   tuple(clones), (*prefs, *fencing.preferences), tuple(rules), tuple(notes))
