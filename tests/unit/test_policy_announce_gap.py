"""Hellos and their answers coalesced (ANNOUNCE_GAP): N nodes starting together send a
few announcements each, not one per peer per hello (~N^3 in all)."""

from __future__ import annotations

from test_policy import ACTIVE, policy, sent

from hapulse.actions import PolicyAction
from hapulse.policy.failover import ANNOUNCE_GAP, ANNOUNCE_GAP_PER_PEER, announce_gap
from hapulse.wire.message import Message

NODES = tuple(f"n{i:02d}" for i in range(1, 21))
GAP = announce_gap(len(NODES) - 1)  # 19 peers: 0.19 s


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
    out = p.tick(1.0 + GAP)
    assert hellos(out) == 1  # the others in one, at the end of the gap
    assert hellos(p.tick(1.0 + 2 * GAP)) == 0


def test_hellos_from_many_peers_get_one_answer_then_one_more() -> None:
    p = policy("n01", groups={}, nodes=NODES)  # no groups: only hellos and answers
    for peer in NODES[1:]:
        p.on_node_status(peer, ACTIVE, 1.0)
    p.tick(1.0 + GAP)  # our own hellos are out
    out: list[PolicyAction] = []
    t = 2.0
    for i, peer in enumerate(NODES[1:]):
        out += p.on_message(hello_from(peer), peer, t + i * 0.001)
    assert len(sent(out)) == 1  # an answer at once ...
    later = p.tick(t + 0.019 + GAP)
    assert len(sent(later)) == 1  # ... and one for those who asked after it
    deadline = p.next_deadline(t + 1.0)
    assert deadline is None or deadline > t + 1.0  # nothing left to send


def test_a_lone_hello_is_answered_at_once() -> None:
    p = policy("f801", groups={})
    p.on_node_status("f802", ACTIVE, 1.0)
    out = p.on_message(hello_from("f802"), "f802", 5.0)
    assert len(sent(out)) == 1


def test_the_gap_grows_with_the_cluster() -> None:
    """Every announcement reaches every node: a node of a bigger cluster announces less
    often, so the cluster's announcements per second stay bounded while peers flap."""
    assert announce_gap(1) == ANNOUNCE_GAP  # two nodes: 0.1 s
    assert announce_gap(99) == 99 * ANNOUNCE_GAP_PER_PEER  # 100 nodes: about 1 s
    for peers in (1, 10, 50, 99):
        assert (peers + 1) / announce_gap(peers) <= 1 / ANNOUNCE_GAP_PER_PEER + 1 / ANNOUNCE_GAP
    p = policy("n01", groups={}, nodes=NODES)
    out: list[PolicyAction] = []
    for i, peer in enumerate(NODES[1:]):
        out += p.on_node_status(peer, ACTIVE, 1.0 + i * 0.001)
    assert hellos(out) == 1
    assert hellos(p.tick(1.0 + ANNOUNCE_GAP)) == 0  # 0.1 s is not enough at 20 nodes
    assert hellos(p.tick(1.0 + GAP)) == 1
