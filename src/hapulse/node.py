"""One hapulse node's whole decision logic: membership and failover policy, composed.

:class:`Node` is pure (sans-I/O), like the two cores it joins (the model is
aioquic's ``H3Connection`` over ``QuicConnection``): fed verified messages,
control commands, resource results and the monotonic time, it returns
:data:`~hapulse.actions.NodeAction` values. Membership's events that the
policy needs (a node's new state, a cluster message) and the policy's
messages to the cluster are routed here, once; the daemon and the simulator
both drive this one object.

    node = Node(NodeSettings.from_config(config), generation=4, uuid=uuid, now=0.0)
    for action in node.tick(now):          # heartbeats, deaths, acquisitions...
        ...
    node.receive(msg, "eth1", now)         # a verified message from a medium
    node.resource_done("192.168.1.118", GroupOp.ACQUIRE, True, now)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import assert_never

from hapulse.actions import (
    Acquire,
    Deliver,
    Fence,
    LinkStatus,
    Log,
    MembershipAction,
    NodeAction,
    NodeStatus,
    PolicyAction,
    Readvertise,
    Release,
    Send,
    SendCluster,
    ShutdownComplete,
    SplitBrain,
)
from hapulse.config import Config
from hapulse.membership import Membership, NodeView, Timers
from hapulse.membership.ping import PingNodeState, PingNodeStatus, PingTracker
from hapulse.policy import Policy, PolicyView
from hapulse.policy import iprequest as ipr
from hapulse.policy.ipfail import (
    T_ABORT_GIVEUP,
    T_APICLISTAT,
    T_NUM_PING_NODES,
    T_YOU_ARE_DEAD,
    GiveUp,
    Ipfail,
    IpfailAction,
    IpfailLog,
    SendToPeer,
    join_message,
)
from hapulse.resources.stonith import device_for
from hapulse.states import GroupOp, GroupState, LinkState, LogLevel, NodeState
from hapulse.transports.ping import ping_targets
from hapulse.wire.fastpath import StatusHeartbeat
from hapulse.wire.message import Message

IPFAIL_TYPES = frozenset({T_NUM_PING_NODES, T_YOU_ARE_DEAD, T_ABORT_GIVEUP, T_APICLISTAT})


@dataclass(frozen=True)
class NodeSettings:
    """What the node core needs from the configuration (all of it can change live)."""

    local: str
    nodes: tuple[str, ...]
    links: tuple[str, ...]
    timers: Timers
    groups: tuple[tuple[str, str], ...]  # (group id, preferred node), haresources order
    auto_failback: str
    ping_nodes: tuple[str, ...] = ()  # ping and ping_group nodes, by name
    deadping: float | None = None  # None: deadtime
    stonith: bool = False  # a STONITH device resets dead peers before a takeover
    ipfail: bool = False  # ipfail's decision: who keeps the groups when ping nodes go

    @classmethod
    def from_config(cls, config: Config) -> NodeSettings:
        h = config.hacf
        raw = [(d.name, d.args) for d in h.directives]
        pings = tuple(t.name for t in ping_targets(raw))
        ipfail_line = any(d.name == "respawn" and len(d.args) > 1
                          and d.args[1].rsplit("/", 1)[-1] == "ipfail" for d in h.directives)
        return cls(
            local=config.node,
            nodes=h.nodes,
            links=tuple(dict.fromkeys(m.link for m in h.media)),
            timers=Timers(h.keepalive, h.deadtime, h.warntime, h.initdead),
            groups=tuple((g.id, g.node) for g in config.groups),
            auto_failback=h.auto_failback,
            ping_nodes=pings,
            deadping=h.deadping,
            stonith=device_for(raw, config.node) is not None,
            # built in: the `respawn ... ipfail` line, or ping nodes alone (a ping node that
            # nobody acts on protects nothing; see docs/resources.md)
            ipfail=bool(pings) or ipfail_line,
        )


@dataclass(frozen=True)
class NodeSnapshot:
    """A read-only picture for `status`: taking it changes nothing."""

    nodes: tuple[NodeView, ...]
    policy: PolicyView
    rscstatus: str
    seq: int
    ping: tuple[tuple[str, PingNodeState], ...]  # ping nodes and their status


def _names(settings: NodeSettings) -> frozenset[str]:
    """The cluster's node names, lower-cased: built once per configuration, not per packet."""
    return frozenset(n.lower() for n in (settings.local, *settings.nodes))


