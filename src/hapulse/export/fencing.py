"""ha.cf's `stonith_host` and `stonith` lines as Pacemaker fencing resources (pure).

`stonith_host FROM TYPE ARG...` names a cluster-glue plugin and its
arguments in the plugin's own order; Pacemaker 2.1 runs the same plugins
as `stonith:TYPE` (built with cluster-glue support, "lha" in
`pacemakerd --features`) but wants the parameters by name. The names below
are what `stonith -t TYPE -n` prints (cluster-glue 1.0.12).
"""

from __future__ import annotations

from dataclasses import dataclass

from hapulse.config import Directive
from hapulse.export.agents import safe_id
from hapulse.export.model import INFINITY, Note, Preference, Primitive

# plugin -> its parameter names in `stonith_host` order; `*` takes the rest, space-joined
PLUGINS: dict[str, tuple[str, ...]] = {
    "external/ssh": ("hostlist*",), "ssh": ("hostlist*",), "null": ("hostlist*",),
    "meatware": ("hostlist*",), "suicide": (),
    "baytech": ("ipaddr", "login", "password"), "apcmaster": ("ipaddr", "login", "password"),
    "apcsmart": ("ttydev", "hostlist*"), "wti_nps": ("ipaddr", "password"),
    "rps10": ("serial_to_targets*",),
    "rcd_serial": ("hostlist", "ttydev", "dtr_rts", "msduration"),
    "external/ipmi": ("hostname", "ipaddr", "userid", "passwd", "interface"),
    "external/libvirt": ("hostlist", "hypervisor_uri", "reboot_method"),
}


@dataclass(frozen=True)
class Fencing:
    devices: tuple[Primitive, ...]
    preferences: tuple[Preference, ...]
    notes: tuple[Note, ...]


def _params(names: tuple[str, ...], args: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for i, name in enumerate(names):
        if i >= len(args):
            break
        if name.endswith("*"):
            out.append((name[:-1], " ".join(args[i:])))
            break
        out.append((name, args[i]))
    return tuple(out)


def map_fencing(directives: tuple[Directive, ...], nodes: tuple[str, ...],
                path: str) -> Fencing:
    devices: list[Primitive] = []
    prefs: list[Preference] = []
    notes: list[Note] = []
    for d in directives:
        where = f"{path}:{d.line}"
        if d.name == "stonith":
            notes.append(Note("gap", where, f"`stonith {' '.join(d.args)}`: the device's "
                              "parameters are in that file, which the export does not read; "
                              "write a stonith_host line or configure stonith:TYPE by hand "
                              "(`stonith -t TYPE -n` names its parameters)"))
            continue
        if d.name != "stonith_host":
            continue
        if len(d.args) < 2:
            notes.append(Note("gap", where, "`stonith_host` needs FROM TYPE ARGS; not exported"))
            continue
        source, plugin, args = d.args[0].lower(), d.args[1], d.args[2:]
        names = PLUGINS.get(plugin)
        if names is None:
            notes.append(Note("gap", where, f"STONITH plugin `{plugin}` is not one the export "
                              "knows the parameter names of; configure stonith:"
                              f"{plugin} by hand (`stonith -t {plugin} -n`)"))
            continue
        fixed = [n for n in names if not n.endswith("*")]
        if len(args) > len(fixed) and not any(n.endswith("*") for n in names):
            notes.append(Note("gap", where, f"{plugin} takes {len(fixed)} arguments; the "
                              f"last {len(args) - len(fixed)} not exported"))
        rid = safe_id(f"fence_{plugin}_{d.line}")
        devices.append(Primitive(rid, "stonith", None, plugin, _params(names, args),
                                 source=" ".join(("stonith_host", *d.args))))
        if source != "*":
            if source in nodes:
                prefs.append(Preference(f"{rid}_on_{safe_id(source)}", rid, source, INFINITY))
            else:
                notes.append(Note("gap", where, f"`{source}` is not a node in ha.cf: "
                                  f"{rid} may run on any node"))
    return Fencing(tuple(devices), tuple(prefs), tuple(notes))
