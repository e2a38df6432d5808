"""What the pure cores ask the edges to do: one closed vocabulary of frozen actions.

Membership returns :data:`MembershipAction`, the failover policy
:data:`PolicyAction`; :class:`~hapulse.node.Node` routes the ones meant for
the other core and hands the daemon (or the simulator) :data:`NodeAction`.
The daemon dispatches those with ``match`` ending in ``assert_never``, so a
new action type that nobody handles fails the type check.
"""

from __future__ import annotations

from dataclasses import dataclass

from hapulse.states import LinkState, LogLevel, NodeState
from hapulse.wire.message import Message


@dataclass(frozen=True, slots=True)
class Send:
    """Sign and send this message on one link (``None``: every link)."""

    msg: Message
    link: str | None = None


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """A peer changed state."""

    node: str
    old: NodeState
    new: NodeState


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """A peer's link changed state."""

    node: str
    link: str
    old: LinkState
    new: LinkState


@dataclass(frozen=True, slots=True)
class Deliver:
    """A cluster message (not membership's own) for the policy."""

    msg: Message
    node: str


@dataclass(frozen=True, slots=True)
class Log:
    """One log line, Heartbeat's way: the event, the node, the reason.

    `churn`: the peer, when the line reports a membership change a storm repeats
    (a late heartbeat, a death): the daemon writes such lines within that peer's
    budget (`linebudget.ChurnBudget`)."""

    level: LogLevel
    text: str
    churn: str = ""


@dataclass(frozen=True, slots=True)
class SendCluster:
    """The policy's message to every peer; membership stamps and sequences it."""

    msg: Message


@dataclass(frozen=True, slots=True)
class Acquire:
    """Start this resource group here; `takeover`: a peer is dead (it may be alive
    behind a cut), so the edge checks first that nobody answers for the addresses."""

    group_id: str
    takeover: bool = False


@dataclass(frozen=True, slots=True)
class Release:
    """Stop this resource group here."""

    group_id: str


@dataclass(frozen=True, slots=True)
class Readvertise:
    """Announce this group's addresses again (gratuitous ARP): this node kept the
    group after a split brain, and clients may have followed the other holder."""

    group_id: str


@dataclass(frozen=True, slots=True)
class SplitBrain:
    """Two live nodes were found holding the same group; `keeper` keeps it (the
    policy also returns the Readvertise or Release that resolves it)."""

    peer: str
    group_id: str
    keeper: str


@dataclass(frozen=True, slots=True)
class Fence:
    """Reset this peer through the STONITH device before taking its resources."""

    node: str


@dataclass(frozen=True, slots=True)
class ShutdownComplete:
    """Every group is released: the node may leave."""


MembershipAction = Send | NodeStatus | LinkStatus | Deliver | Log
PolicyAction = (SendCluster | Log | Acquire | Release | Readvertise | SplitBrain | Fence
                | ShutdownComplete)
NodeAction = (Send | NodeStatus | LinkStatus | Log | Acquire | Release | Readvertise | SplitBrain
              | Fence | ShutdownComplete)
