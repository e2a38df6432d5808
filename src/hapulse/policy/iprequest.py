"""Heartbeat's legacy hand-back on the wire: ``ip-request`` (pure).

Under ``auto_failback legacy`` Heartbeat tracks no holdings (it sends no
``t=resource``). A node that starts asks for each group it prefers
(``req_resource``): ``t=ip-request``, ``ipaddr=GROUP``. Whoever holds the
group gives it up (``rc.d/ip-request``: ``ResourceManager givegroup``) and
answers ``t=ip-request-resp``, ``dest=ASKER``, ``ipaddr=GROUP``,
``weown=yes|no``, ``ok=OK``; the asker takes the group on ``ok=OK``
(``rc.d/ip-request-resp``). Alone in the cluster it does not ask.

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


@dataclass
class Asked:
    """A request of ours waiting for its answer."""

    at: float
    tries: int = 1
