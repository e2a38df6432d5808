"""When to check a resource, and what to do when a check fails (pure, sans-I/O).

Fed the monitors' settings, the groups running here, check results and the
monotonic time, :class:`MonitorPolicy` returns :data:`MonitorAction` values;
the daemon runs the checks (:mod:`hapulse.monitors.checks`), restarts
resources and hands groups over.

Rules:
- Only resources with a ``[monitor."RESOURCE"]`` section are checked, and
  only while their group is *running here* (held and started: not starting,
  stopping, or held elsewhere). A group that stops here pauses its monitors;
  a result that arrives after the pause (or after a restart) is dropped.
- The first check runs one interval after the group is seen running, then
  one interval after each result: a slow check delays only its own next run.
- A failed or timed-out check raises the group's **fail count** here and:
  - restarts in place when the resource has been restarted fewer than
    ``restarts`` times in the last ``window`` seconds. As Pacemaker does for a
    group, the failed resource *and every resource after it* in the group
    are restarted (stopped from the last back to it, started from it on):
    the later ones depend on it. The earlier ones (the address) keep running.
  - otherwise (or when the restart itself fails) the whole group **moves**:
    the node core bans this node from the group (``Node.ban``) and hands it to
    the peer. The ban holds until ``cleanup``.
- While a group restarts or moves its monitors are paused.
- Events go out only on transitions of a resource's state: ``failed``,
  ``timeout``, ``restarted``, ``moved``, and ``recovered`` (an ok check after
  any of those).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from hapulse.actions import Log
from hapulse.config.settings import MonitorSettings
from hapulse.states import LogLevel

OK, FAILED, TIMEOUT = "ok", "failed", "timeout"
RESULTS = (OK, FAILED, TIMEOUT)


@dataclass(frozen=True, slots=True)
class RunCheck:
    """Run this resource's check now; hand its result back with `token`."""

    resource: str
    token: int


@dataclass(frozen=True, slots=True)
class Restart:
    """Restart `resource` and the resources after it in `group` (stop in reverse, start)."""

    group: str
    resource: str


@dataclass(frozen=True, slots=True)
class Move:
    """Ban this node from `group` and hand the group to the peer (``Node.ban``)."""

    group: str
    reason: str


@dataclass(frozen=True, slots=True)
class Notify:
    """A monitor transition for the event bus: `state` failed, timeout, recovered,
    restarted or moved."""

    resource: str
    state: str
    old: str
    detail: str


@dataclass(frozen=True, slots=True)
class FailCount:
    """The group's fail count here changed (for the metrics)."""

    group: str
    count: int


MonitorAction = RunCheck | Restart | Move | Notify | FailCount | Log


@dataclass
class _Monitor:
    settings: MonitorSettings
    group: str
    token: int = 0
    active: bool = False
    due: float | None = None  # when the next check runs (None: paused or in flight)
    in_flight: bool = False
    state: str = ""  # "", ok, failed, timeout, restarted, moved
    last: str | None = None  # the last result: ok, failed, timeout
    last_at: float | None = None  # monotonic time of the last result
    reason: str = ""
    duration: float | None = None
    restarts: list[float] = field(default_factory=list)  # times of restarts (window)


@dataclass
class _Group:
    fail_count: int = 0
    busy: str = ""  # "", restarting, moving: monitors paused


@dataclass(frozen=True)
class MonitorView:
    resource: str
    group: str
    kind: str  # the kind written, or "agent" (the check of its agent)
    interval: float
    active: bool
    state: str
    last: str | None
    last_at: float | None  # monotonic
    reason: str
    duration: float | None
    restarts_in_window: int


