"""Ping nodes: which of ha.cf's ``ping`` / ``ping_group`` nodes answer (pure, sans-I/O).

Heartbeat 3.0.6 makes every ping node a cluster node of type ``ping``
(``cl_status nodetype`` answers ``ping``) whose status is ``init`` until
the first echo reply, ``ping`` while replies keep coming, and ``dead``
after ``deadping`` seconds without one. A ``ping_group NAME addr...`` is
one such node, named NAME, alive while any member answers: the transport
reports a member's reply under the group's name, so this class never
sees members.

``deadping`` defaults to ``deadtime``; Heartbeat refuses a ``deadping``
not greater than twice ``keepalive`` (:func:`check_deadping`). Until the
first reply the node may stay silent for ``initdead`` (Heartbeat uses its
initial dead time while the links come up), then ``deadping`` applies.

The log lines are Heartbeat's, which operators grep for:
``Status update for node 192.168.1.1: status ping`` and
``node 192.168.1.1: is dead``.

    tracker = PingTracker(("192.168.1.1", "lan-routers"), deadping=5.0, now=now)
    events = tracker.replied("192.168.1.1", now)     # on every echo reply
    events = tracker.tick(now)                       # at tracker.next_deadline()
    tracker.alive_count()                            # what ipfail compares
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

NODE_TYPE = "ping"  # Heartbeat's PINGNODE: what `cl_status nodetype` prints


class PingNodeState(StrEnum):
    """A ping node's status, in Heartbeat's words (``cl_status nodestatus``)."""

    INIT = "init"  # no reply yet since start
    PING = "ping"  # answering (Heartbeat's PINGSTATUS)
    DEAD = "dead"  # silent for deadping

    @property
    def alive(self) -> bool:
        return self is PingNodeState.PING


@dataclass(frozen=True)
class PingNodeStatus:
    """A ping node changed status."""

    node: str
    old: PingNodeState
    new: PingNodeState

    @property
    def level(self) -> Literal["info", "warning"]:
        return "warning" if self.new is PingNodeState.DEAD else "info"

    @property
    def text(self) -> str:
        """The line Heartbeat logs for this change."""
        if self.new is PingNodeState.DEAD:
            return f"node {self.node}: is dead"
        return f"Status update for node {self.node}: status {self.new}"


def check_deadping(deadping: float | None, deadtime: float, keepalive: float) -> float:
    """The effective deadping: ``deadtime`` when unset; ValueError when too small.

    Heartbeat rejects ``deadping <= 2 * keepalive`` ("Ping dead time ... is too
    small compared to keepalive"), since one lost echo would kill the node.
    """
    if deadping is None:
        return deadtime
    if deadping <= 2 * keepalive:
        raise ValueError(f"Ping dead time [{deadping:g} s] is too small compared to "
                         f"keepalive [{keepalive:g} s]: it must exceed twice keepalive")
    return deadping


@dataclass
class _Node:
    state: PingNodeState
    deadline: float


class PingTracker:
    """The liveness of the ping nodes; fed replies and time, returns status changes."""

    def __init__(self, nodes: Iterable[str], deadping: float, now: float,
                 initdead: float | None = None) -> None:
        if deadping <= 0:
            raise ValueError("deadping must be positive")
        self.deadping = deadping
        first = max(deadping, initdead or 0.0)
        self._nodes: dict[str, _Node] = {
            name: _Node(PingNodeState.INIT, now + first) for name in nodes}

    @property
    def nodes(self) -> tuple[str, ...]:
        return tuple(self._nodes)

    def replied(self, node: str, now: float) -> list[PingNodeStatus]:
        """An echo reply from `node` (a ping node, or a ping_group's name) arrived."""
        n = self._nodes.get(node)
        if n is None:
            return []
        n.deadline = now + self.deadping
        if n.state is PingNodeState.PING:
            return []
        old, n.state = n.state, PingNodeState.PING
        return [PingNodeStatus(node, old, PingNodeState.PING)]

    def tick(self, now: float) -> list[PingNodeStatus]:
        """Nodes silent past their deadline go dead."""
        events: list[PingNodeStatus] = []
        for name, n in self._nodes.items():
            if n.state is not PingNodeState.DEAD and now >= n.deadline:
                events.append(PingNodeStatus(name, n.state, PingNodeState.DEAD))
                n.state = PingNodeState.DEAD
        return events

    def next_deadline(self) -> float | None:
        """When :meth:`tick` must run next; None when every node is already dead."""
        pending = [n.deadline for n in self._nodes.values() if n.state is not PingNodeState.DEAD]
        return min(pending, default=None)

    def status(self, node: str) -> PingNodeState:
        """A node's status; KeyError for a name that is not a ping node."""
        return self._nodes[node].state

    def alive_count(self) -> int:
        """How many ping nodes answer now (ipfail's ``num_ping``)."""
        return sum(1 for n in self._nodes.values() if n.state.alive)

    def snapshot(self) -> Mapping[str, PingNodeState]:
        """Every ping node's status, for ``hapulse status`` and ``cl_status``."""
        return {name: n.state for name, n in self._nodes.items()}
