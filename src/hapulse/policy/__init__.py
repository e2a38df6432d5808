"""Who should own which resource group (pure, sans-I/O).

Fed node states, peers' resource messages and the results of resource
actions, it returns what to do: acquire or release a group, tell the
peers, write a log line. Each decision reads the current picture of the
cluster and says why in its log line.

Rules (Heartbeat's haresources semantics):
- A group is held by at most one live node. This node acquires a group
  only when no live peer holds it or may hold it: at start-up it waits
  until every peer is known (heard, or dead after initdead) and every live
  peer has announced what it holds.
- The preferred node (haresources) acquires its groups; a node takes over
  the groups of a dead peer.
- ``auto_failback on`` (and ``legacy``): when the preferred node is back,
  the holder releases, announces, and the preferred node acquires.
  ``off``: the holder keeps the group.
- ``standby`` gives groups to the peer (the peer acquires once they are
  released); ``takeover`` asks the peer to give them here. ``local`` means
  the groups this node is preferred for, ``foreign`` the others.
- A graceful shutdown releases every group, announces, then leaves; the
  peer takes the groups at once, without waiting for deadtime.
- A failed acquisition releases the group and marks it failed here: it is
  not retried here until the cluster changes, and the peer may take it.

Messages: ``t=resource`` with ``rsc_hold`` (``none``, ``local``,
``foreign``, ``all``, as Heartbeat's) and hapulse's ``hp_held`` (the group
ids held), ``hp_give`` (groups handed to the peer), ``hp_failed``; and
``t=hp_takeover`` with ``hp_groups``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hapulse.wire.message import Message

STOPPED, STARTING, RUNNING, STOPPING, FAILED = "stopped", "starting", "running", "stopping", \
    "failed"
ANNOUNCE_WAIT = 3.0  # seconds a live peer has to announce its groups after we first see it


@dataclass(frozen=True)
class Acquire:
    group_id: str


@dataclass(frozen=True)
class Release:
    group_id: str


@dataclass(frozen=True)
class SendCluster:
    msg: Message


@dataclass(frozen=True)
class Log:
    level: str
    text: str


@dataclass(frozen=True)
class ShutdownComplete:
    pass


@dataclass
class PeerInfo:
    status: str = "init"
    announced: bool = False
    held: set[str] = field(default_factory=set)
    given: set[str] = field(default_factory=set)  # groups this peer handed to us
    failed: set[str] = field(default_factory=set)  # groups that failed to start there
    wait_over: bool = False  # its time to announce has passed (a Heartbeat peer may never)
    seen_at: float | None = None


class Policy:
    def __init__(self, local: str, nodes: Sequence[str], groups: Sequence[Any],
                 auto_failback: str, now: float) -> None:
        self.local = local
        self.groups = {g.resources[0].text: g.node for g in groups}
        self.order = list(self.groups)
        self.auto_failback = auto_failback
        self.peers = {n: PeerInfo() for n in nodes if n.lower() != local.lower()}
        self.state = dict.fromkeys(self.groups, STOPPED)
        self.failed_here: set[str] = set()
        self.giving: set[str] = set()  # groups we release for the peer (standby)
        self.shutting_down = False
        self.now = now

    # ---- helpers --------------------------------------------------------------
    def _is_local(self, node: str) -> bool:
        return node.lower() == self.local.lower()

    def _peer(self, node: str) -> PeerInfo | None:
        for name, p in self.peers.items():
            if name.lower() == node.lower():
                return p
        return None

    def _alive(self, p: PeerInfo) -> bool:
        return p.status in ("up", "active")

    def _held_by_peer(self, gid: str) -> bool:
        return any(self._alive(p) and gid in p.held for p in self.peers.values())

    def _preferred_alive(self, gid: str) -> bool:
        node = self.groups[gid]
        if self._is_local(node):
            return True
        p = self._peer(node)
        return p is not None and self._alive(p)

    def _settled(self, now: float) -> bool:
        """Every peer known; every live peer has announced (or had its chance to)."""
        for p in self.peers.values():
            if p.status == "init":
                return False
            if self._alive(p) and not p.announced and not p.wait_over:
                if p.seen_at is not None and now - p.seen_at >= ANNOUNCE_WAIT:
                    p.wait_over = True
                else:
                    return False
        return True

    def held(self) -> set[str]:
        """Groups this node may have running: until a stop completes, it still holds them."""
        return {g for g, st in self.state.items() if st in (RUNNING, STARTING, STOPPING)}

    def rsc_hold(self) -> str:
        held = self.held()
        local = {g for g in held if self._is_local(self.groups[g])}
        foreign = held - local
        if local and foreign:
            return "all"
        return "local" if local else "foreign" if foreign else "none"

    def cl_rscstatus(self, now: float) -> str:
        """`cl_status rscstatus` as Heartbeat 3.0.6 answers it (measured against it).

        Heartbeat tracks what a node holds only with nice_failback (auto_failback
        on or off); in legacy mode it always answers `none`. Otherwise `local`
        means "every group preferred here runs here" (true for a node that
        prefers none), `foreign` that it runs groups preferred elsewhere,
        `transition` while a group starts or stops, and `none` until the
        initial acquisition is over.
        """
        if self.auto_failback == "legacy":
            return "none"
        if any(st in (STARTING, STOPPING) for st in self.state.values()):
            return "transition"
        if not self._settled(now):
            return "none"
        mine = [g for g, node in self.groups.items() if self._is_local(node)]
        local = all(self.state[g] == RUNNING for g in mine)
        foreign = any(self.state[g] == RUNNING for g in self.groups if g not in mine)
        return {(True, True): "all", (True, False): "local",
                (False, True): "foreign", (False, False): "none"}[(local, foreign)]

    def _announce(self, hello: bool = False) -> SendCluster:
        """Tell the peers what this node holds; `hello` asks them to answer likewise."""
        msg = Message.from_pairs([
            ("t", "resource"), ("rsc_hold", self.rsc_hold()), ("rtype", "full"),
            ("isstable", "1" if all(s in (RUNNING, STOPPED, FAILED)
                                    for s in self.state.values()) else "0"),
            ("hp_held", " ".join(sorted(self.held()))),
            ("hp_give", " ".join(sorted(self.giving))),
            ("hp_failed", " ".join(sorted(self.failed_here))),
        ])
        if hello:
            msg.append("hp_hello", "1")
        return SendCluster(msg)

    # ---- decisions ------------------------------------------------------------
    def decide(self, now: float) -> list[Any]:
        out: list[Any] = []
        if self.shutting_down:
            return out
        settled = self._settled(now)
        for gid in self.order:
            st = self.state[gid]
            pref = self.groups[gid]
            if st == RUNNING and gid not in self.giving and not self._is_local(pref):
                p = self._peer(pref)
                if (self.auto_failback in ("on", "legacy") and p is not None and self._alive(p)
                        and p.announced and gid not in p.given and gid not in p.failed):
                    self.state[gid] = STOPPING
                    out.append(Log("info", f"auto_failback: giving {gid} back to its preferred "
                                           f"node {pref}"))
                    out.append(Release(gid))
                continue
            if st != STOPPED or not settled or gid in self.failed_here:
                continue
            if self._held_by_peer(gid):
                continue
            if gid in self.giving:
                continue  # this node is handing it to the peer
            given = any(self._alive(p) and gid in p.given for p in self.peers.values())
            if self._is_local(pref):
                why = f"{gid}: preferred here and held by no live node"
            elif given:
                why = f"{gid}: handed over by its holder (standby)"
            elif not self._preferred_alive(gid):
                why = f"{gid}: preferred node {pref} is dead; taking over"
            elif gid in self._failed_by(pref):
                why = f"{gid}: failed on {pref}; taking it here"
            else:
                continue
            self.state[gid] = STARTING
            out.append(Log("info", why))
            out.append(Acquire(gid))
        return out

    def _failed_by(self, node: str) -> set[str]:
        p = self._peer(node)
        return p.failed if p else set()

    # ---- inputs ---------------------------------------------------------------
    def on_node_status(self, node: str, status: str, now: float) -> list[Any]:
        p = self._peer(node)
        if p is None:
            return []
        was_alive = self._alive(p)
        p.status = status
        out: list[Any] = []
        if self._alive(p) and not was_alive:
            p.seen_at = now
            p.announced = False
            p.wait_over = False
            p.held.clear()
            self.failed_here.clear()  # the cluster changed: try again
            out.append(self._announce(hello=True))
        if status == "dead":
            lost = sorted(p.held)
            p.held.clear()
            p.given.clear()
            p.announced = False
            self.failed_here.clear()
            self.giving.clear()
            if lost:
                out.append(Log("info", f"node {node} is dead; it held {', '.join(lost)}"))
        out.extend(self.decide(now))
        return out

    def on_message(self, msg: Message, node: str, now: float) -> list[Any]:
        p = self._peer(node)
        if p is None:
            return []
        t = msg.get("t")
        out: list[Any] = []
        if t == "resource":
            p.announced = True
            held = msg.get("hp_held")
            if held is not None:
                p.held = set(held.split())
                p.given = set((msg.get("hp_give") or "").split())
                p.failed = set((msg.get("hp_failed") or "").split())
            else:  # a Heartbeat node: rsc_hold from its point of view
                hold = msg.get("rsc_hold") or "none"
                p.held = {g for g, pref in self.groups.items()
                          if (hold in ("all", "local") and pref.lower() == node.lower())
                          or (hold in ("all", "foreign") and pref.lower() != node.lower())}
            self.giving -= {g for g in self.giving if g in p.held}
            if msg.get("hp_hello") == "1":  # a (re)started peer: tell it what we hold
                out.append(self._announce())
        elif t == "starting":
            # A Heartbeat node starting its resource manager waits for every live peer's
            # `resource` answer to its `starting` before it takes its groups; an
            # announcement sent before it asked does not count for it.
            out.append(self._announce())
        elif t == "hp_takeover":
            wanted = set((msg.get("hp_groups") or "").split())
            out.extend(self._give({g for g in wanted if g in self.held()}, why="takeover by "
                                  + node))
        out.extend(self.decide(now))
        return out

    def on_resource_done(self, group_id: str, op: str, ok: bool, now: float) -> list[Any]:
        out: list[Any] = []
        if op == "acquire":
            if ok:
                self.state[group_id] = RUNNING
            else:
                self.state[group_id] = FAILED
                self.failed_here.add(group_id)
                out.append(Log("error", f"{group_id} failed to start here; leaving it to a "
                                        "peer"))
                self.state[group_id] = STOPPED
        else:
            self.state[group_id] = STOPPED if ok else FAILED
            if not ok:
                out.append(Log("error", f"{group_id} failed to stop here; it may still run: "
                                        "check it by hand"))
        out.append(self._announce())
        if self.shutting_down and all(s in (STOPPED, FAILED) for s in self.state.values()):
            out.append(ShutdownComplete())
            return out
        out.extend(self.decide(now))
        return out

    def _give(self, groups: set[str], why: str) -> list[Any]:
        out: list[Any] = []
        for gid in sorted(groups):
            self.giving.add(gid)
            if self.state[gid] in (RUNNING, STARTING):
                self.state[gid] = STOPPING
                out.append(Log("info", f"{why}: releasing {gid} for the peer"))
                out.append(Release(gid))
        out.append(self._announce())
        return out

    def _select(self, which: str) -> set[str]:
        local = {g for g, n in self.groups.items() if self._is_local(n)}
        return {"local": local, "foreign": set(self.groups) - local}.get(which, set(self.groups))

    def standby(self, which: str, now: float) -> list[Any]:
        if not any(self._alive(p) for p in self.peers.values()):
            return [Log("warning", "standby refused: no live peer to take the groups")]
        return self._give(self._select(which) & self.held(), why=f"standby {which}")

    def takeover(self, which: str, now: float) -> list[Any]:
        wanted = self._select(which) - self.held()
        self.giving -= wanted
        self.failed_here -= wanted
        msg = Message.from_pairs([("t", "hp_takeover"), ("hp_groups", " ".join(sorted(wanted)))])
        return [self._announce(), SendCluster(msg), Log("info", f"takeover {which}: asking for "
                                              f"{', '.join(sorted(wanted)) or 'nothing'}"),
                *self.decide(now)]

    def shutdown(self, now: float) -> list[Any]:
        self.shutting_down = True
        out: list[Any] = []
        for gid in reversed(self.order):
            if self.state[gid] in (RUNNING, STARTING):
                self.state[gid] = STOPPING
                out.append(Release(gid))
        out.append(self._announce())
        if not any(isinstance(a, Release) for a in out):
            out.append(ShutdownComplete())
        return out

    def tick(self, now: float) -> list[Any]:
        return self.decide(now)

    def next_deadline(self) -> float | None:
        waits = [p.seen_at + ANNOUNCE_WAIT for p in self.peers.values()
                 if self._alive(p) and not p.announced and not p.wait_over
                 and p.seen_at is not None]
        return min(waits) + 1e-3 if waits else None

    def snapshot(self) -> dict[str, Any]:
        return {
            "rsc_hold": self.rsc_hold(),
            "groups": {g: {"preferred": self.groups[g], "here": self.state[g],
                           "peers": sorted(n for n, p in self.peers.items() if g in p.held)}
                       for g in self.order},
        }
