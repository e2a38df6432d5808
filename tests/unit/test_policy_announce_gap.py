"""Hellos and their answers coalesced (ANNOUNCE_GAP): N nodes starting together send a
few announcements each, not one per peer per hello (~N^3 in all)."""

from __future__ import annotations

from test_policy import ACTIVE, policy, sent

from hapulse.actions import PolicyAction
from hapulse.policy.failover import ANNOUNCE_GAP
from hapulse.wire.message import Message

NODES = tuple(f"n{i:02d}" for i in range(1, 21))


def hellos(out: list[PolicyAction]) -> int:
    return sum(1 for m in sent(out) if m.get("hp_hello") == "1")


def hello_from(node: str) -> Message:
    return Message.from_pairs([("t", "resource"), ("rsc_hold", "none"), ("hp_held", ""),
                               ("hp_hello", "1")])


def test_peers_coming_alive_together_get_one_hello_then_one_more() -> None:
    p = policy("n01", groups={}, nodes=NODES)  # no groups: only hellos and answers
    out: list[PolicyAction] = []
    for i, peer in enumerate(NODES[1:]):  # 19 peers alive within 19 ms
        out += p.on_node_status(peer, ACTIVE, 1.0 + i * 0.001)
    assert hellos(out) == 1  # the first at once
    out = p.tick(1.0 + ANNOUNCE_GAP)
    assert hellos(out) == 1  # the others in one, at the end of the gap
    assert hellos(p.tick(1.0 + 2 * ANNOUNCE_GAP)) == 0


def test_hellos_from_many_peers_get_one_answer_then_one_more() -> None:
    p = policy("n01", groups={}, nodes=NODES)  # no groups: only hellos and answers
    for peer in NODES[1:]:
        p.on_node_status(peer, ACTIVE, 1.0)
    p.tick(1.0 + ANNOUNCE_GAP)  # our own hellos are out
    out: list[PolicyAction] = []
    t = 2.0
    for i, peer in enumerate(NODES[1:]):
        out += p.on_message(hello_from(peer), peer, t + i * 0.001)
    assert len(sent(out)) == 1  # an answer at once ...
    later = p.tick(t + 0.019 + ANNOUNCE_GAP)
    assert len(sent(later)) == 1  # ... and one for those who asked after it
    deadline = p.next_deadline(t + 1.0)
    assert deadline is None or deadline > t + 1.0  # nothing left to send


def test_a_lone_hello_is_answered_at_once() -> None:
    p = policy("f801", groups={})
    p.on_node_status("f802", ACTIVE, 1.0)
    out = p.on_message(hello_from("f802"), "f802", 5.0)
    assert len(sent(out)) == 1
