"""ipfail: who keeps the resource groups when ping nodes disappear (pure, sans-I/O).

Heartbeat's ipfail (``respawn hacluster /usr/lib/heartbeat/ipfail``) is an
API client on each of two nodes. Each counts its ping nodes with status
``ping`` and, whenever a link to the peer goes dead, a ping node comes up,
or the peer's ipfail joins, sends its count to the peer; the peer compares:

====================  ==========================================================
peer's count vs ours  what the node that received the count does
====================  ==========================================================
ours > theirs         sends ``you_are_dead``: the peer hands over all its groups
ours < theirs         hands over all its groups itself
equal                 sends ``abort_giveup`` and cancels its own pending hand-over;
                      with ``auto_failback on`` and none pending, hands over the
                      groups it holds that belong to the peer ("foreign")
====================  ==========================================================

A hand-over is delayed by twice keepalive (Heartbeat's ``delay_giveup``) and
cancelled by ``abort_giveup``; it is Heartbeat's ``ask_resources`` with
``rsc_hold`` = ``all`` or ``foreign`` and ``info=me``: the hb_standby request.
ipfail refuses ``auto_failback legacy``; so does :class:`Ipfail`.

hapulse adds one rule for the case ipfail cannot see, a cut heartbeat path
(the peer dead to us, no message can cross): :func:`may_take_over` lets a
node take a dead peer's groups only while it reaches at least one of its
ping nodes, so the node that lost the LAN does not grab the address.

On the wire (Heartbeat 3.0.6, field names exact; numbers are decimal text):

- count: ``t=num_ping_nodes``, ``src=<sender>``, ``num_ping=<count>``,
  ``dest=<peer>``, ``from_id=ipfail``, ``to_id=ipfail``;
- ``t=you_are_dead``, ``dest=<peer>``, ``from_id=ipfail``, ``to_id=ipfail``;
- ``t=abort_giveup``, ``src=<sender>``, ``dest=<peer>``, ``from_id=ipfail``, ``to_id=ipfail``;
- ipfail's sign-on, to the cluster: ``t=hbapi-clstat``, ``st=join``,
  ``from_id=ipfail``, ``to_id=ipfail``, ``src=<sender>``.

Heartbeat also adds ``client_gen`` (the client's generation, decimal) to
client messages; it is not needed to act on them. The membership layer adds
``seq``, ``hg``, ``ts``, ``ttl``, ``auth`` as for any cluster message.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from hapulse.wire.message import Message

CLIENT_ID = "ipfail"
F_NUMPING = "num_ping"
T_NUM_PING_NODES = "num_ping_nodes"
T_YOU_ARE_DEAD = "you_are_dead"
T_ABORT_GIVEUP = "abort_giveup"
T_APICLISTAT = "hbapi-clstat"
T_ASKRESOURCES = "ask_resources"
JOIN = "join"

Level = Literal["info", "warning", "error", "critical"]


class HandOver(StrEnum):
    """Which groups a hand-over gives up (Heartbeat's ``rsc_hold`` values)."""

    ALL = "all"
    FOREIGN = "foreign"  # the groups held here whose preferred node is the peer


class Verdict(StrEnum):
    PEER_GIVES_UP = "peer_gives_up"  # we see more ping nodes: keep (take) the groups
    GIVE_UP = "give_up"  # we see fewer: hand every group over
    BALANCED = "balanced"  # equal: nobody moves (but auto_failback)


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str  # the log line, in ipfail's words
    hand_over: HandOver | None = None  # what this node hands over, if anything
    cancel_pending: bool = False  # a pending hand-over is cancelled


def decide(local_count: int, peer_count: int, auto_failback: bool,
           hand_over_pending: bool = False) -> Decision:
    """ipfail's comparison when the peer's count arrives (table in the module docstring)."""
    if local_count > peer_count:
        return Decision(Verdict.PEER_GIVES_UP,
                        "Telling other node that we have more visible ping nodes.")
    if local_count < peer_count:
        return Decision(Verdict.GIVE_UP, "Giving up because we have less visible ping nodes.",
                        HandOver.ALL)
    if hand_over_pending:
        return Decision(Verdict.BALANCED, "Ping node count is balanced.", cancel_pending=True)
    if auto_failback:
        return Decision(Verdict.BALANCED, "Giving up foreign resources (auto_failback).",
                        HandOver.FOREIGN)
    return Decision(Verdict.BALANCED, "Ping node count is balanced.")


def may_take_over(local_count: int, ping_nodes: int) -> tuple[bool, str]:
    """May this node take a dead peer's groups? (hapulse's rule for a cut heartbeat path)."""
    if ping_nodes == 0:
        return True, "no ping nodes configured"
    if local_count > 0:
        return True, f"{local_count} of {ping_nodes} ping nodes reachable"
    return False, ("not taking over: no ping node is reachable from here, "
                   "the network may be cut on this side")


# --- messages -------------------------------------------------------------------------------

def _client_msg(kind: str, local: str, peer: str, *extra: tuple[str, str]) -> Message:
    return Message.from_pairs([("t", kind), ("src", local), *extra, ("dest", peer),
                               ("from_id", CLIENT_ID), ("to_id", CLIENT_ID)])


def num_ping_nodes_message(local: str, peer: str, count: int) -> Message:
    return _client_msg(T_NUM_PING_NODES, local, peer, (F_NUMPING, str(count)))


def you_are_dead_message(local: str, peer: str) -> Message:
    return _client_msg(T_YOU_ARE_DEAD, local, peer)


def abort_giveup_message(local: str, peer: str) -> Message:
    return _client_msg(T_ABORT_GIVEUP, local, peer)


def join_message(local: str) -> Message:
    return Message.from_pairs([("t", T_APICLISTAT), ("st", JOIN), ("from_id", CLIENT_ID),
                               ("to_id", CLIENT_ID), ("src", local)])


def ask_resources_message(local: str, which: HandOver) -> Message:
    """Heartbeat's hand-over request (what ipfail's giveup sends; hb_standby's too)."""
    return Message.from_pairs([("t", T_ASKRESOURCES), ("rsc_hold", str(which)),
                               ("src", local), ("info", "me")])


def peer_count(msg: Message) -> int | None:
    """The ``num_ping`` of a peer's num_ping_nodes message; None if absent or not a number."""
    if msg.get("t") != T_NUM_PING_NODES:
        return None
    v = msg.get(F_NUMPING)
    try:
        return int(v) if v is not None else None
    except ValueError:
        return None


# --- the state machine -----------------------------------------------------------------------

@dataclass(frozen=True)
class SendToPeer:
    msg: Message  # a cluster message for the peer (dest set)


@dataclass(frozen=True)
class GiveUp:
    which: HandOver  # hand these groups to the peer now (hb_standby)


@dataclass(frozen=True)
class IpfailLog:
    level: Level
    text: str


IpfailAction = SendToPeer | GiveUp | IpfailLog


class Ipfail:
    """ipfail on this node, fed events and ``now``; returns actions.

    The caller passes this node's live ping node count with each event (from
    :class:`hapulse.membership.ping.PingTracker`) and delivers :class:`GiveUp`
    once its groups are settled (ipfail waits for stability too).
    """

    def __init__(self, local: str, peer: str, keepalive: float, auto_failback: str) -> None:
        if auto_failback == "legacy":
            raise ValueError("ipfail: auto_failback set to incompatible legacy option")
        self.local, self.peer = local, peer
        self.delay = 2 * keepalive
        self.auto_failback = auto_failback == "on"
        self._due: float | None = None
        self._which: HandOver | None = None

    def ask(self, local_count: int) -> list[IpfailAction]:
        """Send our count: on a dead link, a ping node up, or the peer's ipfail joining."""
        return [IpfailLog("info", "Asking other side for ping node count."),
                SendToPeer(num_ping_nodes_message(self.local, self.peer, local_count))]

    def on_message(self, msg: Message, local_count: int, now: float) -> list[IpfailAction]:
        """A message from the peer (any type; others are ignored)."""
        if msg.get("src", self.peer) == self.local:
            return []
        kind = msg.get("t")
        if kind == T_APICLISTAT and msg.get("st") == JOIN and msg.get("from_id") == CLIENT_ID:
            return self.ask(local_count)
        if kind == T_YOU_ARE_DEAD:
            return [IpfailLog("info", "Giving up because we were told that we have less "
                                      "ping nodes."), *self._delay(HandOver.ALL, now)]
        if kind == T_ABORT_GIVEUP:
            return self._abort()
        count = peer_count(msg)
        if count is None:
            return []
        d = decide(local_count, count, self.auto_failback, self._due is not None)
        out: list[IpfailAction] = [IpfailLog("info", d.reason)]
        if d.verdict is Verdict.PEER_GIVES_UP:
            out.append(SendToPeer(you_are_dead_message(self.local, self.peer)))
        elif d.verdict is Verdict.BALANCED:
            out.append(SendToPeer(abort_giveup_message(self.local, self.peer)))
        if d.cancel_pending:
            out += self._abort()
        if d.hand_over is not None:
            out += self._delay(d.hand_over, now)
        return out

    def tick(self, now: float) -> list[IpfailAction]:
        if self._due is None or now < self._due or self._which is None:
            return []
        which, self._due, self._which = self._which, None, None
        return [IpfailLog("info", "giveup() called (timeout worked)"), GiveUp(which)]

    def next_deadline(self) -> float | None:
        return self._due

    def _delay(self, which: HandOver, now: float) -> list[IpfailAction]:
        self._due, self._which = now + self.delay, which
        return [IpfailLog("info", f"Delayed giveup in {self.delay:g} seconds.")]

    def _abort(self) -> list[IpfailAction]:
        if self._due is None:
            return [IpfailLog("info", "No giveup timer to abort.")]
        self._due = self._which = None
        return [IpfailLog("info", "Aborted delayed giveup")]
