"""A Heartbeat node (re)starting beside a hapulse node that runs its group (legacy).

Heartbeat counts, once, when its communication comes up, the peers whose *status*
reads `active` (req_our_resources); any packet makes a peer "heard from", which may
bring communication up at once. Heard only by an acknowledgement or a hello, hapulse
counted as absent, and Heartbeat started its group without asking (HA_DONTASK) while
hapulse ran it: seen in the lab once in five runs, the packets in this order:

    f801 status seq 1 st=init / seq 2 st=up / seq 3 st=up    (Heartbeat starts)
    f802 NS_ackmsg dest=f801 ackseq=2                        (hapulse)
    f802 resource ... hp_hello=1                             (hapulse)
    f801 reqnodes / f802 repnodes                            (Heartbeat's comm is up)
    f801 ip-request-resp dest=f801 ipaddr=192.168.1.118 weown=yes ok=OK
    f802 status st=active                                    (too late)

hapulse now answers a starting peer's `init` with a status heartbeat first, and
releases a group a Heartbeat node starts unasked (its ip-request-resp to itself, which
membership does not deliver: it is addressed to that node)."""

from __future__ import annotations

from collections.abc import Sequence

from hapulse.actions import NodeAction, Release, Send
from hapulse.membership import Timers
from hapulse.node import Node, NodeSettings
from hapulse.states import GroupOp
from hapulse.wire.fastpath import StatusHeartbeat
from hapulse.wire.message import Message

WEB = "192.168.1.118"
TIMERS = Timers(keepalive=0.2, deadtime=2.0, warntime=1.0, initdead=4.0)
GEN = 1795712955  # the restarted Heartbeat's generation


def holding_f801s_group() -> Node:
    """hapulse on f802 took WEB over from f801 (Heartbeat), now dead."""
    n = Node(NodeSettings(local="f802", nodes=("f801", "f802"), links=("eth1",),
                          timers=TIMERS, groups=((WEB, "f801"),), auto_failback="legacy"),
             generation=9, uuid=b"uuid-f802", now=0.0)
    out = n.tick(4.5)  # initdead: f801 never heard, taken to be dead
    assert [a.group_id for a in out if hasattr(a, "group_id")] == [WEB]
    n.resource_done(WEB, GroupOp.ACQUIRE, True, 4.6)
    assert n.policy.held() == {WEB}
    return n


def hb(seq: int, t: str = "status", extra: Sequence[tuple[str, str]] = ()) -> Message:
    """A packet of the restarted Heartbeat on f801."""
    pairs: list[tuple[str, str | bytes]] = [("t", t), *extra, ("src", "f801"),
                                            ("srcuuid", b"uuid-f801"), ("seq", f"{seq:x}"),
                                            ("hg", f"{GEN:x}"), ("ts", f"{1000 + seq:x}")]
    return Message.from_pairs(pairs)


def status(seq: int, st: str) -> Message:
    return hb(seq, extra=[("st", st), ("dt", "fa0"), ("protocol", "1")])


def sent_types(out: Sequence[NodeAction]) -> list[str]:
    return [a.msg.get("t") or "" for a in out if isinstance(a, Send)]


def test_a_starting_heartbeat_hears_a_status_before_any_other_packet() -> None:
    n = holding_f801s_group()
    out: list[NodeAction] = []
    for seq, st in ((1, "init"), (2, "up"), (3, "up")):
        out += n.receive(status(seq, st), "eth1", 5.0 + seq / 1000)
    types = sent_types(out)
    # the hello went out (no acknowledgement: none before ten of a peer's messages)
    assert "resource" in types and "NS_ackmsg" not in types
    assert types[0] == "status"
    first = next(a.msg for a in out if isinstance(a, Send))
    assert first["st"] == "active" and first["src"] == "f802"


def test_the_fast_path_greets_too() -> None:
    n = holding_f801s_group()
    out = n.receive_status(StatusHeartbeat("f801", "init", 1, GEN, 1001, b"uuid-f801"),
                           "eth1", 5.0)
    assert sent_types(out)[:1] == ["status"]


def test_a_peer_already_known_is_not_greeted_again() -> None:
    n = holding_f801s_group()
    n.receive(status(1, "init"), "eth1", 5.0)
    n.receive(status(2, "up"), "eth1", 5.001)
    out = n.receive(status(3, "active"), "eth1", 5.2)
    assert "status" not in sent_types(out)


def test_a_group_heartbeat_starts_unasked_is_released() -> None:
    n = holding_f801s_group()
    for seq, st in ((1, "init"), (2, "up"), (3, "active")):
        n.receive(status(seq, st), "eth1", 5.0 + seq / 1000)
    unasked = hb(4, "ip-request-resp", [("dest", "f801"), ("ipaddr", WEB), ("weown", "yes"),
                                        ("ok", "OK")])
    out = n.receive(unasked, "eth1", 5.1)
    assert [a.group_id for a in out if isinstance(a, Release)] == [WEB]
    n.resource_done(WEB, GroupOp.RELEASE, True, 5.2)
    assert n.policy.held() == set()
    # the same message again (a second link, a retransmission) changes nothing
    assert [a for a in n.receive(unasked, "eth1", 5.3) if isinstance(a, Release)] == []
    assert n.policy.held() == set()


def test_a_note_to_itself_from_a_dead_or_unknown_sender_is_ignored() -> None:
    n = holding_f801s_group()
    # a replayed message from f801's previous life: not fresh, f801 not alive
    stale = Message.from_pairs([("t", "ip-request-resp"), ("dest", "f801"), ("ipaddr", WEB),
                                ("weown", "yes"), ("ok", "OK"), ("src", "f801"),
                                ("srcuuid", b"uuid-f801"), ("seq", "4"), ("hg", "1"),
                                ("ts", "1")])
    n.receive(status(1, "init"), "eth1", 5.0)
    assert [a for a in n.receive(stale, "eth1", 5.1) if isinstance(a, Release)] == []
    assert n.policy.held() == {WEB}
