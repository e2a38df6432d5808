"""Heartbeat's standby exchange on the wire, for a Heartbeat peer (pure).

``hb_standby [all|local|foreign|failback]`` on a Heartbeat node broadcasts
``t=ask_resources``, ``rsc_hold=WHICH``, ``info=me``; the peer answers
``info=other`` (it will take them); only then does the node release the groups
(it announces them unstable meanwhile, and a Heartbeat peer ignores a request
from a node in flux), and it sends
``info=done``; the peer acquires them and sends ``info=done`` in turn.
``hb_takeover WHICH`` broadcasts ``t=hb_takeover``, ``rsc_hold=WHICH``: the
peer then goes standby for the matching set (its ``local`` is our
``foreign``). Heartbeat runs the exchange only with ``nice_failback`` (that
is ``auto_failback on|off``); under ``legacy`` it logs "Standby mode only
implemented when nice_failback on" and ignores it.

hapulse nodes hand groups over with their own ``hp_give`` field; this
module speaks Heartbeat's words to peers that do not (Heartbeat nodes, in a
rolling migration). ``WHICH`` is always from the sender's point of view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hapulse.wire.message import Message

T_ASK = "ask_resources"
T_TAKEOVER = "hb_takeover"
ME, OTHER, DONE = "me", "other", "done"
EXCHANGE_WAIT = 60.0  # seconds a peer that answered `other` has to take the groups
REPLY_WAIT = 10.0  # seconds for the peer's `other`, then the request is cancelled (Heartbeat's)
LEGACY_REFUSAL = "Standby mode only implemented when nice_failback on"


def ask(which: str, info: str) -> Message:
    """An ``ask_resources`` message, fields in Heartbeat's order."""
    return Message.from_pairs([("t", T_ASK), ("rsc_hold", which), ("info", info)])


def takeover_request(which: str) -> Message:
    return Message.from_pairs([("t", T_TAKEOVER), ("rsc_hold", which)])


def mirrored(which: str) -> str:
    """The peer's ``local`` is our ``foreign`` and the reverse; ``all`` is all."""
    return {"local": "foreign", "foreign": "local"}.get(which, "all")


def word(which: str) -> str:
    """hb_standby's words: ``failback`` means ``foreign``; anything else is ``all``."""
    which = "foreign" if which == "failback" else which
    return which if which in ("all", "local", "foreign") else "all"


@dataclass
class Giving:
    """This node goes standby toward a Heartbeat peer."""

    which: str
    since: float
    groups: set[str] = field(default_factory=set)  # released once the peer answers `other`
    peer_ready: bool = False  # the peer answered `other`
    done_sent: bool = False


@dataclass
class Taking:
    """A Heartbeat peer goes standby: this node takes its groups once it says `done`."""

    peer: str
    which: str  # as the peer wrote it
    groups: set[str] = field(default_factory=set)  # known once its `done` arrived
    released: bool = False
