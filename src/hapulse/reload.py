"""What a reload changes (pure): applied live, or refused because it needs a restart.

``hapulse reload`` (SIGHUP) re-reads the three files. Timers, the node
list, auto_failback, the haresources groups, the keys, the logging
directives, ping nodes, deadping, STONITH, and hapulse.toml's ``[hooks]``,
``[metrics]`` (the endpoint is stopped and started again) and resource monitors
(added, removed or changed ``[monitor."RESOURCE"]`` sections) apply at once; the media, the
UDP port, the serial speed, the local node's name, the scheduling
(realtime, rtprio) and respawn lines need a restart,
and a reload that changes any of them is refused whole, naming them, with
the running configuration kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from hapulse.config import Config, HaCf, Medium, ResourceGroup
from hapulse.config.settings import HooksSettings, MetricsSettings


@dataclass(frozen=True)
class ReloadPlan:
    restart_needed: tuple[str, ...]  # what changed that only a restart applies
    changes: tuple[str, ...]  # what changes live, in words
    groups_added: tuple[str, ...]
    groups_removed: tuple[str, ...]
    groups_changed: tuple[str, ...]  # same id, other resources or preferred node
    keys_changed: bool
    logging_changed: bool
    hooks_changed: bool = False  # hapulse.toml's [hooks]
    metrics_changed: bool = False  # [metrics] enabled/address/port: the endpoint moves

    @property
    def changed(self) -> bool:
        return bool(self.changes)


def _differ(name: str, old: object, new: object) -> str | None:
    return None if old == new else f"{name} ({old} -> {new})"


def plan_reload(old: Config, new: Config) -> ReloadPlan:
    o, n = old.hacf, new.hacf
    restart = [d for d in (
        _differ("node name", old.node, new.node),
        _differ("media", _media(o.media), _media(n.media)),
        _differ("udpport", o.udpport, n.udpport),
        _differ("baud", o.baud, n.baud),
        _differ("realtime", o.realtime, n.realtime),
        _differ("rtprio", o.rtprio, n.rtprio),
        _differ("msgfmt", o.msgfmt, n.msgfmt),
        _differ("respawn", _lines(o, "respawn"), _lines(n, "respawn")),
    ) if d]
    live = [d for d in (
        _differ("keepalive", o.keepalive, n.keepalive),
        _differ("deadtime", o.deadtime, n.deadtime),
        _differ("warntime", o.warntime, n.warntime),
        _differ("initdead", o.initdead, n.initdead),
        _differ("nodes", " ".join(o.nodes), " ".join(n.nodes)),
        _differ("auto_failback", o.auto_failback, n.auto_failback),
        _differ("ping nodes", _lines(o, "ping", "ping_group"), _lines(n, "ping", "ping_group")),
        _differ("deadping", o.deadping, n.deadping),
        _differ("stonith", _lines(o, "stonith", "stonith_host"),
                _lines(n, "stonith", "stonith_host")),
    ) if d]
    before = {g.id: g for g in old.groups}
    after = {g.id: g for g in new.groups}
    added = tuple(g for g in after if g not in before)
    removed = tuple(g for g in before if g not in after)
    changed = tuple(g for g in after if g in before and not _same_group(before[g], after[g]))
    live += [f"group {g} added" for g in added] + [f"group {g} removed" for g in removed]
    live += [f"group {g} changed" for g in changed]
    keys = old.authkeys != new.authkeys
    if keys:
        live.append("authkeys")
    logging = (o.logfile, o.debugfile, o.logfacility, o.debug) != (
        n.logfile, n.debugfile, n.logfacility, n.debug)
    if logging:
        live.append("logging")
    hooks = _hooks(old) != _hooks(new)
    if hooks:
        live.append(f"hooks ({_hooks(old)} -> {_hooks(new)})")
    live += _monitor_changes(old, new)
    metrics = _differ("metrics", _metrics(old), _metrics(new))
    if metrics:
        live.append(metrics)
    return ReloadPlan(tuple(restart), tuple(live), added, removed, changed, keys, logging,
                      hooks, metrics_changed=metrics is not None)


def _hooks(config: Config) -> str:
    """hapulse.toml's [hooks] in words."""
    hooks = config.settings.hooks if config.settings is not None else HooksSettings()
    return f"notify {hooks.notify or 'none'}, timeout {hooks.timeout:g} s"


def _monitor_changes(old: Config, new: Config) -> list[str]:
    """hapulse.toml's monitors added, removed or changed (applied live), in words."""
    before = {m.resource: dataclasses.replace(m, line=None)
              for m in (old.settings.monitors if old.settings else ())}
    after = {m.resource: dataclasses.replace(m, line=None)
             for m in (new.settings.monitors if new.settings else ())}
    return ([f"monitor {r} added" for r in after if r not in before]
            + [f"monitor {r} removed" for r in before if r not in after]
            + [f"monitor {r} changed" for r in after if r in before and before[r] != after[r]])


def metrics_settings(config: Config) -> MetricsSettings:
    """hapulse.toml's [metrics] (the defaults, off, without the file)."""
    return config.settings.metrics if config.settings is not None else MetricsSettings()


def _metrics(config: Config) -> str:
    m = metrics_settings(config)
    return f"{m.address}:{m.port}" if m.enabled else "off"


def _lines(hacf: HaCf, *names: str) -> str:
    """Some directives as written, in order (their line numbers do not matter)."""
    return "; ".join(f"{d.name} {' '.join(d.args)}" for d in hacf.directives
                     if d.name in names) or "none"


def _media(media: tuple[Medium, ...]) -> str:
    """The media as they run (their line numbers in ha.cf do not matter)."""
    return ", ".join(" ".join(str(v) for v in (m.kind, m.link, m.address, m.port, m.ttl,
                                               m.loop) if v is not None) for m in media)


def _same_group(a: ResourceGroup, b: ResourceGroup) -> bool:
    return a.node.lower() == b.node.lower() and a.resources == b.resources