class MonitorPolicy:
    def __init__(self, monitors: Collection[MonitorSettings],
                 groups: Mapping[str, tuple[str, ...]], now: float) -> None:
        """`monitors`: the settings of every monitored resource; `groups`: group id ->
        its resources as written in haresources, in order."""
        self.monitors: dict[str, _Monitor] = {}
        self.groups: dict[str, _Group] = {}
        self.members: dict[str, tuple[str, ...]] = {}
        self.configure(monitors, groups, now)

    # ---- configuration ------------------------------------------------------------
    def configure(self, monitors: Collection[MonitorSettings],
                  groups: Mapping[str, tuple[str, ...]], now: float) -> list[MonitorAction]:
        """New settings (a reload): added monitors start with their group, removed ones
        stop (a check in flight is ignored), changed ones keep their history."""
        self.members = {g: tuple(rs) for g, rs in groups.items()}
        group_of = {r: g for g, rs in reversed(list(groups.items())) for r in rs}
        out: list[MonitorAction] = []
        wanted = {m.resource: m for m in monitors if m.resource in group_of}
        for name in [n for n in self.monitors if n not in wanted]:
            del self.monitors[name]
            out.append(Log(LogLevel.INFO, f"monitor {name}: removed"))
        for name, s in wanted.items():
            mon = self.monitors.get(name)
            if mon is None:
                self.monitors[name] = _Monitor(s, group_of[name])
                out.append(Log(LogLevel.INFO, f"monitor {name}: {_kind(s)} every "
                                              f"{s.interval:g} s (group {group_of[name]})"))
            elif mon.settings != s or mon.group != group_of[name]:
                if mon.group != group_of[name]:
                    self._pause(mon)
                mon.settings, mon.group = s, group_of[name]
                if mon.due is not None:
                    mon.due = min(mon.due, now + s.interval)
                out.append(Log(LogLevel.INFO, f"monitor {name}: changed: {_kind(s)} every "
                                              f"{s.interval:g} s"))
        for gid in groups:
            self.groups.setdefault(gid, _Group())
        for gid in [g for g in self.groups if g not in groups]:
            del self.groups[gid]
        return out

    # ---- inputs ---------------------------------------------------------------------
    def tick(self, now: float, running: Collection[str]) -> list[MonitorAction]:
        """`running`: the groups held and started here now. Returns the checks due."""
        out: list[MonitorAction] = []
        for gid, g in self.groups.items():
            if gid not in running and g.busy == "moving":
                g.busy = ""  # the move is done: its release ended the group here
        for mon in self.monitors.values():
            g = self.groups[mon.group]
            active = mon.group in running and not g.busy
            if not active:
                if mon.active:
                    self._pause(mon)
                continue
            if not mon.active:
                mon.active = True
                mon.due = now + mon.settings.interval
            if mon.due is not None and now >= mon.due and not mon.in_flight:
                mon.due = None
                mon.in_flight = True
                out.append(RunCheck(mon.settings.resource, mon.token))
        return out

    def on_result(self, resource: str, token: int, result: str, reason: str,
                  duration: float, now: float) -> list[MonitorAction]:
        """A check finished: `result` ok, failed or timeout."""
        assert result in RESULTS, result
        mon = self.monitors.get(resource)
        if mon is None or token != mon.token or not mon.in_flight:
            return []  # removed, paused or restarted meanwhile: a stale answer
        mon.in_flight = False
        mon.last, mon.last_at, mon.reason, mon.duration = result, now, reason, duration
        mon.due = now + mon.settings.interval
        out: list[MonitorAction] = []
        if result == OK:
            if mon.state not in ("", OK):
                out.append(Notify(resource, "recovered", mon.state,
                                  f"group {mon.group}, fail count "
                                  f"{self.groups[mon.group].fail_count}"))
                out.append(Log(LogLevel.INFO, f"monitor {resource}: running again"))
            mon.state = OK
            return out
        g = self.groups[mon.group]
        g.fail_count += 1
        out.append(FailCount(mon.group, g.fail_count))
        detail = f"group {mon.group}, fail count {g.fail_count}, {reason or result}"
        if mon.state != result:
            out.append(Notify(resource, result, mon.state, detail))
        mon.state = result
        s = mon.settings
        mon.restarts = [t for t in mon.restarts if now - t < s.window]
        if len(mon.restarts) < s.restarts:
            mon.restarts.append(now)
            g.busy = "restarting"
            self._pause_group(mon.group)
            out.append(Log(LogLevel.WARNING, f"monitor {resource}: {result} ({reason}); "
                                             f"restarting it in place (restart "
                                             f"{len(mon.restarts)} of {s.restarts} within "
                                             f"{s.window:g} s)"))
            out.append(Restart(mon.group, resource))
            return out
        why = (f"{resource} {result} ({reason}) after {len(mon.restarts)} restart(s) within "
               f"{s.window:g} s" if s.restarts else f"{resource} {result} ({reason}); "
                                                    "restarts = 0")
        out.extend(self._move(mon, why))
        return out

    def restart_done(self, group: str, resource: str, ok: bool, reason: str,
                     now: float) -> list[MonitorAction]:
        """The in-place restart of `resource` (and the ones after it) finished."""
        g = self.groups.get(group)
        mon = self.monitors.get(resource)
        if g is None or g.busy != "restarting":
            return []
        g.busy = ""
        if mon is None:
            return []
        if ok:
            mon.state = "restarted"  # its monitors resume at the next tick, an interval on
            return [Notify(resource, "restarted", mon.last or "",
                           f"group {group}, fail count {g.fail_count}, {mon.reason}"),
                    Log(LogLevel.INFO, f"monitor {resource}: restarted in place")]
        g.fail_count += 1
        return [FailCount(group, g.fail_count),
                *self._move(mon, f"restarting {resource} failed: {reason}")]

    def cleanup(self, group: str) -> list[MonitorAction]:
        """`hapulse cleanup GROUP`: the fail count and the restart history forgotten."""
        g = self.groups.get(group)
        if g is None:
            return []
        out: list[MonitorAction] = []
        if g.fail_count:
            out.append(FailCount(group, 0))
        g.fail_count = 0
        for m in self._of(group):
            m.restarts.clear()
        return out

    # ---- outputs --------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        dues = [m.due for m in self.monitors.values()
                if m.active and m.due is not None and not m.in_flight]
        return min(dues) if dues else None

    def fail_count(self, group: str) -> int:
        g = self.groups.get(group)
        return g.fail_count if g else 0

    def view(self, now: float) -> list[MonitorView]:
        return [MonitorView(
            m.settings.resource, m.group, _kind(m.settings), m.settings.interval, m.active,
            m.state, m.last, m.last_at, m.reason, m.duration,
            sum(1 for t in m.restarts if now - t < m.settings.window))
            for m in self.monitors.values()]

    # ---- helpers --------------------------------------------------------------------
    def _of(self, group: str) -> list[_Monitor]:
        return [m for m in self.monitors.values() if m.group == group]

    def _pause(self, mon: _Monitor) -> None:
        mon.active = False
        mon.due = None
        mon.in_flight = False
        mon.token += 1  # a result still on its way is stale

    def _pause_group(self, group: str) -> None:
        for m in self._of(group):
            self._pause(m)

    def _move(self, mon: _Monitor, why: str) -> list[MonitorAction]:
        g = self.groups[mon.group]
        g.busy = "moving"
        self._pause_group(mon.group)
        old, mon.state = mon.state, "moved"
        return [Log(LogLevel.ERROR, f"monitor: moving group {mon.group} away: {why}; this node "
                                    f"will not take it again until `hapulse cleanup "
                                    f"{mon.group}`"),
                Notify(mon.settings.resource, "moved", old,
                       f"group {mon.group}, fail count {g.fail_count}, {why}"),
                Move(mon.group, why)]


def _kind(s: MonitorSettings) -> str:
    return s.kind or "agent"
