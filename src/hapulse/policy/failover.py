"""Who should own which resource group (pure, sans-I/O).

Fed node states, peers' resource messages and the results of resource
actions, it returns what to do: acquire or release a group, tell the
peers, write a log line. Each decision reads the current picture of the
cluster and says why in its log line.

Rules (Heartbeat's haresources semantics):
- A group is held by at most one live node. This node acquires a group
  only when no live peer holds it or may hold it: at start-up it waits
  until every peer is known (heard, or dead after initdead) and every live
  peer has announced what it holds. A peer that has not answered is asked
  again every ANNOUNCE_WAIT seconds (a lost message), HELLO_TRIES times in
  all; only then is it taken to hold nothing (a Heartbeat peer may never
  answer a hapulse hello).
- The preferred node (haresources) acquires its groups; a node takes over
  the groups of a dead peer.
- ``auto_failback on`` (and ``legacy``): when the preferred node is back,
  the holder releases, announces, and the preferred node acquires.
  ``off``: the holder keeps the group.
- ``standby`` gives groups to the peer (the peer acquires once they are
  released); ``takeover`` asks the peer to give them here. With a
  Heartbeat peer, both run Heartbeat's own exchange
  (:mod:`hapulse.policy.hbstandby`), in both directions. ``local`` means
  the groups this node is preferred for, ``foreign`` the others.
- **A standby never leaves a group without an owner**: a group released
  for the peer that no live peer has taken HANDOVER_WAIT seconds later
  (a peer that cannot or will not take it) is taken back, with a warning.
- A graceful shutdown releases every group, announces, then leaves; the
  peer takes the groups at once, without waiting for deadtime.
- A failed acquisition releases the group and marks it failed here: it is
  not retried here until the cluster changes, and the peer may take it.
- A failed release keeps the group *held* here (state ``failed``): it may
  still run, so no peer is told it may start it.
- **Bans** (resource monitors, :mod:`hapulse.monitors`): ``ban(group)`` hands a
  group this node runs to the peer and keeps this node from taking it again,
  by any rule (start-up, a dead peer, auto_failback, a hand-over, takeover)
  until ``cleanup(group)``. A banned group stays announced in ``hp_give``, so
  the peer keeps it (no auto_failback back here) and takes it when it comes
  back; with no live peer the group stays stopped (as Pacemaker leaves a
  resource banned everywhere). A ban is not kept across a restart of hapulse.
- **Split brain**: when a live peer announces a group this node runs too
  (a cut heartbeat link healed, a frozen node resumed), one holder keeps
  it and the other releases, the same choice on both sides: the preferred
  node under ``on``/``legacy`` when it is a holder, else the holder whose
  name sorts first. The keeper re-advertises the group's addresses at once
  (gratuitous ARP), so clients that followed the other holder come back.

Guards (each off unless ha.cf asks for it):
- **Ping nodes** (``ping``/``ping_group``): a node takes a dead peer's
  groups only while it reaches at least one ping node (the node that lost
  the LAN does not grab the address). The daemon also checks, before such a
  takeover, that nobody on the LAN still answers for the group's addresses
  (an ARP probe): an answered address is *contested*, the acquisition is
  refused and tried again a deadtime later.
- **STONITH** (``stonith``/``stonith_host``): before taking a dead peer's
  groups, this node resets it (:class:`~hapulse.actions.Fence`); a failed
  reset means no takeover, retried every FENCE_RETRY seconds up to
  FENCE_ATTEMPTS times, each failure at CRIT. A peer that reports a failed
  stop (``hp_stopfail``) is reset too, then its groups are taken.

Messages: ``t=resource`` with ``rsc_hold`` (``none``, ``local``,
``foreign``, ``all``, as Heartbeat's) and hapulse's ``hp_held`` (the group
ids held), ``hp_give`` (groups handed to the peer), ``hp_failed``,
``hp_stopfail`` (groups whose stop failed here: they may still run); and
``t=hp_takeover`` with ``hp_groups``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from hapulse.actions import (
    Acquire,
    Log,
    PolicyAction,
    Readvertise,
    Release,
    SendCluster,
    ShutdownComplete,
    SplitBrain,
)
from hapulse.policy import hbstandby as hbs
from hapulse.policy import iprequest as ipr
from hapulse.policy.fencing import Fencing
from hapulse.states import GroupOp, GroupState, LogLevel, NodeState
from hapulse.wire.message import Message

ANNOUNCE_WAIT = 3.0  # seconds a live peer has to answer a hello before it is asked again
HELLO_TRIES = 3  # hellos sent before a silent peer is taken to hold nothing
HANDOVER_WAIT = 5.0  # seconds a peer has to take a group handed to it, else it comes back
# Hellos and the answers to them go out at most once per ANNOUNCE_GAP: the first at once,
# the ones asked for within the gap as one at its end (every announcement is broadcast,
# so one serves every peer that asked). Without it N nodes starting together send
# ~N^3 announcements (each of N-1 peers coming alive -> a hello -> N-1 answers).
ANNOUNCE_GAP = 0.1
# ... and a bigger cluster waits longer: every announcement reaches every node, so the
# cluster's announcements per second stay under 1 / ANNOUNCE_GAP_PER_PEER while peers
# come and go (100 nodes: one each per second at most, 100 a second in all, not 1,000)
ANNOUNCE_GAP_PER_PEER = 0.01


def announce_gap(peers: int) -> float:
    """Seconds between two hellos or answers of one node in a cluster of `peers` + 1."""
    return max(ANNOUNCE_GAP, ANNOUNCE_GAP_PER_PEER * peers)
_STOPPED, _STARTING, _RUNNING = GroupState.STOPPED, GroupState.STARTING, GroupState.RUNNING
_STOPPING, _FAILED = GroupState.STOPPING, GroupState.FAILED
_INFO, _ERROR, _CRIT = LogLevel.INFO, LogLevel.ERROR, LogLevel.CRITICAL


@dataclass
class PeerInfo:
    status: NodeState = NodeState.INIT
    announced: bool = False
    held: set[str] = field(default_factory=set)
    given: set[str] = field(default_factory=set)  # groups this peer handed to us
    failed: set[str] = field(default_factory=set)  # groups that failed to start there
    seen_at: float | None = None  # when the last hello went to it
    hellos: int = 0  # hellos sent since it came alive
    stopfail: set[str] = field(default_factory=set)  # groups whose stop failed there
    hapulse: bool = False  # it announced with hp_held: a hapulse node, not Heartbeat

    def waited_out(self, now: float) -> bool:
        """Every hello went unanswered (a Heartbeat peer may never announce)."""
        return self.hellos >= HELLO_TRIES and self.hello_due(now)

    def hello_due(self, now: float) -> bool:
        return self.seen_at is not None and now - self.seen_at >= ANNOUNCE_WAIT


@dataclass(frozen=True)
class GroupView:
    id: str
    preferred: str
    here: GroupState
    peers: tuple[str, ...]  # live peers that announced holding it


@dataclass(frozen=True)
class PolicyView:
    rsc_hold: str
    groups: tuple[GroupView, ...]
    split_brains: int
    ping_alive: int | None  # live ping nodes (None: no ping nodes configured)
    fenced: tuple[str, ...]  # peers reset since they were last seen alive
    fence_failures: int
    banned: tuple[str, ...] = ()  # groups this node may not take until cleanup


@dataclass
class _Debounce:
    """Hellos and answers to them, at most one per `gap` (leading and trailing)."""

    last: float = -1e9  # when the last one went out
    due: float | None = None  # when the one asked for since may go
    hello: bool = False  # ... and whether it asks the peers to answer
    gap: float = ANNOUNCE_GAP  # announce_gap(peers), set with the node list

    def ask(self, now: float, hello: bool = False) -> None:
        self.hello = self.hello or hello
        if self.due is None:
            self.due = max(now, self.last + self.gap)

    def take(self, now: float) -> bool | None:
        """None: nothing to send now; else send one, a hello when `True`."""
        if self.due is None or now < self.due:
            return None
        hello, self.hello, self.due, self.last = self.hello, False, None, now
        return hello


class Policy:
    def __init__(self, local: str, nodes: Sequence[str], groups: Mapping[str, str],
                 auto_failback: str, now: float, ping_nodes: int = 0,
                 stonith: bool = False, deadtime: float = 30.0) -> None:
        """`groups`: group id -> preferred node, in haresources order; `ping_nodes`: how
        many ping nodes ha.cf lists; `stonith`: a fencing device is configured."""
        self.local = local
        self.auto_failback = auto_failback
        self.groups: dict[str, str] = {}
        self.state: dict[str, GroupState] = {}
        self.peers: dict[str, PeerInfo] = {}
        self.failed_here: set[str] = set()
        self.giving: set[str] = set()  # groups we release for the peer (standby)
        self.released_at: dict[str, float] = {}  # given groups: when their release ended
        self.hb_giving: hbs.Giving | None = None  # standby toward a Heartbeat peer
        self.hb_taking: hbs.Taking | None = None  # a Heartbeat peer's standby toward us
        self.hb_pending_standby: str | None = None  # hb_takeover received while in flux
        # legacy hand-back with Heartbeat peers (ip-request): the requests we answer
        # once the release is over (group -> asker), and ours (asked, then granted)
        self.ip_answer: dict[str, str] = {}
        self.ip_asked: dict[str, ipr.Asked] = {}
        self.ip_granted: set[str] = set()
        # groups a Heartbeat node started without asking while they were starting here:
        # released once started (group -> that node)
        self.ip_yield: dict[str, str] = {}
        self.retiring: set[str] = set()  # groups gone from haresources, being released
        self.banned: set[str] = set()  # groups this node may not take (monitors; cleanup)
        self.split_brains = 0
        self.ping_nodes = ping_nodes
        self.ping_alive = 0
        self.stonith = stonith
        self.deadtime = deadtime
        self.fencing = Fencing()
        self.contested: dict[str, float] = {}  # group -> when to try it again
        self._blocked: set[str] = set()  # groups whose takeover a guard holds back (logged)
        self._contested: set[tuple[str, str]] = set()  # (peer, group) split brains seen
        self.shutting_down = False
        # True while the edge feeds a batch of messages (a polled read): each one is taken
        # in, and the decision made once, by the `tick` that follows the batch (deciding
        # per message walks every peer: O(N) each, O(N^2) a second in a big cluster)
        self.batching = False
        self._debounce = _Debounce()
        self.set_nodes(nodes)
        self.set_groups(groups, changed=())

    # ---- configuration --------------------------------------------------------
    def set_nodes(self, nodes: Sequence[str]) -> None:
        keep = {n for n in nodes if not self._is_local(n)}
        self.peers = {n: self._peer(n) or PeerInfo() for n in keep}
        self._debounce.gap = announce_gap(len(self.peers))

    def set_groups(self, groups: Mapping[str, str], changed: Iterable[str]) -> list[PolicyAction]:
        """New haresources groups: added ones may start, removed or `changed` ones held
        here are released (a changed one then starts again by the same rules)."""
        out: list[PolicyAction] = []
        for gid in [g for g in self.groups if g not in groups or g in set(changed)]:
            if self.state[gid] in (_RUNNING, _STARTING):
                self.state[gid] = _STOPPING
                out.append(Log(_INFO, f"{gid}: haresources changed; releasing it"))
                out.append(Release(gid))
            if gid not in groups:
                if self.state[gid].held:
                    self.retiring.add(gid)
                else:
                    del self.state[gid]
        self.groups = dict(groups)
        self.banned &= self.groups.keys()
        for gid in self.groups:
            self.state.setdefault(gid, _STOPPED)
        return out

    # ---- helpers --------------------------------------------------------------
    def _is_local(self, node: str) -> bool:
        return node.lower() == self.local.lower()

    def _name(self, node: str) -> str:
        return next((n for n in self.peers if n.lower() == node.lower()), node)

    def _peer(self, node: str) -> PeerInfo | None:
        for name, p in self.peers.items():
            if name.lower() == node.lower():
                return p
        return None

    def _held_by_peer(self, gid: str) -> bool:
        return any(p.status.alive and gid in p.held for p in self.peers.values())

    def _preferred_alive(self, gid: str) -> bool:
        node = self.groups[gid]
        if self._is_local(node):
            return True
        p = self._peer(node)
        return p is not None and p.status.alive

    def settled(self, now: float) -> bool:
        """Every peer known; every live peer has announced (or had its chance to)."""
        return all(p.status is not NodeState.INIT
                   and (not p.status.alive or p.announced or p.waited_out(now))
                   for p in self.peers.values())

    def held(self) -> set[str]:
        """Groups this node may have running: until a stop completes, it still holds them."""
        return {g for g, st in self.state.items() if st.held}

    def rsc_hold(self) -> str:
        """What this node holds in Heartbeat's words, as a Heartbeat peer reads them: `local`
        when every group preferred here is held here (so a node that prefers none holds its
        empty local set: Heartbeat's audit logs "No one owns foreign resources!" otherwise),
        `foreign` when it holds groups preferred elsewhere."""
        held = self.held()
        mine = {g for g, node in self.groups.items() if self._is_local(node)}
        given_away = {g for g in mine & self.giving if self.state.get(g) is not _FAILED}
        local = mine <= held and not given_away
        foreign = bool(held - mine)
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
        if any(st in (_STARTING, _STOPPING) for st in self.state.values()):
            return "transition"
        if not self.settled(now):
            return "none"
        mine = [g for g, node in self.groups.items() if self._is_local(node)]
        local = all(self.state[g] is _RUNNING for g in mine)
        foreign = any(self.state[g] is _RUNNING for g in self.groups if g not in mine)
        return {(True, True): "all", (True, False): "local",
                (False, True): "foreign", (False, False): "none"}[(local, foreign)]

    def _announce(self, hello: bool = False) -> SendCluster:
        """Tell the peers what this node holds; `hello` asks them to answer likewise."""
        msg = Message.from_pairs([
            ("t", "resource"), ("rsc_hold", self.rsc_hold()), ("rtype", "full"),
            ("isstable", "1" if all(s in (_RUNNING, _STOPPED, _FAILED)
                                    for s in self.state.values()) else "0"),
            ("hp_held", " ".join(sorted(self.held()))),
            ("hp_give", " ".join(sorted(self.giving | (self.banned & self.groups.keys())))),
            ("hp_failed", " ".join(sorted(self.failed_here))),
            ("hp_stopfail", " ".join(sorted(g for g, s in self.state.items() if s is _FAILED))),
        ])
        if hello:
            msg.append("hp_hello", "1")
        return SendCluster(msg)

    # ---- decisions ------------------------------------------------------------
    def decide(self, now: float) -> list[PolicyAction]:
        out: list[PolicyAction] = []
        if self.shutting_down:
            return out
        out.extend(self._resolve_split_brain())
        out.extend(self._fence_stop_failures(now))
        for peer in self.peers.values():  # a hello (or its answer) may have been lost
            if peer.status.alive and not peer.announced and peer.hellos < HELLO_TRIES \
                    and peer.hello_due(now):
                peer.hellos += 1
                peer.seen_at = now
                self._debounce.ask(now, hello=True)
        out.extend(self._debounced(now))
        out.extend(self._take_back_unowned(now))
        g = self.hb_giving
        if g is not None and not g.peer_ready and now - g.since >= hbs.REPLY_WAIT:
            self.hb_giving = None
            out.append(Log(LogLevel.WARNING, "No reply to standby request.  Standby request "
                                             "cancelled (the peer keeps nothing of ours)."))
        settled = self.settled(now)
        for gid, pref in self.groups.items():
            st = self.state[gid]
            if st is _RUNNING and gid not in self.giving and not self._is_local(pref):
                p = self._peer(pref)
                if (self.auto_failback in ("on", "legacy") and p is not None and p.status.alive
                        and p.announced and gid not in p.given and gid not in p.failed):
                    if not p.hapulse:  # Heartbeat takes its groups back only by its exchange
                        out.extend(self._failback_to_heartbeat(now))
                        continue
                    self.state[gid] = _STOPPING
                    out.append(Log(_INFO, f"auto_failback: giving {gid} back to its preferred "
                                          f"node {pref}"))
                    out.append(Release(gid))
                continue
            if st is not _STOPPED or not settled or gid in self.failed_here \
                    or gid in self.banned:
                continue
            if self._held_by_peer(gid) or gid in self.giving:
                continue
            if self._is_local(pref) and self._ask_heartbeat_first(gid, now, out):
                continue
            if now < self.contested.get(gid, -1.0):
                continue  # its address answered elsewhere: tried again later
            given = any(p.status.alive and gid in p.given for p in self.peers.values())
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
            # "held by no live node" rests on a dead peer's silence: the guards decide
            uncertain = any(p.status is NodeState.DEAD for p in self.peers.values())
            if uncertain:
                held_back = self._guard_takeover(gid, now)
                if held_back:
                    out.extend(held_back)
                    continue
            self.state[gid] = _STARTING
            out.append(Log(_INFO, why))
            out.append(Acquire(gid, takeover=uncertain))
        if any(isinstance(a, Acquire) for a in out):
            out.append(self._announce())  # at once: a peer deciding now must see it taken
        return out

    def _take_back_unowned(self, now: float) -> list[PolicyAction]:
        """Groups handed over that nobody took within HANDOVER_WAIT: this node runs them
        again (a peer that ignored the hand-over must not leave the site down)."""
        out: list[PolicyAction] = []
        for gid, at in sorted(self.released_at.items()):
            if gid not in self.giving or gid not in self.state:
                del self.released_at[gid]
            elif self._held_by_peer(gid) or gid in self.banned:
                del self.released_at[gid]  # taken (the hand-over is done), or not ours to take
            elif now - at >= self._handover_wait() and self.state[gid] is _STOPPED:
                del self.released_at[gid]
                self.giving.discard(gid)
                self.state[gid] = _STARTING
                out.append(Log(LogLevel.WARNING, f"{gid}: handed over, but no peer took it in "
                                                 f"{HANDOVER_WAIT:g} s; taking it back"))
                out.append(Acquire(gid))
                out.append(self._announce())
        return out

    def _handover_wait(self) -> float:
        """A Heartbeat peer that answered `other` is taking the groups: give it longer."""
        g = self.hb_giving
        return hbs.EXCHANGE_WAIT if g is not None and g.peer_ready else HANDOVER_WAIT

    def _guard_takeover(self, gid: str, now: float) -> list[PolicyAction]:
        """Why this node may not start a group while a peer is dead (empty: it may): the
        dead peer may be alive behind a cut, holding it."""
        if self.ping_nodes and not self.ping_alive:
            if gid in self._blocked:
                return [Log(LogLevel.DEBUG, f"{gid}: still no ping node reachable")]
            self._blocked.add(gid)
            return [Log(LogLevel.WARNING, f"{gid}: not starting it: none of this node's "
                                          f"{self.ping_nodes} ping node(s) answers (this "
                                          "node may be the one cut off)")]
        self._blocked.discard(gid)
        if not self.stonith:
            return []
        dead = [n for n, p in self.peers.items() if p.status is NodeState.DEAD]
        pending = [n for n in dead if not self.fencing.reset(n)]
        out: list[PolicyAction] = [Log(LogLevel.DEBUG, f"{gid}: waiting for {n} to be reset")
                                   for n in pending]
        for n in pending:
            out.extend(self.fencing.request(n, now))
        return out

    def _fence_stop_failures(self, now: float) -> list[PolicyAction]:
        """A live peer whose stop failed may still run a group: reset it (STONITH only)."""
        out: list[PolicyAction] = []
        if not self.stonith:
            return out
        for name, p in self.peers.items():
            if p.status.alive and p.stopfail and not self.fencing.reset(name):
                out.extend(self.fencing.request(name, now))
        return out

    def on_fence_done(self, node: str, ok: bool, now: float) -> list[PolicyAction]:
        """The reset of `node` finished: on success its groups are free to take."""
        out: list[PolicyAction] = [self.fencing.finished(self._name(node), ok, now)]
        p = self._peer(node)
        if ok and p is not None:  # reset: nothing of it runs any more
            p.held.clear()
            p.stopfail.clear()
        out.extend(self.decide(now))
        return out

    def set_ping(self, alive: int, now: float) -> list[PolicyAction]:
        """How many ping nodes answer now; a change may allow a held-back takeover."""
        self.ping_alive = alive
        return self.decide(now)

    def _keeper(self, gid: str, peer: str) -> str:
        """Who keeps a group both this node and `peer` hold: the same answer on both."""
        pref = self.groups[gid]
        holders = [self.local, peer]
        if self.auto_failback in ("on", "legacy"):
            for h in holders:
                if h.lower() == pref.lower():
                    return h
        return min(holders, key=str.lower)

    def _resolve_split_brain(self) -> list[PolicyAction]:
        out: list[PolicyAction] = []
        for name, p in self.peers.items():
            if not p.status.alive:
                continue
            for gid in sorted(p.held & self.groups.keys()):
                if self.state[gid] not in (_RUNNING, _STARTING):
                    continue
                if (name, gid) in self._contested:
                    continue
                self._contested.add((name, gid))
                self.split_brains += 1
                keeper = self._keeper(gid, name)
                out.append(Log(_CRIT, f"Cluster node {name} returning after partition."))
                out.append(Log(_CRIT, f"split brain: {self.local} and {name} both hold {gid}; "
                                      f"{keeper} keeps it, the other releases it "
                                      "(see docs/resources.md#split-brain)"))
                out.append(SplitBrain(name, gid, keeper))
                if self._is_local(keeper):
                    out.append(Readvertise(gid))
                else:
                    self.state[gid] = _STOPPING
                    out.append(Release(gid))
        return out

    def _failed_by(self, node: str) -> set[str]:
        p = self._peer(node)
        return p.failed if p else set()

    # ---- inputs ---------------------------------------------------------------
    def on_node_status(self, node: str, status: NodeState, now: float) -> list[PolicyAction]:
        p = self._peer(node)
        if p is None:
            return []
        was_alive = p.status.alive
        p.status = status
        out: list[PolicyAction] = []
        if status.alive and not was_alive:
            self.fencing.forget(self._name(node))  # reset once more if it dies again
            p.seen_at = now
            p.hellos = 1
            p.announced = False
            p.held.clear()
            self.failed_here.clear()  # the cluster changed: try again
            self._debounce.ask(now, hello=True)
        if status is NodeState.DEAD:
            lost = sorted(p.held)
            p.held.clear()
            p.given.clear()
            p.announced = False
            self.failed_here.clear()
            self.giving.clear()
            self._contested = {c for c in self._contested if c[0] != node}
            self.ip_answer = {g: n for g, n in self.ip_answer.items()
                              if n.lower() != node.lower()}
            self.ip_yield = {g: n for g, n in self.ip_yield.items() if n.lower() != node.lower()}
            if lost:
                out.append(Log(_INFO, f"node {node} is dead; it held {', '.join(lost)}"))
        if not self.batching:
            out.extend(self.decide(now))
        return out

    def on_message(self, msg: Message, node: str, now: float) -> list[PolicyAction]:
        p = self._peer(node)
        if p is None:
            return []
        t = msg.get("t")
        out: list[PolicyAction] = []
        if t == "resource":
            p.announced = True
            held = msg.get("hp_held")
            if held is not None:
                p.hapulse = True
                p.held = set(held.split())
                p.given = set((msg.get("hp_give") or "").split())
                p.failed = set((msg.get("hp_failed") or "").split())
                p.stopfail = set((msg.get("hp_stopfail") or "").split())
            else:  # a Heartbeat node: rsc_hold from its point of view
                hold = msg.get("rsc_hold") or "none"
                p.held = {g for g, pref in self.groups.items()
                          if (hold in ("all", "local") and pref.lower() == node.lower())
                          or (hold in ("all", "foreign") and pref.lower() != node.lower())}
            self.giving -= p.given  # the latest hand-over wins: it gave them back
            self._contested = {c for c in self._contested if c[0] != node or c[1] in p.held}
            if msg.get("hp_hello") == "1":  # a (re)started peer: tell it what we hold
                self._debounce.ask(now)
        elif t == "starting":
            # A Heartbeat node starting its resource manager waits for every live peer's
            # `resource` answer to its `starting` before it takes its groups; an
            # announcement sent before it asked does not count for it.
            out.append(self._announce())
        elif t == "hp_takeover":
            wanted = set((msg.get("hp_groups") or "").split())
            out.extend(self._give(wanted & self.held(), why=f"takeover by {node}"))
        elif t == ipr.T_REQUEST and not p.hapulse:
            out.extend(self._ip_request(msg.get("ipaddr") or "", node))
        elif not p.hapulse and (unasked := ipr.taken_unasked(msg, node)) is not None:
            out.extend(self._taken_unasked(unasked, node))
        elif t == ipr.T_RESPONSE and self._is_local(msg.get("dest") or ""):
            gid = msg.get("ipaddr") or ""
            if gid in self.ip_asked:
                del self.ip_asked[gid]
                if msg.get("ok") == "OK":
                    self.ip_granted.add(gid)
                    out.append(Log(_INFO, f"received ip-request-resp {gid} OK "
                                          f"{msg.get('weown') or ''}".rstrip()))
                else:
                    out.append(Log(LogLevel.WARNING, f"{node} could not give {gid} up (its "
                                                     "release failed); not taking it"))
        elif t in (hbs.T_ASK, hbs.T_TAKEOVER) and not p.hapulse:
            out.extend(self._heartbeat_standby(msg, node, p, now))
            out.extend(self.decide(now))
            out.extend(self._standby_progress(now))
            return out
        if not self.batching:
            out.extend(self.decide(now))
        return out

    def on_resource_done(self, group_id: str, op: GroupOp, ok: bool, now: float,
                         contested: str | None = None) -> list[PolicyAction]:
        """A group's start or stop finished; `contested`: the start was refused because
        someone on the LAN still answers for its address (who, in words)."""
        out: list[PolicyAction] = []
        if op is GroupOp.ACQUIRE:
            self.ip_granted.discard(group_id)
            if ok:
                self.state[group_id] = _RUNNING
                self.contested.pop(group_id, None)
                # asked for, or started by a Heartbeat node, while it was starting here
                if group_id in self.ip_answer or group_id in self.ip_yield:
                    self.state[group_id] = _STOPPING
                    out.append(Release(group_id))
            elif contested:
                self.state[group_id] = _STOPPED
                self.contested[group_id] = now + self.deadtime
                out.append(Log(LogLevel.WARNING, f"{group_id}: not taken over: {contested}; "
                                                 f"its holder seems alive on the LAN; trying "
                                                 f"again in {self.deadtime:g} s"))
            else:
                self.failed_here.add(group_id)
                out.append(Log(_ERROR, f"{group_id} failed to start here; leaving it to a "
                                       "peer"))
                self.state[group_id] = _STOPPED
        elif ok:
            self.state[group_id] = _STOPPED
            self.ip_yield.pop(group_id, None)
            if group_id in self.giving:
                self.released_at[group_id] = now
            if group_id in self.ip_answer:
                out.append(SendCluster(ipr.response(self.ip_answer.pop(group_id), group_id,
                                                    weown=True)))
        else:
            self.state[group_id] = _FAILED
            self.ip_yield.pop(group_id, None)
            if group_id in self.ip_answer:
                out.append(SendCluster(ipr.response(self.ip_answer.pop(group_id), group_id,
                                                    weown=True, ok=False)))
            out.append(Log(_CRIT, f"{group_id} failed to stop here and may still run: it "
                                  "stays held by this node (no peer will start it); stop it "
                                  "by hand, then `hapulse cleanup` or restart hapulse"))
        out.extend(self._standby_progress(now))
        if group_id in self.retiring and self.state[group_id] is _STOPPED:
            self.retiring.discard(group_id)
            del self.state[group_id]
        out.append(self._announce())
        if self.shutting_down and not any(s in (_RUNNING, _STARTING, _STOPPING)
                                          for s in self.state.values()):
            out.append(ShutdownComplete())
            return out
        out.extend(self.decide(now))
        return out

    def _heartbeat_standby(self, msg: Message, node: str, p: PeerInfo,
                           now: float) -> list[PolicyAction]:
        """A Heartbeat peer's hb_standby / hb_takeover, as a Heartbeat peer would answer."""
        which = hbs.word(msg.get("rsc_hold") or "all")
        if self.auto_failback == "legacy":
            return [Log(_INFO, f"{node}: {msg.get('t')} {which}: {hbs.LEGACY_REFUSAL} "
                               "(auto_failback on or off): ignored, as Heartbeat does")]
        if msg.get("t") == hbs.T_TAKEOVER:  # the peer wants our groups: we go standby
            if any(s in (_STARTING, _STOPPING) for s in self.state.values()):
                self.hb_pending_standby = hbs.mirrored(which)  # once stable, as Heartbeat
                return [Log(_INFO, f"{node}: hb_takeover {which}: local resources in flux; "
                                   "going standby once they are stable")]
            return self.standby(hbs.mirrored(which), now)
        info = msg.get("info")
        out: list[PolicyAction] = []
        if info == hbs.ME:
            out.append(Log(_INFO, f"{node} wants to go standby [{which}]"))
            self.hb_taking = hbs.Taking(node, which)
            out.append(SendCluster(hbs.ask(which, hbs.OTHER)))
        elif info == hbs.OTHER and self.hb_giving is not None \
                and not self.hb_giving.peer_ready:
            g = self.hb_giving
            out.append(Log(_INFO, f"standby: {node} can take our {g.which} resources"))
            g.peer_ready = True
            out.extend(self._give(g.groups & self.held(), why=f"standby {g.which}"))
            out.extend(self._standby_progress(now))
        elif info == hbs.DONE and self.hb_giving is not None and self.hb_giving.done_sent:
            out.append(Log(_INFO, f"Other node completed standby takeover of "
                                  f"{self.hb_giving.which} resources."))
            self.hb_giving = None
        elif info == hbs.DONE and self.hb_taking is not None \
                and self.hb_taking.peer.lower() == node.lower():
            prefers_peer = {g for g, pref in self.groups.items() if pref.lower() == node.lower()}
            wanted = {"local": prefers_peer, "foreign": set(self.groups) - prefers_peer}.get(
                self.hb_taking.which, set(self.groups))
            self.hb_taking.groups = wanted
            self.hb_taking.released = True
            p.held -= wanted
            p.given |= wanted
            self.giving -= wanted  # the latest hand-over wins
            out.append(Log(_INFO, f"standby: acquire [{self.hb_taking.which}] resources from "
                                  f"{node}"))
        return out

    def _debounced(self, now: float) -> list[PolicyAction]:
        """The hello or answer asked for, when its turn has come (see ANNOUNCE_GAP)."""
        hello = self._debounce.take(now)
        return [] if hello is None else [self._announce(hello=hello)]

    def _failback_to_heartbeat(self, now: float) -> list[PolicyAction]:
        """auto_failback toward a Heartbeat node, as its PerformAutoFailback does: go
        standby [foreign] by its exchange once nothing is in flux (a bare release would
        leave the group with no owner: Heartbeat logs "No one owns our local
        resources!" and waits)."""
        if self.hb_giving is not None or self.hb_taking is not None or any(
                s in (_STARTING, _STOPPING) for s in self.state.values()):
            return []
        groups = self._select("foreign") & self.held()
        if not groups:
            return []
        self.hb_giving = hbs.Giving("foreign", now, groups)
        return [Log(_INFO, f"auto_failback: giving {', '.join(sorted(groups))} back "
                           "(Heartbeat's standby exchange)"),
                Log(_INFO, "Going standby [foreign]."), SendCluster(hbs.ask("foreign", hbs.ME))]

    def _ip_request(self, gid: str, node: str) -> list[PolicyAction]:
        """A Heartbeat node (legacy) asks for a group it prefers: give it up, answer once
        it is stopped (rc.d/ip-request)."""
        st = self.state.get(gid)
        if st in (_RUNNING, _STARTING, _STOPPING):
            self.ip_answer[gid] = node
            out: list[PolicyAction] = [Log(_INFO, f"{node} asks for {gid} (ip-request); "
                                                  "giving it up")]
            if st is _RUNNING:
                self.state[gid] = _STOPPING
                out.append(Release(gid))
            return out
        if st is _FAILED:
            return [Log(LogLevel.WARNING, f"{node} asks for {gid} (ip-request): its stop "
                                          "failed here and it may still run; not given"),
                    SendCluster(ipr.response(node, gid, weown=True, ok=False))]
        return [SendCluster(ipr.response(node, gid, weown=False))]

    def _taken_unasked(self, gid: str, node: str) -> list[PolicyAction]:
        """A Heartbeat node starts `gid` without asking (req_resource under HA_DONTASK:
        it counted no live peer when its communication came up). Nothing would ever make
        it give the group back (a Heartbeat peer holding it would not even notice: two
        holders for good), so this node releases it at once and that node keeps it: under
        legacy the preferred node, the one that takes its groups on its return."""
        st = self.state.get(gid)
        if st not in (_RUNNING, _STARTING, _FAILED):
            return []  # not held here (or its stop is already under way)
        why = (f"{node} starts {gid} without asking (its ip-request-resp to itself: it "
               "counted no live peer when it started)")
        if st is _FAILED:
            return [Log(_CRIT, f"{why}; its stop failed here and it may still run here too: "
                               "stop it here by hand")]
        out: list[PolicyAction] = [Log(LogLevel.WARNING, f"{why}; releasing it here")]
        if st is _RUNNING:
            self.state[gid] = _STOPPING
            out.append(Release(gid))
        else:
            self.ip_yield[gid] = node  # released once its start is over
        return out

    def _ask_heartbeat_first(self, gid: str, now: float, out: list[PolicyAction]) -> bool:
        """Under legacy, a group preferred here is asked for (ip-request) while a live
        Heartbeat peer may hold it; True while the answer is awaited."""
        if self.auto_failback != "legacy" or gid in self.ip_granted \
                or not self._heartbeat_peers(now):
            self.ip_asked.pop(gid, None)
            return False
        asked = self.ip_asked.get(gid)
        if asked is not None and now < asked.at + ipr.ASK_WAIT:
            return True
        if asked is not None and asked.tries >= ipr.ASK_TRIES:
            del self.ip_asked[gid]
            out.append(Log(LogLevel.WARNING, f"{gid}: no answer to ip-request after "
                                             f"{ipr.ASK_TRIES} tries; taking it"))
            return False
        tries = 1 if asked is None else asked.tries + 1
        self.ip_asked[gid] = ipr.Asked(now, tries)
        out.append(Log(_INFO, f"{gid}: asking the Heartbeat peer for it (ip-request)"))
        out.append(SendCluster(ipr.request(gid)))
        return True

    def _standby_progress(self, now: float = 0.0) -> list[PolicyAction]:
        """Send Heartbeat's `done` when its turn has come in either direction."""
        out: list[PolicyAction] = []
        if self.hb_pending_standby is not None and not any(
                s in (_STARTING, _STOPPING) for s in self.state.values()):
            which, self.hb_pending_standby = self.hb_pending_standby, None
            out.extend(self.standby(which, now))
        g = self.hb_giving
        if g is not None and g.peer_ready and not g.done_sent and not any(
                self.state.get(gid) in (_RUNNING, _STARTING, _STOPPING) for gid in self.giving):
            g.done_sent = True
            out.append(Log(_INFO, f"Local standby process completed [{g.which}]."))
            out.append(SendCluster(hbs.ask(g.which, hbs.DONE)))
        t = self.hb_taking
        if t is not None and t.released and all(
                self.state.get(gid) is _RUNNING or gid in self.failed_here for gid in t.groups):
            self.hb_taking = None  # its groups stay here (`given`) until it asks them back
            out.append(Log(_INFO, f"Standby resource acquisition done [{t.which}]."))
            out.append(SendCluster(hbs.ask(t.which, hbs.DONE)))
            out.append(self._announce())
        return out

    def _heartbeat_peers(self, now: float) -> bool:
        """A live peer that announced like Heartbeat (rsc_hold, no hp_held), or never
        answered a hello (Heartbeat under `legacy` sends no resource messages)."""
        return any(p.status.alive and not p.hapulse and (p.announced or p.waited_out(now))
                   for p in self.peers.values())

    def _give(self, groups: set[str], why: str) -> list[PolicyAction]:
        out: list[PolicyAction] = []
        for gid in sorted(groups):
            self.giving.add(gid)
            if self.state[gid] in (_RUNNING, _STARTING):
                self.state[gid] = _STOPPING
                out.append(Log(_INFO, f"{why}: releasing {gid} for the peer"))
                out.append(Release(gid))
        out.append(self._announce())
        return out

    def _select(self, which: str) -> set[str]:
        local = {g for g, n in self.groups.items() if self._is_local(n)}
        return {"local": local, "foreign": set(self.groups) - local}.get(which, set(self.groups))

    def standby(self, which: str, now: float) -> list[PolicyAction]:
        """hb_standby: `all`, `local`, `foreign` or `failback` (= foreign)."""
        which = hbs.word(which)
        if not any(p.status.alive for p in self.peers.values()):
            return [Log(LogLevel.WARNING, "standby refused: no live peer to take the groups")]
        groups = self._select(which) & self.held()
        for p in self.peers.values():
            if not p.hapulse:
                p.given -= groups  # a Heartbeat peer's earlier standby ends: we give them back
        if self._heartbeat_peers(now):  # Heartbeat reads no hp_give: its exchange, its order
            self.hb_giving = hbs.Giving(which, now, groups)
            return [Log(_INFO, f"Going standby [{which}]."),
                    SendCluster(hbs.ask(which, hbs.ME))]
        return self._give(groups, why=f"standby {which}")

    def takeover(self, which: str, now: float) -> list[PolicyAction]:
        """hb_takeover: ask the peer to hand `which` groups here."""
        which = hbs.word(which)
        wanted = self._select(which) - self.held()
        out_banned: list[PolicyAction] = [
            Log(LogLevel.WARNING, f"takeover: not asking for {gid}: this node is banned from it "
                                  f"(`hapulse cleanup {gid}` first)")
            for gid in sorted(wanted & self.banned)]
        wanted -= self.banned
        self.giving -= wanted
        self.failed_here -= wanted
        msg = Message.from_pairs([("t", "hp_takeover"), ("hp_groups", " ".join(sorted(wanted)))])
        out: list[PolicyAction] = [self._announce(), SendCluster(msg)]
        if self._heartbeat_peers(now):
            out.append(SendCluster(hbs.takeover_request(which)))
        return [*out_banned, *out, Log(_INFO, f"takeover {which}: asking for "
                                              f"{', '.join(sorted(wanted)) or 'nothing'}"),
                *self.decide(now)]

    def ban(self, gid: str, now: float) -> list[PolicyAction]:
        """Keep this node from running `gid` until `cleanup`: a resource monitor gave up on
        it here. Held here, it is released for the peer (which keeps it: it stays in
        hp_give); with no live peer it stays stopped."""
        if gid not in self.groups:
            return [Log(LogLevel.WARNING, f"ban: no resource group {gid}")]
        self.banned.add(gid)
        out: list[PolicyAction] = []
        if not any(p.status.alive for p in self.peers.values()):
            out.append(Log(_CRIT, f"{gid}: banned from this node and no live peer to take it: "
                                  f"it stays stopped until `hapulse cleanup {gid}`"))
        elif self._heartbeat_peers(now):
            out.append(Log(LogLevel.WARNING, f"{gid}: banned here; a Heartbeat peer reads no "
                                             "hand-over of one group: it takes it by its own "
                                             "rules"))
        out.extend(self._give({gid} & self.held(), why=f"{gid} banned here (monitor)"))
        out.extend(self.decide(now))
        return out

    def cleanup(self, gid: str, now: float) -> list[PolicyAction]:
        """`hapulse cleanup GROUP`: lift the ban; the usual rules apply again (auto_failback
        may bring the group back here)."""
        was = gid in self.banned
        self.banned.discard(gid)
        self.failed_here.discard(gid)
        if was:
            self.giving.discard(gid)
            self.released_at.pop(gid, None)
        out: list[PolicyAction] = [
            Log(_INFO, f"cleanup {gid}: " + ("this node may run it again" if was
                                            else "it was not banned here")),
            self._announce()]
        out.extend(self.decide(now))
        return out

    def shutdown(self, now: float) -> list[PolicyAction]:
        self.shutting_down = True
        out: list[PolicyAction] = []
        for gid in reversed(list(self.state)):
            if self.state[gid] in (_RUNNING, _STARTING):
                self.state[gid] = _STOPPING
                out.append(Release(gid))
        out.append(self._announce())
        if not any(isinstance(a, Release) for a in out):
            out.append(ShutdownComplete())
        return out

    def tick(self, now: float) -> list[PolicyAction]:
        return self.decide(now)

    def next_deadline(self, now: float) -> float | None:
        """When a live peer's time to announce runs out (then `tick` decides again)."""
        waits = [max(p.seen_at + ANNOUNCE_WAIT, now) for p in self.peers.values()
                 if p.status.alive and not p.announced and p.seen_at is not None
                 and not p.waited_out(now)]
        waits += [t for t in self.contested.values() if t > now]
        waits += [max(a.at + ipr.ASK_WAIT, now) for a in self.ip_asked.values()]
        wait = self._handover_wait()
        waits += [t + wait for t in self.released_at.values() if t + wait > now]
        if self.hb_giving is not None and not self.hb_giving.peer_ready:
            waits.append(max(self.hb_giving.since + hbs.REPLY_WAIT, now))
        fence = self.fencing.next_deadline(now)
        if fence is not None:
            waits.append(fence)
        if self._debounce.due is not None:
            waits.append(max(self._debounce.due, now))
        return min(waits) + 1e-3 if waits else None

    def view(self) -> PolicyView:
        return PolicyView(
            rsc_hold=self.rsc_hold(),
            groups=tuple(GroupView(g, self.groups.get(g, ""), st, tuple(sorted(
                n for n, p in self.peers.items() if p.status.alive and g in p.held)))
                for g, st in self.state.items()),
            split_brains=self.split_brains,
            ping_alive=self.ping_alive if self.ping_nodes else None,
            fenced=self.fencing.fenced(),
            fence_failures=self.fencing.failures,
            banned=tuple(sorted(self.banned)))
