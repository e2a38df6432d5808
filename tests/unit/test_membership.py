"""hapulse.membership.core.Membership, fed messages and `now` by hand (no simulator).

Timers in these tests: keepalive 1 s, warntime 2 s, deadtime 4 s, initdead 8 s;
this node is f801 (generation 0x1a), the peer f802 (generation 5).
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hapulse.actions import Deliver, LinkStatus, Log, MembershipAction, NodeStatus, Send
from hapulse.membership import Membership, Timers
from hapulse.membership.core import ACK_DIV, MAX_REXMIT_GAP, REXMIT_HOLD, REXMIT_RETRY
from hapulse.states import LinkState, LogLevel, NodeState
from hapulse.wire.message import Message

T = Timers(keepalive=1.0, deadtime=4.0, warntime=2.0, initdead=8.0)
STAMP = ["src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
UP, DEAD = LinkState.UP, LinkState.DEAD


def member(now: float = 0.0, nodes: Sequence[str] = ("f801", "f802"),
           links: Sequence[str] = ("eth1",), timers: Timers = T, generation: int = 0x1a,
           clock_offset: float = 0.0) -> Membership:
    return Membership("f801", nodes, links, timers, generation, b"uuid-f801", now,
                      clock_offset)


def msg(t: str = "status", seq: int | None = 1, src: str = "f802", hg: int | None = 5,
        ts: int = 1000, st: str | None = "active",
        extra: Sequence[tuple[str, str]] = ()) -> Message:
    """A peer's message as it arrives: its own fields, then Heartbeat's stamp."""
    pairs: list[tuple[str, str | bytes]] = [("t", t)]
    if t == "status" and st is not None:
        pairs.append(("st", st))
    pairs += extra
    pairs += [("src", src), ("srcuuid", b"uuid-" + src.encode())]
    if seq is not None:
        pairs.append(("seq", f"{seq:x}"))
    if hg is not None:
        pairs.append(("hg", f"{hg:x}"))
    pairs += [("ts", f"{ts:x}"), ("ttl", "3")]
    return Message.from_pairs(pairs)


def sends(actions: Sequence[MembershipAction]) -> list[Send]:
    """What was sent, acknowledgements aside (their own tests count them)."""
    return [a for a in actions if isinstance(a, Send) and a.msg.get("t") != "NS_ackmsg"]


def acks(actions: Sequence[MembershipAction]) -> list[int]:
    """The `ackseq` of each NS_ackmsg sent, with its destination checked."""
    out = []
    for a in actions:
        if isinstance(a, Send) and a.msg.get("t") == "NS_ackmsg":
            assert a.msg["dest"] == "f802"
            assert "seq" not in a.msg  # NS_* types are unsequenced, as in Heartbeat
            out.append(int(a.msg["ackseq"], 16))
    return out


def node_statuses(actions: Sequence[MembershipAction]) -> list[NodeStatus]:
    return [a for a in actions if isinstance(a, NodeStatus)]


def link_statuses(actions: Sequence[MembershipAction]) -> list[LinkStatus]:
    return [a for a in actions if isinstance(a, LinkStatus)]


def logs(actions: Sequence[MembershipAction], level: LogLevel | None = None) -> list[str]:
    return [a.text for a in actions if isinstance(a, Log) and level in (None, a.level)]


def delivered(actions: Sequence[MembershipAction]) -> list[Deliver]:
    return [a for a in actions if isinstance(a, Deliver)]


def status_of(m: Membership, node: str) -> NodeState | None:
    return m.peer_status(node)


def links_of(m: Membership, node: str) -> dict[str, LinkState]:
    (view,) = [v for v in m.view(0.0) if v.name == node]
    return {lv.name: lv.status for lv in view.links}


# ---- the heartbeat ---------------------------------------------------------------

def test_heartbeat_carries_heartbeats_fields_in_order() -> None:
    offset = 1_767_000_000.75
    m = member(now=10.0, clock_offset=offset)
    (send,) = sends(m.tick(10.0))
    hb = send.msg
    assert send.link is None  # every link
    assert [f.name for f in hb] == ["t", "st", "dt", "protocol", *STAMP]
    assert hb["t"] == "status"
    assert hb["st"] == "up"  # f802 not heard yet
    assert hb["dt"] == "fa0"  # deadtime 4000 ms in hex
    assert hb["protocol"] == "1"
    assert hb["src"] == "f801"
    assert hb.get_bytes("srcuuid") == b"uuid-f801"
    assert hb["seq"] == "1"
    assert hb["hg"] == "1a"  # lower-case hex
    assert hb["ts"] == f"{int(10.0 + offset):x}"
    assert hb["ld"] == "0.00 0.00 0.00 1/1 1"
    assert hb["ttl"] == "3"


def test_ts_is_unix_time_in_lower_case_hex() -> None:
    offset = 0xABCDEF00 - 5.0
    m = member(now=5.5, clock_offset=offset)
    (send,) = sends(m.tick(5.5))
    assert send.msg["ts"] == "abcdef00"  # int(5.5 + offset), truncated, lower case


def test_sequence_numbers_count_up_in_hex() -> None:
    m = member(nodes=("f801",))
    seqs = [sends(m.tick(float(t)))[0].msg["seq"] for t in range(17)]
    assert seqs[:3] == ["1", "2", "3"] and seqs[9:11] == ["a", "b"] and seqs[16] == "11"


def test_keepalive_schedule_and_no_burst_after_a_stall() -> None:
    m = member(nodes=("f801",))
    assert len(sends(m.tick(0.0))) == 1
    assert sends(m.tick(0.5)) == []
    assert len(sends(m.tick(1.0))) == 1
    assert m.next_deadline() == pytest.approx(2.0)
    # the loop stalls 3.3 s: one heartbeat, not four, then the schedule restarts from now
    assert len(sends(m.tick(5.3))) == 1
    assert m.next_deadline() == pytest.approx(6.3)
    assert sends(m.tick(5.4)) == []
    assert len(sends(m.tick(6.3))) == 1


def test_local_status_goes_active_once_every_peer_is_heard() -> None:
    m = member(nodes=("f801", "f802", "f803"))
    assert sends(m.tick(0.0))[0].msg["st"] == "up"
    out = m.receive(msg(), "eth1", 0.5)
    assert "Local status now set to: 'active'" not in logs(out)
    out = m.receive(msg(src="f803"), "eth1", 0.6)
    assert logs(out, LogLevel.INFO) == ["Local status now set to: 'active'"]
    assert sends(m.tick(1.0))[0].msg["st"] == "active"
    assert m.view(1.0)[0].status is NodeState.ACTIVE


# ---- node and link states ----------------------------------------------------------

def test_peer_goes_init_up_active() -> None:
    m = member()
    assert status_of(m, "f802") is NodeState.INIT
    out = m.receive(msg(seq=1, st="up"), "eth1", 1.0)
    assert link_statuses(out) == [LinkStatus("f802", "eth1", DEAD, UP)]
    assert node_statuses(out) == [NodeStatus("f802", NodeState.INIT, NodeState.UP)]
    out = m.receive(msg(seq=2, st="up"), "eth1", 2.0)
    assert node_statuses(out) == [] and link_statuses(out) == []
    out = m.receive(msg(seq=3, st="active"), "eth1", 3.0)
    assert node_statuses(out) == [NodeStatus("f802", NodeState.UP, NodeState.ACTIVE)]


def test_unknown_status_word_counts_as_up() -> None:
    m = member()
    out = m.receive(msg(st="ping"), "eth1", 1.0)
    assert node_statuses(out) == [NodeStatus("f802", NodeState.INIT, NodeState.UP)]


def test_peer_dead_after_deadtime_of_silence() -> None:
    m = member()
    m.receive(msg(seq=1), "eth1", 1.0)
    assert node_statuses(m.tick(5.0)) == []  # exactly deadtime: not yet
    out = m.tick(5.01)
    assert node_statuses(out) == [NodeStatus("f802", NodeState.ACTIVE, NodeState.DEAD)]
    assert link_statuses(out) == [LinkStatus("f802", "eth1", UP, DEAD)]
    (dead,) = [t for t in logs(out, LogLevel.WARNING) if "is dead" in t]
    assert dead == "node f802: is dead (silent 4.010 s, deadtime 4 s)"
    assert node_statuses(m.tick(6.0)) == [] and link_statuses(m.tick(6.0)) == []
    assert status_of(m, "f802") is NodeState.DEAD


def test_heartbeats_keep_a_peer_alive() -> None:
    m = member()
    for seq in range(1, 20):
        m.receive(msg(seq=seq, ts=1000 + seq), "eth1", float(seq))
        assert node_statuses(m.tick(seq + 0.9)) == []
    assert status_of(m, "f802") is NodeState.ACTIVE


def test_never_heard_peer_dead_after_initdead_not_deadtime() -> None:
    m = member(now=0.0)
    assert node_statuses(m.tick(4.5)) == []  # past deadtime, within initdead
    assert node_statuses(m.tick(8.0)) == []
    out = m.tick(8.01)
    assert node_statuses(out) == [NodeStatus("f802", NodeState.INIT, NodeState.DEAD)]
    assert link_statuses(out) == []  # its link never came up
    assert any("initdead 8 s" in t for t in logs(out, LogLevel.WARNING))
    # every peer is known now: local status active
    assert "Local status now set to: 'active'" in logs(out)


def test_initdead_counts_from_start_not_from_zero() -> None:
    m = member(now=100.0)
    assert node_statuses(m.tick(107.9)) == []
    assert node_statuses(m.tick(108.1)) == [NodeStatus("f802", NodeState.INIT, NodeState.DEAD)]


def test_late_heartbeat_logged_once_per_silence() -> None:
    m = member()
    m.receive(msg(seq=1), "eth1", 1.0)
    assert logs(m.tick(3.0), LogLevel.WARNING) == []  # exactly warntime
    out = m.tick(3.1)
    assert logs(out, LogLevel.WARNING) == [
        "Late heartbeat: Node f802: interval 2100 ms (warntime 2000 ms, deadtime 4000 ms)"]
    assert logs(m.tick(3.5), LogLevel.WARNING) == []
    assert logs(m.tick(4.0), LogLevel.WARNING) == []
    out = m.receive(msg(seq=2), "eth1", 4.2)
    assert logs(out, LogLevel.INFO) == ["node f802: heartbeat resumed after 3200 ms"]
    # a new silence warns again
    assert logs(m.tick(6.0), LogLevel.WARNING) == []
    assert len(logs(m.tick(6.3), LogLevel.WARNING)) == 1


def test_no_late_warning_for_a_never_heard_peer() -> None:
    m = member()
    for t in (2.5, 5.0, 7.9):
        assert logs(m.tick(t), LogLevel.WARNING) == []


def test_links_go_up_and_dead_one_by_one() -> None:
    m = member(links=("eth0", "eth1"))
    out = m.receive(msg(seq=1), "eth0", 1.0)
    assert link_statuses(out) == [LinkStatus("f802", "eth0", DEAD, UP)]
    out = m.receive(msg(seq=2), "eth1", 1.5)
    assert link_statuses(out) == [LinkStatus("f802", "eth1", DEAD, UP)]
    assert links_of(m, "f802") == {"eth0": UP, "eth1": UP}
    # eth0 goes quiet, eth1 keeps carrying fresh heartbeats
    for seq, t in ((3, 2.5), (4, 3.5), (5, 4.5)):
        m.receive(msg(seq=seq), "eth1", t)
    assert link_statuses(m.tick(5.0)) == []
    out = m.tick(5.01)
    assert link_statuses(out) == [LinkStatus("f802", "eth0", UP, DEAD)]
    assert node_statuses(out) == []  # one link lost: the node lives
    assert links_of(m, "f802") == {"eth0": DEAD, "eth1": UP}
    out = m.receive(msg(seq=6), "eth0", 5.5)
    assert link_statuses(out) == [LinkStatus("f802", "eth0", DEAD, UP)]


def test_same_message_on_a_second_link_counts_for_that_link_only() -> None:
    m = member(links=("eth0", "eth1"))
    m.receive(msg(seq=1), "eth0", 1.0)
    res = msg(t="resource", seq=2, extra=[("rsc_hold", "none")])
    first = m.receive(res, "eth0", 2.0)
    assert len(delivered(first)) == 1
    again = m.receive(res, "eth1", 2.2)  # the duplicate, moments later
    assert link_statuses(again) == [LinkStatus("f802", "eth1", DEAD, UP)]
    assert delivered(again) == [] and node_statuses(again) == [] and sends(again) == []


def test_replay_of_a_seen_sequence_number_later_refreshes_nothing() -> None:
    m = member(links=("eth0", "eth1"))
    hb = msg(seq=1)
    m.receive(hb, "eth0", 1.0)
    # the same packet replayed after a keepalive, on either link
    assert m.receive(hb, "eth0", 3.0) == []
    assert m.receive(hb, "eth1", 4.5) == []
    assert links_of(m, "f802") == {"eth0": UP, "eth1": DEAD}
    out = m.tick(5.01)  # deadtime after the real heartbeat, not the replays
    assert node_statuses(out) == [NodeStatus("f802", NodeState.ACTIVE, NodeState.DEAD)]


def test_replay_revives_no_dead_node() -> None:
    m = member()
    hbs = [msg(seq=s, ts=1000 + s) for s in range(1, 4)]
    for i, hb in enumerate(hbs):
        m.receive(hb, "eth1", 1.0 + i)
    m.tick(7.1)
    assert status_of(m, "f802") is NodeState.DEAD
    for i, hb in enumerate(hbs):
        assert m.receive(hb, "eth1", 10.0 + i) == []
    assert status_of(m, "f802") is NodeState.DEAD


def test_older_generation_with_an_older_ts_is_a_replay() -> None:
    m = member()
    m.receive(msg(seq=7, hg=5, ts=1000), "eth1", 1.0)
    out = m.receive(msg(seq=8, hg=4, ts=999), "eth1", 3.0)
    assert out == [Log(LogLevel.DEBUG, "replay from f802 (generation 4 < 5) dropped")]
    out = m.receive(msg(seq=9, hg=4, ts=1000), "eth1", 3.5)  # same ts: not newer either
    assert logs(out, LogLevel.DEBUG) and node_statuses(out) == []
    assert node_statuses(m.tick(5.01)) == [NodeStatus("f802", NodeState.ACTIVE,
                                                      NodeState.DEAD)]
    assert m.view(5.01)[1].generation == 5


def test_restarted_peer_with_a_higher_generation() -> None:
    m = member()
    for s in range(1, 11):
        m.receive(msg(seq=s, hg=5, ts=1000 + s), "eth1", s * 0.1)
    out = m.receive(msg(seq=1, hg=6, ts=1020, st="up"), "eth1", 2.0)
    assert logs(out, LogLevel.INFO)[0] == "node f802 restarted: generation 5 -> 6"
    assert node_statuses(out) == [NodeStatus("f802", NodeState.ACTIVE, NodeState.UP)]
    assert sends(out) == []  # seq 1 of a new generation is no gap
    out = m.receive(msg(seq=2, hg=6, ts=1021), "eth1", 2.5)
    assert sends(out) == [] and node_statuses(out) == [
        NodeStatus("f802", NodeState.UP, NodeState.ACTIVE)]
    assert m.view(2.5)[1].generation == 6
    # the old generation's packets are replays now
    assert logs(m.receive(msg(seq=11, hg=5, ts=1011), "eth1", 3.0), LogLevel.DEBUG)


def test_lower_generation_with_a_newer_ts_is_a_restart_with_lost_state() -> None:
    m = member()
    m.receive(msg(seq=40, hg=5, ts=1000), "eth1", 1.0)
    out = m.receive(msg(seq=1, hg=2, ts=1003, st="up"), "eth1", 4.0)
    (warn,) = logs(out, LogLevel.WARNING)
    assert "restarted with an older generation (5 -> 2)" in warn
    assert node_statuses(out) == [NodeStatus("f802", NodeState.ACTIVE, NodeState.UP)]
    assert sends(out) == []
    assert m.view(4.0)[1].generation == 2
    # it was refreshed at 4.0: not dead at the old deadline
    assert node_statuses(m.tick(5.5)) == []
    assert node_statuses(m.tick(8.01)) == [NodeStatus("f802", NodeState.UP, NodeState.DEAD)]


# ---- retransmission -------------------------------------------------------------

def rexmit_request(out: Sequence[MembershipAction]) -> tuple[int, int]:
    (send,) = sends(out)
    req = send.msg
    assert req["t"] == "NS_rexmit" and req["dest"] == "f802"
    assert "seq" not in req  # requests are not sequenced themselves
    assert req["src"] == "f801" and req["hg"] == "1a"
    first, last = req.get_int("firstseq"), req.get_int("lastseq")
    assert first is not None and last is not None
    return first, last


def test_gap_in_a_peers_sequence_asks_for_the_missing_messages() -> None:
    m = member()
    m.receive(msg(seq=1), "eth1", 1.0)
    out = m.receive(msg(seq=4), "eth1", 1.1)
    assert rexmit_request(out) == (2, 3)
    assert logs(out, LogLevel.INFO) == ["requesting retransmission of f802's messages 2..3"]
    # asked again only after REXMIT_RETRY
    assert sends(m.receive(msg(seq=5), "eth1", 1.1 + REXMIT_RETRY / 2)) == []
    # seq 2 arrives (retransmitted): only 3 is still missing
    assert sends(m.receive(msg(seq=2), "eth1", 1.6)) == []
    assert rexmit_request(m.receive(msg(seq=6), "eth1", 1.1 + REXMIT_RETRY)) == (3, 3)


def test_retransmitted_message_fills_the_gap_and_is_delivered_once() -> None:
    m = member()
    m.receive(msg(seq=1), "eth1", 1.0)
    m.receive(msg(seq=3), "eth1", 1.1)
    res = msg(t="resource", seq=2, extra=[("rsc_hold", "local")])
    assert len(delivered(m.receive(res, "eth1", 1.2))) == 1
    assert delivered(m.receive(res, "eth1", 3.0)) == []


def test_a_huge_gap_asks_for_at_most_max_rexmit_gap_messages() -> None:
    m = member()
    m.receive(msg(seq=1), "eth1", 1.0)
    first, last = rexmit_request(m.receive(msg(seq=1000), "eth1", 1.1))
    assert (first, last) == (1000 - MAX_REXMIT_GAP, 999)


def three_nodes_after_heartbeats(count: int) -> tuple[Membership, list[Message]]:
    """f801 has sent `count` heartbeats; both peers are alive (an unsequenced request such
    as NS_rexmit is answered only while its sender is alive)."""
    m = member(nodes=("f801", "f802", "f803"))
    sent = [sends(m.tick(float(t)))[0].msg for t in range(count)]
    for peer in ("f802", "f803"):
        m.receive(msg(seq=1, src=peer), "eth1", float(count))
    return m, sent


def ask(firstseq: int, lastseq: int, src: str = "f802", dest: str = "f801") -> Message:
    return msg(t="NS_rexmit", seq=None, src=src, extra=[
        ("dest", dest), ("firstseq", f"{firstseq:x}"), ("lastseq", f"{lastseq:x}")])


def test_rexmit_request_answered_from_history() -> None:
    m, sent = three_nodes_after_heartbeats(3)
    out = m.receive(ask(1, 2), "eth1", 2.5)
    assert [s.msg for s in sends(out)] == sent[:2]  # the very messages, seq and all
    assert all(s.link is None for s in sends(out))


def test_same_message_resent_at_most_once_per_rexmit_hold() -> None:
    m, sent = three_nodes_after_heartbeats(3)
    assert len(sends(m.receive(ask(1, 2), "eth1", 2.5))) == 2
    # the other peer asks for the same gap at once: already on the wire
    assert sends(m.receive(ask(1, 3, src="f803"), "eth1", 2.5 + REXMIT_HOLD / 2)) == [
        Send(sent[2])]
    assert len(sends(m.receive(ask(1, 2, src="f803"), "eth1", 2.5 + REXMIT_HOLD))) == 2


def test_rexmit_of_messages_no_longer_in_history_is_logged() -> None:
    m, _ = three_nodes_after_heartbeats(2)
    out = m.receive(ask(2, 5), "eth1", 2.5)
    assert len(sends(out)) == 1
    assert logs(out, LogLevel.INFO) == ["f802 asked for 3 message(s) no longer in history (2..5)"]


def test_rexmit_for_another_node_or_malformed_is_not_answered() -> None:
    m, _ = three_nodes_after_heartbeats(2)
    assert sends(m.receive(ask(1, 2, dest="f803"), "eth1", 2.5)) == []
    bad = msg(t="NS_rexmit", seq=None, extra=[("dest", "f801"), ("firstseq", "5"),
                                               ("lastseq", "2")])
    out = m.receive(bad, "eth1", 2.6)
    assert sends(out) == [] and logs(out, LogLevel.WARNING) == [
        "malformed NS_rexmit from f802 dropped"]


def test_replayed_rexmit_request_revives_no_dead_node() -> None:
    m = member()
    old_request = ask(1, 1)  # sent by f802 at its ts 1000
    m.receive(msg(seq=1, ts=1000), "eth1", 1.0)
    m.receive(old_request, "eth1", 1.1)
    m.receive(msg(seq=2, ts=1001), "eth1", 2.0)
    m.tick(6.1)
    assert status_of(m, "f802") is NodeState.DEAD
    out = m.receive(old_request, "eth1", 10.0)  # replayed: same generation, older ts
    assert node_statuses(out) == [] and link_statuses(out) == []
    assert status_of(m, "f802") is NodeState.DEAD


# ---- other messages -------------------------------------------------------------

def test_reqnodes_answered_with_repnodes() -> None:
    m = member(nodes=("f802", "f801", "f803"))
    out = m.receive(msg(t="reqnodes", seq=1, extra=[("dest", "f801")]), "eth1", 1.0)
    (send,) = sends(out)
    rep = send.msg
    assert [f.name for f in rep][:5] == ["dest", "t", "nodelist", "delnodelist", "destuuid"]
    assert rep["t"] == "repnodes" and rep["dest"] == "f802"
    assert rep["nodelist"] == "f801 f802 f803 "
    assert rep["delnodelist"] == " "
    assert rep.get_bytes("destuuid") == b"uuid-f802"
    assert [f.name for f in rep][5:] == STAMP and rep["seq"] == "1"
    assert delivered(out) == []


def test_reqnodes_without_dest_or_for_another_node_is_not_answered() -> None:
    m = member(nodes=("f801", "f802", "f803"))
    assert sends(m.receive(msg(t="reqnodes", seq=1), "eth1", 1.0)) == []
    assert sends(m.receive(msg(t="reqnodes", seq=2, extra=[("dest", "f803")]),
                           "eth1", 1.1)) == []


def test_cluster_message_delivered_and_wakes_an_init_peer() -> None:
    m = member()
    res = msg(t="resource", seq=1, extra=[("rsc_hold", "all")])
    out = m.receive(res, "eth1", 1.0)
    assert node_statuses(out) == [NodeStatus("f802", NodeState.INIT, NodeState.UP)]
    assert delivered(out) == [Deliver(res, "f802")]


@pytest.mark.parametrize("t", ["status", "NS_ackmsg", "repnodes"])
def test_protocol_messages_are_not_delivered(t: str) -> None:
    m = member()
    assert delivered(m.receive(msg(t=t, seq=1, extra=[("dest", "f801")]), "eth1", 1.0)) == []


def test_message_from_an_unknown_node_is_dropped_with_a_hint() -> None:
    m = member()
    out = m.receive(msg(src="f803"), "eth1", 1.0)
    assert len(out) == 1 and isinstance(out[0], Log) and out[0].level is LogLevel.WARNING
    assert "node f803, not in ha.cf's node list" in out[0].text and "node f803" in out[0].text
    assert [v.name for v in m.view(1.0)] == ["f801", "f802"]


def test_own_messages_and_messages_without_src() -> None:
    m = member()
    assert m.receive(msg(src="F801"), "eth1", 1.0) == []
    nosrc = Message.from_pairs([("t", "status"), ("seq", "1")])
    assert m.receive(nosrc, "eth1", 1.0) == [
        Log(LogLevel.WARNING, "message without src on eth1 dropped")]


def test_dest_for_another_node_keeps_the_sender_alive_but_is_not_delivered() -> None:
    m = member(nodes=("f801", "f802", "f803"))
    m.receive(msg(seq=1), "eth1", 1.0)
    other = msg(t="resource", seq=2, extra=[("dest", "f803")])
    assert delivered(m.receive(other, "eth1", 4.0)) == []
    assert node_statuses(m.tick(5.5)) == []  # refreshed at 4.0
    mine = msg(t="resource", seq=3, extra=[("dest", "F801")])
    assert delivered(m.receive(mine, "eth1", 5.6)) == [Deliver(mine, "f802")]


def test_peer_names_are_case_insensitive() -> None:
    m = member(nodes=("f801", "F802"))
    out = m.receive(msg(src="f802"), "eth1", 1.0)
    assert node_statuses(out) == [NodeStatus("F802", NodeState.INIT, NodeState.ACTIVE)]


# ---- reload -------------------------------------------------------------------

def test_set_timers_take_effect_at_once() -> None:
    m = member()
    m.tick(0.0)
    m.receive(msg(seq=1), "eth1", 0.1)
    m.set_timers(Timers(keepalive=0.2, deadtime=10.0, warntime=6.0, initdead=20.0), 0.1)
    assert m.next_deadline() == pytest.approx(0.3)
    assert len(sends(m.tick(0.31))) == 1
    hb = sends(m.tick(0.51))[0].msg
    assert hb["dt"] == f"{10000:x}"
    assert node_statuses(m.tick(5.0)) == [] and logs(m.tick(5.0), LogLevel.WARNING) == []
    assert node_statuses(m.tick(10.2)) == [NodeStatus("f802", NodeState.ACTIVE,
                                                       NodeState.DEAD)]


def test_longer_keepalive_does_not_postpone_the_due_heartbeat() -> None:
    m = member()
    m.tick(0.0)
    m.set_timers(Timers(keepalive=5.0, deadtime=20.0, warntime=10.0, initdead=40.0), 0.5)
    assert m.next_deadline() == pytest.approx(1.0)


def test_set_nodes_removes_and_adds_peers() -> None:
    m = member(nodes=("f801", "f802", "f803"))
    m.receive(msg(seq=1, hg=5), "eth1", 1.0)
    assert m.set_nodes(["f801", "F802", "f804"]) == ["f803"]
    assert [v.name for v in m.view(1.0)] == ["f801", "f802", "f804"]
    assert m.view(1.0)[1].generation == 5  # a kept peer keeps its state
    assert status_of(m, "f804") is NodeState.INIT
    assert "not in ha.cf" in logs(m.receive(msg(src="f803"), "eth1", 1.5))[0]
    out = m.receive(msg(src="f804"), "eth1", 1.5)
    assert node_statuses(out) == [NodeStatus("f804", NodeState.INIT, NodeState.ACTIVE)]


def test_peer_added_by_reload_gets_its_time_to_be_heard() -> None:
    m = member(now=0.0)
    m.receive(msg(seq=1), "eth1", 1.0)
    for s in range(2, 100):
        m.receive(msg(seq=s), "eth1", float(s))
    m.set_nodes(["f801", "f802", "f803"])
    assert node_statuses(m.tick(99.5)) == []
    assert status_of(m, "f803") is NodeState.INIT


# ---- leave, send_cluster, views --------------------------------------------------

def test_leave_sends_a_dead_heartbeat() -> None:
    m = member()
    out = m.leave(3.0)
    (send,) = sends(out)
    assert send.msg["t"] == "status" and send.msg["st"] == "dead"
    assert logs(out, LogLevel.INFO) == ["f801: leaving the cluster"]


def test_send_cluster_stamps_sequences_and_keeps_for_retransmission() -> None:
    m = member(clock_offset=1000.0)
    m.tick(0.0)  # seq 1
    stale = Message.from_pairs([("t", "resource"), ("rsc_hold", "all"), ("src", "x"),
                                ("seq", "99"), ("ttl", "9")])
    send = m.send_cluster(stale, 2.0)
    out = send.msg
    assert [f.name for f in out] == ["t", "rsc_hold", *STAMP]
    assert (out["src"], out["seq"], out["ts"], out["ttl"]) == ("f801", "2", f"{1002:x}", "3")
    assert stale["seq"] == "99"  # the policy's message is not changed
    m.receive(msg(seq=1), "eth1", 2.5)  # f802 alive: its requests are answered
    assert sends(m.receive(ask(2, 2), "eth1", 3.0)) == [Send(out)]


def test_view_lists_this_node_first_then_peers() -> None:
    m = member(nodes=("f801", "f802", "f803"), links=("eth0", "eth1"))
    m.receive(msg(seq=1, hg=5), "eth1", 1.0)
    local, f802, f803 = m.view(1.2345)
    assert (local.name, local.local, local.status, local.generation) == (
        "f801", True, NodeState.UP, 0x1a)
    assert local.last_heard_ago is None
    assert [(lv.name, lv.status) for lv in local.links] == [("eth0", UP), ("eth1", UP)]
    assert (f802.name, f802.local, f802.status, f802.generation) == (
        "f802", False, NodeState.ACTIVE, 5)
    assert f802.last_heard_ago == 0.234
    assert [(lv.name, lv.status) for lv in f802.links] == [("eth0", DEAD), ("eth1", UP)]
    assert (f803.status, f803.generation, f803.last_heard_ago) == (NodeState.INIT, None, None)


def test_view_changes_nothing() -> None:
    m = member()
    m.receive(msg(seq=1), "eth1", 1.0)
    before = m.view(2.0)
    for _ in range(3):
        m.view(50.0)
    assert m.view(2.0) == before
    assert node_statuses(m.tick(4.9)) == []


def test_next_deadline_is_the_earliest_timer() -> None:
    m = member()
    m.tick(0.0)
    # f802 never heard: initdead at 8.0, heartbeat at 1.0
    assert m.next_deadline() == pytest.approx(1.0)
    m.tick(1.0)
    m.receive(msg(seq=1), "eth1", 1.5)
    m.tick(1.6)
    m.tick(2.0)
    # next heartbeat 3.0, warn 3.5, link and node dead 5.5
    assert m.next_deadline() == pytest.approx(3.0)
    m.tick(3.0)
    assert m.next_deadline() == pytest.approx(3.5, abs=1e-5)
    m.tick(3.6)
    assert m.next_deadline() == pytest.approx(4.0)


# ---- acknowledgements (Heartbeat's flow control) ---------------------------------

def test_one_acknowledgement_per_ten_messages_at_the_peers_trigger_residue() -> None:
    """A Heartbeat peer keeps its messages until acknowledged; hapulse acknowledges as
    Heartbeat does: the highest sequence number received with none missing below it,
    rounded down to a fixed residue mod 10, once per ten messages (from the peer's
    second ten: its first ten may bring a hapulse peer's hello, which ends them)."""
    m = member()
    got: list[int] = []
    for s in range(1, 41):
        got += acks(m.receive(msg(seq=s), "eth1", float(s)))
    assert len(got) >= 3 and len({a % ACK_DIV for a in got}) == 1
    assert got == sorted(got) and all(b - a == ACK_DIV for a, b in zip(got, got[1:], strict=False))
    assert 31 <= got[-1] <= 40
    m = member()
    assert [a for s in range(1, 11) for a in acks(m.receive(msg(seq=s), "eth1", float(s)))] \
        == []  # none before ten messages were taken from the peer


def test_no_acknowledgements_to_a_peer_that_announced_itself_as_hapulse() -> None:
    """hapulse reads no NS_ackmsg; on a broadcast medium every node would read each one.
    A peer is taken for hapulse once its resource announcement carries `hp_held`, until
    it restarts (it may come back as Heartbeat: acknowledged again)."""
    m = member()
    got: list[int] = []
    for s in range(1, 21):
        got += acks(m.receive(msg(seq=s), "eth1", float(s)))
    assert len(got) >= 1  # a Heartbeat peer, or one not yet known: acknowledged
    heartbeat_resource = msg(t="resource", seq=21, extra=[("rsc_hold", "all")])
    got = acks(m.receive(heartbeat_resource, "eth1", 21.0))
    for s in range(22, 41):
        got += acks(m.receive(msg(seq=s), "eth1", float(s)))
    assert len(got) == 2  # Heartbeat's own resource message says nothing of hapulse
    m.receive(msg(t="resource", seq=41, extra=[("rsc_hold", "all"), ("hp_held", "")]),
              "eth1", 41.0)
    got = []
    for s in range(42, 82):
        got += acks(m.receive(msg(seq=s), "eth1", float(s)))
    assert got == []
    for s in range(1, 31):  # a new generation: Heartbeat, perhaps
        got += acks(m.receive(msg(seq=s, hg=6, ts=2000 + s), "eth1", 100.0 + s))
    assert len(got) >= 2


def test_no_acknowledgement_past_a_gap_until_it_is_filled() -> None:
    m = member()
    for s in range(1, 26):
        m.receive(msg(seq=s), "eth1", float(s))
    before = m.peers["f802"].acked
    assert 16 <= before <= 25
    got: list[int] = []
    for s in range(27, 50):  # 26 lost
        got += acks(m.receive(msg(seq=s), "eth1", float(s)))
    assert got == [] and m.peers["f802"].acked == before
    filled = acks(m.receive(msg(seq=26), "eth1", 51.0))  # the retransmission arrives
    assert len(filled) == 1 and 40 <= filled[0] <= 49
