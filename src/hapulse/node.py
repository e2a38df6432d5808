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

from collections.abc import Iterable
from dataclasses import dataclass
from typing import assert_never

from hapulse.actions import (
    Acquire,
    Deliver,
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
)
from hapulse.config import Config
from hapulse.membership import Membership, NodeView, Timers
from hapulse.policy import Policy, PolicyView
from hapulse.states import GroupOp
from hapulse.wire.message import Message


@dataclass(frozen=True)
class NodeSettings:
    """What the node core needs from the configuration (all of it can change live)."""

    local: str
    nodes: tuple[str, ...]
    links: tuple[str, ...]
    timers: Timers
    groups: tuple[tuple[str, str], ...]  # (group id, preferred node), haresources order
    auto_failback: str

    @classmethod
    def from_config(cls, config: Config) -> NodeSettings:
        h = config.hacf
        return cls(
            local=config.node,
            nodes=h.nodes,
            links=tuple(dict.fromkeys(m.link for m in h.media)),
            timers=Timers(h.keepalive, h.deadtime, h.warntime, h.initdead),
            groups=tuple((g.id, g.node) for g in config.groups),
            auto_failback=h.auto_failback,
        )


@dataclass(frozen=True)
class NodeSnapshot:
    """A read-only picture for `status`: taking it changes nothing."""

    nodes: tuple[NodeView, ...]
    policy: PolicyView
    rscstatus: str
    seq: int


class Node:
    def __init__(self, settings: NodeSettings, generation: int, uuid: bytes, now: float,
                 clock_offset: float = 0.0) -> None:
        self.settings = settings
        self.membership = Membership(settings.local, settings.nodes, settings.links,
                                     settings.timers, generation, uuid, now, clock_offset)
        self.policy = Policy(settings.local, settings.nodes, dict(settings.groups),
                             settings.auto_failback, now)

    # ---- inputs ---------------------------------------------------------------
    def receive(self, msg: Message, link: str, now: float) -> list[NodeAction]:
        """A verified message from a medium."""
        return self._membership_out(self.membership.receive(msg, link, now), now)

    def tick(self, now: float) -> list[NodeAction]:
        """Timers: heartbeats due, peers silent past warntime/deadtime, waits over."""
        out = self._membership_out(self.membership.tick(now), now)
        out.extend(self._policy_out(self.policy.tick(now), now))
        return out

    def resource_done(self, group_id: str, op: GroupOp, ok: bool,
                      now: float) -> list[NodeAction]:
        return self._policy_out(self.policy.on_resource_done(group_id, op, ok, now), now)

    def standby(self, which: str, now: float) -> list[NodeAction]:
        return self._policy_out(self.policy.standby(which, now), now)

    def takeover(self, which: str, now: float) -> list[NodeAction]:
        return self._policy_out(self.policy.takeover(which, now), now)

    def shutdown(self, now: float) -> list[NodeAction]:
        """Release every group (the peers take them at once); then `leave`."""
        return self._policy_out(self.policy.shutdown(now), now)

    def leave(self, now: float) -> list[NodeAction]:
        """The last heartbeat, status `dead`."""
        return self._membership_out(self.membership.leave(now), now)

    def reconfigure(self, settings: NodeSettings, changed_groups: Iterable[str],
                    now: float) -> list[NodeAction]:
        """Apply a reloaded configuration: timers, nodes, groups, failback.

        The local name and the links cannot change while running (the daemon
        refuses such a reload before it gets here).
        """
        assert settings.local == self.settings.local and settings.links == self.settings.links
        self.settings = settings
        self.membership.set_timers(settings.timers, now)
        self.membership.set_nodes(settings.nodes)
        self.policy.auto_failback = settings.auto_failback
        self.policy.set_nodes(settings.nodes)
        out = self._policy_out(self.policy.set_groups(dict(settings.groups), changed_groups),
                               now)
        out.extend(self.tick(now))
        return out

    def knows(self, node: str) -> bool:
        """Is `node` in the cluster's node list (this node included)?"""
        return node.lower() == self.settings.local.lower() or node.lower() in {
            n.lower() for n in self.settings.nodes}

    def set_clock_offset(self, offset: float) -> None:
        """Unix time minus the monotonic clock, for `ts` (the edge keeps it current)."""
        self.membership.clock_offset = offset

    # ---- outputs --------------------------------------------------------------
    def next_deadline(self, now: float) -> float:
        deadline = self.membership.next_deadline()
        waits = self.policy.next_deadline(now)
        return deadline if waits is None else min(deadline, waits)

    def snapshot(self, now: float) -> NodeSnapshot:
        return NodeSnapshot(nodes=tuple(self.membership.view(now)), policy=self.policy.view(),
                            rscstatus=self.policy.cl_rscstatus(now), seq=self.membership.seq)

    # ---- routing --------------------------------------------------------------
    def _membership_out(self, actions: Iterable[MembershipAction],
                        now: float) -> list[NodeAction]:
        out: list[NodeAction] = []
        for a in actions:
            match a:
                case Deliver(msg=msg, node=node):
                    out.extend(self._policy_out(self.policy.on_message(msg, node, now), now))
                case NodeStatus(node=node, new=new):
                    out.append(a)
                    out.extend(self._policy_out(self.policy.on_node_status(node, new, now),
                                                now))
                case Send() | LinkStatus() | Log():
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
                case Log() | Acquire() | Release() | Readvertise() | ShutdownComplete():
                    out.append(a)
                case _:
                    assert_never(a)
        return out
