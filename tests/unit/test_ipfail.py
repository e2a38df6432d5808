"""ipfail's decision and its messages, as Heartbeat 3.0.6's ipfail sends them."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hapulse.policy.ipfail import (
    GiveUp,
    HandOver,
    Ipfail,
    IpfailLog,
    SendToPeer,
    Verdict,
    ask_resources_message,
    decide,
    join_message,
    may_take_over,
    num_ping_nodes_message,
    peer_count,
)
from hapulse.wire.codec import decode, encode
from hapulse.wire.message import Message


@pytest.mark.parametrize(("local", "peer", "verdict", "hand_over"), [
    (2, 1, Verdict.PEER_GIVES_UP, None),
    (1, 0, Verdict.PEER_GIVES_UP, None),
    (0, 1, Verdict.GIVE_UP, HandOver.ALL),
    (1, 3, Verdict.GIVE_UP, HandOver.ALL),
    (2, 2, Verdict.BALANCED, None),
    (0, 0, Verdict.BALANCED, None),
])
def test_decide_compares_counts(local: int, peer: int, verdict: Verdict,
                                hand_over: HandOver | None) -> None:
    d = decide(local, peer, auto_failback=False)
    assert (d.verdict, d.hand_over) == (verdict, hand_over)


def test_balanced_with_auto_failback_gives_up_foreign_unless_a_giveup_is_pending() -> None:
    assert decide(1, 1, auto_failback=True).hand_over is HandOver.FOREIGN
    d = decide(1, 1, auto_failback=True, hand_over_pending=True)
    assert d.hand_over is None and d.cancel_pending


def test_dead_peer_taken_over_only_while_a_ping_node_answers() -> None:
    assert may_take_over(1, 2)[0]
    assert may_take_over(0, 0)[0]  # no ping nodes: Heartbeat's plain takeover
    ok, why = may_take_over(0, 2)
    assert not ok and "no ping node is reachable" in why


def test_num_ping_nodes_wire_fields_round_trip() -> None:
    msg = num_ping_nodes_message("f801", "f802", 2)
    assert [(f.name, f.value) for f in msg] == [
        ("t", "num_ping_nodes"), ("src", "f801"), ("num_ping", "2"), ("dest", "f802"),
        ("from_id", "ipfail"), ("to_id", "ipfail")]
    back = decode(encode(msg))
    assert peer_count(back) == 2
    assert peer_count(Message.from_pairs([("t", "num_ping_nodes"), ("num_ping", "x")])) is None
    assert peer_count(Message.from_pairs([("t", "status")])) is None


def test_join_and_ask_resources_fields() -> None:
    assert dict((f.name, f.value) for f in join_message("f801")) == {
        "t": "hbapi-clstat", "st": "join", "from_id": "ipfail", "to_id": "ipfail", "src": "f801"}
    assert dict((f.name, f.value) for f in ask_resources_message("f801", HandOver.ALL)) == {
        "t": "ask_resources", "rsc_hold": "all", "src": "f801", "info": "me"}


def _sent(actions: Sequence[object]) -> list[str]:
    return [a.msg["t"] for a in actions if isinstance(a, SendToPeer)]


def test_fewer_ping_nodes_hand_over_after_two_keepalives() -> None:
    ip = Ipfail("f801", "f802", keepalive=1.0, auto_failback="off")
    got = ip.on_message(num_ping_nodes_message("f802", "f801", 1), local_count=0, now=10.0)
    assert IpfailLog("info", "Giving up because we have less visible ping nodes.") in got
    assert ip.next_deadline() == 12.0
    assert ip.tick(11.9) == []
    assert GiveUp(HandOver.ALL) in ip.tick(12.0)
    assert ip.next_deadline() is None and ip.tick(20.0) == []


def test_more_ping_nodes_tells_the_peer_it_is_dead_and_keeps() -> None:
    ip = Ipfail("f802", "f801", keepalive=1.0, auto_failback="off")
    got = ip.on_message(num_ping_nodes_message("f801", "f802", 0), local_count=1, now=0.0)
    assert _sent(got) == ["you_are_dead"]
    assert got[-1].msg["dest"] == "f801"  # type: ignore[union-attr]
    assert ip.next_deadline() is None


def test_you_are_dead_then_abort_cancels_the_hand_over() -> None:
    ip = Ipfail("f801", "f802", keepalive=0.5, auto_failback="off")
    ip.on_message(Message.from_pairs([("t", "you_are_dead"), ("src", "f802")]), 0, now=1.0)
    assert ip.next_deadline() == 2.0
    ip.on_message(Message.from_pairs([("t", "abort_giveup"), ("src", "f802")]), 0, now=1.5)
    assert ip.next_deadline() is None and ip.tick(3.0) == []


def test_balanced_count_sends_abort_and_cancels_a_pending_hand_over() -> None:
    ip = Ipfail("f801", "f802", keepalive=0.5, auto_failback="on")
    ip.on_message(Message.from_pairs([("t", "you_are_dead"), ("src", "f802")]), 1, now=1.0)
    got = ip.on_message(num_ping_nodes_message("f802", "f801", 1), local_count=1, now=1.2)
    assert _sent(got) == ["abort_giveup"]
    assert ip.tick(5.0) == []  # cancelled, and no foreign giveup this time


def test_peer_ipfail_join_is_answered_with_our_count_and_own_messages_ignored() -> None:
    ip = Ipfail("f801", "f802", keepalive=1.0, auto_failback="off")
    join = join_message("f802")
    got = ip.on_message(join, local_count=3, now=0.0)
    assert _sent(got) == ["num_ping_nodes"]
    assert got[-1].msg["num_ping"] == "3"  # type: ignore[union-attr]
    assert ip.on_message(join_message("f801"), 3, 0.0) == []


def test_legacy_auto_failback_is_refused_as_ipfail_does() -> None:
    with pytest.raises(ValueError, match="legacy"):
        Ipfail("f801", "f802", keepalive=1.0, auto_failback="legacy")
