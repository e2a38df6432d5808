"""Heartbeat's legacy hand-back on the wire: ``ip-request`` (pure).

Under ``auto_failback legacy`` Heartbeat tracks no holdings (it sends no
``t=resource``). A node that starts asks for each group it prefers
(``req_resource``): ``t=ip-request``, ``ipaddr=GROUP``. Whoever holds the
group gives it up (``rc.d/ip-request``: ``ResourceManager givegroup``) and
answers ``t=ip-request-resp``, ``dest=ASKER``, ``ipaddr=GROUP``,
``weown=yes|no``, ``ok=OK``; the asker takes the group on ``ok=OK``
(``rc.d/ip-request-resp``). Alone in the cluster it does not ask.

"Alone" is Heartbeat's count, taken once, when its communication comes up
(``req_our_resources``): peers whose status reads ``active`` at that moment.
A peer it has heard only by other messages (an acknowledgement, a resource
message) counts as absent, and ``req_resource`` then runs with
``HA_DONTASK``: it broadcasts the answer to itself, ``t=ip-request-resp``,
``dest=ITSELF``, ``weown=yes``, ``ok=OK``, and its own ``rc.d/ip-request-resp``
starts the group at once, whoever holds it (under ``auto_failback on|off`` it
always does so, once its resource exchange found the group free). That
message is the only word a legacy Heartbeat node says about it
(:func:`taken_unasked`): hapulse, holding the group, gives it up at once, as
a Heartbeat node that started a group never gives it back unasked.

hapulse answers a Heartbeat node's request that way, and asks a live
Heartbeat peer before taking a group it prefers. A peer that never answers:
asked ASK_TRIES times, ASK_WAIT apart, then the group is taken with a
warning (Heartbeat 1.x took it after 20 minutes; 3.0.6 never does, and the
site would stay down).
"""

from __future__ import annotations

from dataclasses import dataclass

from hapulse.wire.message import Message

T_REQUEST = "ip-request"
T_RESPONSE = "ip-request-resp"
ASK_WAIT = 10.0  # seconds between two requests for the same group
ASK_TRIES = 3


def request(group_id: str) -> Message:
    return Message.from_pairs([("t", T_REQUEST), ("ipaddr", group_id)])


def response(asker: str, group_id: str, weown: bool, ok: bool = True) -> Message:
    """The holder's answer, fields in rc.d/ip-request's order; `ok` False only when the
    release failed (the asker then does not take the group: it may still run here)."""
    return Message.from_pairs([("t", T_RESPONSE), ("dest", asker), ("ipaddr", group_id),
                               ("weown", "yes" if weown else "no"),
                               ("ok", "OK" if ok else "FAILED")])


def taken_unasked(msg: Message, sender: str) -> str | None:
    """The group `sender` (a Heartbeat node) starts without asking: its ``ip-request-resp``
    addressed to itself with ``ok=OK`` (req_resource under ``HA_DONTASK``); else None.
    (A holder's answer never goes to itself: rc.d/ip-request ignores its own requests.)"""
    if msg.get("t") != T_RESPONSE or (msg.get("dest") or "").lower() != sender.lower() \
            or msg.get("ok") != "OK":
        return None
    return msg.get("ipaddr") or None


@dataclass
class Asked:
    """A request of ours waiting for its answer."""

    at: float
    tries: int = 1