class Node:
    def __init__(self, settings: NodeSettings, generation: int, uuid: bytes, now: float,
                 clock_offset: float = 0.0) -> None:
        self.settings = settings
        self._known = _names(settings)
        self.membership = Membership(settings.local, settings.nodes, settings.links,
                                     settings.timers, generation, uuid, now, clock_offset)
        self.policy = Policy(settings.local, settings.nodes, dict(settings.groups),
                             settings.auto_failback, now, ping_nodes=len(settings.ping_nodes),
                             stonith=settings.stonith, deadtime=settings.timers.deadtime)
        self.ping: PingTracker | None = None
        self.ipfail: Ipfail | None = None
        self._setup_guards(now)

    def _setup_guards(self, now: float) -> None:
        s = self.settings
        t = s.timers
        if s.ping_nodes:
            old = self.ping.snapshot() if self.ping is not None else {}
            self.ping = PingTracker(s.ping_nodes, s.deadping or t.deadtime, now, t.initdead)
            for name, state in old.items():  # a reload keeps what is known
                if state.alive and name in s.ping_nodes:
                    self.ping.replied(name, now)
        else:
            self.ping = None
        peers = [n for n in s.nodes if n.lower() != s.local.lower()]
        self.ipfail = Ipfail(s.local, peers[0], t.keepalive,
                             "off" if s.auto_failback == "off" else "on") \
            if s.ipfail and len(peers) == 1 else None

    # ---- inputs ---------------------------------------------------------------
    def receive(self, msg: Message, link: str, now: float) -> list[NodeAction]:
        """A verified message from a medium."""
        out = self._membership_out(self._greeted(self.membership.receive(msg, link, now), now),
                                   now)
        src = msg.get("src") or ""
        if self._note_to_itself(msg, src, now):
            out.extend(self._policy_out(self.policy.on_message(msg, src, now), now))
        return out

    def receive_status(self, hb: StatusHeartbeat, link: str, now: float) -> list[NodeAction]:
        """A verified status heartbeat read by the wire's fast path (as :meth:`receive`)."""
        return self._membership_out(
            self._greeted(self.membership.receive_status(hb, link, now), now), now)

    def _greeted(self, actions: list[MembershipAction], now: float) -> list[MembershipAction]:
        """A Heartbeat node starting hears a status heartbeat from this node first.

        Heartbeat counts the nodes it will share its groups with once, when its
        communication comes up, and only those whose *status* reads `active`; but any
        packet from a node (an acknowledgement, a hello) makes it "heard from", and that
        can bring communication up at once. A peer heard only by such packets counts as
        absent: under `auto_failback legacy` Heartbeat then starts its groups without
        asking (req_resource's HA_DONTASK) while this node still runs them. A starting
        Heartbeat says `init` in its first heartbeat (hapulse starts at `up`): then a
        heartbeat goes out at once, ahead of the acknowledgement and the hello its
        messages call for.
        """
        if any(isinstance(a, NodeStatus) and a.new is NodeState.INIT for a in actions):
            return [Send(self.membership.heartbeat(now)), *actions]
        return actions

    def _note_to_itself(self, msg: Message, src: str, now: float) -> bool:
        """A fresh ``ip-request-resp`` a Heartbeat node addressed to itself: it starts a
        group without asking (req_resource under HA_DONTASK, see
        :mod:`hapulse.policy.iprequest`). Membership delivers only what is addressed to
        this node, as Heartbeat does; the policy must hear this one (the group may run
        here). Fresh: membership took its sequence number just now (not a duplicate, not
        a replay)."""
        if msg.get("t") != ipr.T_RESPONSE or (msg.get("dest") or "").lower() != src.lower():
            return False
        peer = self.membership.peers.get(src.lower())
        seq = msg.get_int("seq")
        return peer is not None and peer.status.alive and seq is not None \
            and peer.seen.get(seq) == now

    def media_up(self, now: float) -> None:
        """The edge's media are ready: initdead counts from now for peers never heard."""
        self.membership.media_up(now)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Messages and status changes fed within are decided on once, by the next `tick`
        (the edge's polled read: a batch of packets, then the tick, in one wake-up)."""
        self.policy.batching = True
        try:
            yield
        finally:
            self.policy.batching = False

    def beat(self, now: float) -> list[NodeAction]:
        """This node's heartbeat if due, nothing else: what a daemon behind on its input
        sends before reading it (then `tick` judges, with everything read)."""
        return self._membership_out(self.membership.beat(now), now)

    def tick(self, now: float) -> list[NodeAction]:
        """Timers: heartbeats due, peers silent past warntime/deadtime, waits over."""
        out = self._membership_out(self.membership.tick(now), now)
        if self.ping is not None:
            out.extend(self._ping_out(self.ping.tick(now), now))
        if self.ipfail is not None:
            out.extend(self._ipfail_out(self.ipfail.tick(now), now))
        out.extend(self._policy_out(self.policy.tick(now), now))
        return out

    def ping_reply(self, node: str, now: float) -> list[NodeAction]:
        """A ping node answered."""
        if self.ping is None:
            return []
        return self._ping_out(self.ping.replied(node, now), now)

    def fence_done(self, node: str, ok: bool, now: float) -> list[NodeAction]:
        """The STONITH reset of `node` finished."""
        return self._policy_out(self.policy.on_fence_done(node, ok, now), now)

    def resource_done(self, group_id: str, op: GroupOp, ok: bool, now: float,
                      contested: str | None = None) -> list[NodeAction]:
        return self._policy_out(
            self.policy.on_resource_done(group_id, op, ok, now, contested), now)

    def standby(self, which: str, now: float) -> list[NodeAction]:
        return self._policy_out(self.policy.standby(which, now), now)

    def takeover(self, which: str, now: float) -> list[NodeAction]:
        return self._policy_out(self.policy.takeover(which, now), now)

    def ban(self, group_id: str, now: float) -> list[NodeAction]:
        """A resource monitor gave up on `group_id` here: hand it over, never take it
        again until `cleanup`."""
        return self._policy_out(self.policy.ban(group_id, now), now)

    def cleanup(self, group_id: str, now: float) -> list[NodeAction]:
        """`hapulse cleanup GROUP`: lift the ban on `group_id`."""
        return self._policy_out(self.policy.cleanup(group_id, now), now)

    def shutdown(self, now: float) -> list[NodeAction]:
        """Release every group (the peers take them at once); then `leave`."""
        return self._policy_out(self.policy.shutdown(now), now)

    def leave(self, now: float) -> list[NodeAction]:
        """The last heartbeat, status `dead`; not sent while a group whose stop failed may
        still run here: the peers then wait deadtime (and reset this node, with STONITH)."""
        stuck = sorted(g for g, s in self.policy.state.items() if s is GroupState.FAILED)
        if stuck:
            return [Log(LogLevel.CRITICAL, f"leaving without telling the peers: "
                                           f"{', '.join(stuck)} failed to stop and may still "
                                           "run here; they take it only after deadtime")]
        return self._membership_out(self.membership.leave(now), now)

    def reconfigure(self, settings: NodeSettings, changed_groups: Iterable[str],
                    now: float) -> list[NodeAction]:
        """Apply a reloaded configuration: timers, nodes, groups, failback.

        The local name and the links cannot change while running (the daemon
        refuses such a reload before it gets here).
        """
        assert settings.local == self.settings.local and settings.links == self.settings.links
        self.settings = settings
        self._known = _names(settings)
        self.membership.set_timers(settings.timers, now)
        self.membership.set_nodes(settings.nodes, now)
        self.policy.auto_failback = settings.auto_failback
        self.policy.set_nodes(settings.nodes)
        self.policy.ping_nodes = len(settings.ping_nodes)
        self.policy.stonith = settings.stonith
        self.policy.deadtime = settings.timers.deadtime
        self._setup_guards(now)
        if self.ping is not None:
            self.policy.ping_alive = self.ping.alive_count()
        out = self._policy_out(self.policy.set_groups(dict(settings.groups), changed_groups),
                               now)
        out.extend(self.tick(now))
        return out

    def knows(self, node: str) -> bool:
        """Is `node` in the cluster's node list (this node included)?"""
        return node.lower() in self._known

    def set_clock_offset(self, offset: float) -> None:
        """Unix time minus the monotonic clock, for `ts` (the edge keeps it current)."""
        self.membership.clock_offset = offset

    # ---- outputs --------------------------------------------------------------
    def next_deadline(self, now: float) -> float:
        deadlines = [self.membership.next_deadline(), self.policy.next_deadline(now),
                     self.ping.next_deadline() if self.ping else None,
                     self.ipfail.next_deadline() if self.ipfail else None]
        return min(d for d in deadlines if d is not None)

    def snapshot(self, now: float) -> NodeSnapshot:
        return NodeSnapshot(nodes=tuple(self.membership.view(now)), policy=self.policy.view(),
                            rscstatus=self.policy.cl_rscstatus(now), seq=self.membership.seq,
                            ping=tuple(self.ping.snapshot().items()) if self.ping else ())

    # ---- routing --------------------------------------------------------------
    def _membership_out(self, actions: Iterable[MembershipAction],
                        now: float) -> list[NodeAction]:
        out: list[NodeAction] = []
        for a in actions:
            match a:
                case Deliver(msg=msg, node=node):
                    if self.ipfail is not None and msg.get("t") in IPFAIL_TYPES:
                        out.extend(self._ipfail_out(self.ipfail.on_message(
                            msg, self._ping_count(), now), now))
                    else:
                        out.extend(self._policy_out(self.policy.on_message(msg, node, now),
                                                    now))
                case NodeStatus(node=node, new=new):
                    out.append(a)
                    out.extend(self._policy_out(self.policy.on_node_status(node, new, now),
                                                now))
                    if self.ipfail is not None and new.alive and not a.old.alive:
                        # as ipfail signs on: the peer's ipfail answers with its count
                        out.append(self.membership.send_cluster(join_message(
                            self.settings.local), now))
                case LinkStatus(new=new):
                    out.append(a)
                    if self.ipfail is not None and new is LinkState.DEAD:
                        out.extend(self._ipfail_out(self.ipfail.ask(self._ping_count()), now))
                case Send() | Log():
                    out.append(a)
                case _:
                    assert_never(a)
        return out

    def _policy_out(self, actions: Iterable[PolicyAction], now: float) -> list[NodeAction]:
        out: list[NodeAction] = []
        for a in actions:
            match a:
                case SendCluster(msg=msg):
                    out.append(self.membership.send_cluster(msg, now))
                case (Log() | Acquire() | Release() | Readvertise() | SplitBrain() | Fence()
                      | ShutdownComplete()):
                    out.append(a)
                case _:
                    assert_never(a)
        return out

    def _ping_count(self) -> int:
        return self.ping.alive_count() if self.ping is not None else 0

    def _ping_out(self, events: Iterable[PingNodeStatus], now: float) -> list[NodeAction]:
        out: list[NodeAction] = []
        changed = False
        for e in events:
            out.append(Log(LogLevel(e.level), e.text))
            changed = True
        if not changed:
            return out
        out.extend(self._policy_out(self.policy.set_ping(self._ping_count(), now), now))
        if self.ipfail is not None:
            out.extend(self._ipfail_out(self.ipfail.ask(self._ping_count()), now))
        return out

    def _ipfail_out(self, actions: Iterable[IpfailAction], now: float) -> list[NodeAction]:
        out: list[NodeAction] = []
        for a in actions:
            match a:
                case SendToPeer(msg=msg):
                    out.append(self.membership.send_cluster(msg, now))
                case GiveUp(which=which):
                    out.append(Log(LogLevel.WARNING, f"ipfail: this node reaches fewer ping "
                                                     f"nodes than its peer; handing over "
                                                     f"{which} groups"))
                    out.extend(self._policy_out(self.policy.standby(str(which), now), now))
                case IpfailLog(level=level, text=text):
                    out.append(Log(LogLevel(level), f"ipfail: {text}"))
                case _:
                    assert_never(a)
        return out
