"""The membership core's statistics for the metrics: heartbeat intervals and late ones.

Counted where liveness is refreshed (plain ints in fixed buckets), read from the
core's view at scrape time. Timers: keepalive 1 s, warntime 2 s, deadtime 4 s.
"""

from __future__ import annotations

from hapulse.membership import Membership, Timers
from hapulse.membership.core import INTERVAL_BUCKETS, LinkIntervals, NodeView
from hapulse.sim import Sim
from hapulse.states import NodeState
from hapulse.wire.message import Message

T = Timers(keepalive=1.0, deadtime=4.0, warntime=2.0, initdead=8.0)


def heartbeat(seq: int) -> Message:
    return Message.from_pairs([("t", "status"), ("st", "active"), ("src", "f802"),
                               ("srcuuid", b"uuid-f802"), ("seq", f"{seq:x}"), ("hg", "5"),
                               ("ts", f"{1000 + seq:x}"), ("ttl", "3")])


def peer_view(m: Membership, now: float) -> NodeView:
    [view] = [n for n in m.view(now) if n.name == "f802"]
    return view


def intervals(view: NodeView, link: str) -> LinkIntervals:
    [li] = [li for li in view.intervals if li.link == link]
    return li


def bucket(seconds: float) -> int:
    """The index of the bucket `seconds` falls in (upper bounds inclusive, as `le`)."""
    return next((i for i, le in enumerate(INTERVAL_BUCKETS) if seconds <= le),
                len(INTERVAL_BUCKETS))


def test_intervals_per_link_in_fixed_buckets() -> None:
    m = Membership("f801", ["f801", "f802"], ["eth1", "eth0"], T, 1, b"uuid-f801", 0.0)
    times = [10.0, 11.0, 12.0, 12.1, 13.5]
    for seq, t in enumerate(times, start=1):
        m.receive(heartbeat(seq), "eth1", t)
        m.tick(t)
    # the same message on the second link moments later counts for that link only
    m.receive(heartbeat(5), "eth0", 13.55)
    view = peer_view(m, 14.0)
    eth1 = intervals(view, "eth1")
    assert len(eth1.counts) == len(INTERVAL_BUCKETS) + 1
    assert sum(eth1.counts) == 4  # the first packet has no interval
    assert abs(eth1.total - 3.5) < 1e-9
    assert eth1.counts[bucket(1.0)] == 2 and eth1.counts[bucket(0.1)] == 1
    assert eth1.counts[bucket(1.4)] == 1
    assert [li.link for li in view.intervals] == ["eth1"]  # eth0: one packet, no interval
    assert view.late == 0


def test_a_late_heartbeat_is_counted_once_a_dead_peer_back_is_not() -> None:
    m = Membership("f801", ["f801", "f802"], ["eth1"], T, 1, b"uuid-f801", 0.0)
    m.receive(heartbeat(1), "eth1", 10.0)
    m.tick(12.5)  # the Late heartbeat warning
    m.receive(heartbeat(2), "eth1", 13.0)  # 3 s > warntime 2 s: late
    m.receive(heartbeat(3), "eth1", 14.0)
    assert peer_view(m, 14.0).late == 1
    m.tick(20.0)  # silent past deadtime: dead
    assert m.peer_status("f802") is NodeState.DEAD
    m.receive(heartbeat(4), "eth1", 30.0)  # back: a rejoin, not a late heartbeat
    view = peer_view(m, 30.0)
    assert view.late == 1
    # the link was dead in between: that gap is no heartbeat interval either
    assert sum(intervals(view, "eth1").counts) == 2  # 3 s and 1 s, not the 16 s


def test_counts_stay_bounded() -> None:
    m = Membership("f801", ["f801", "f802"], ["eth1"], T, 1, b"uuid-f801", 0.0)
    for seq in range(1, 3001):
        m.receive(heartbeat(seq), "eth1", seq * 0.5)
    li = intervals(peer_view(m, 1500.0), "eth1")
    assert len(li.counts) == len(INTERVAL_BUCKETS) + 1 and li.counts[bucket(0.5)] == 2999


def test_simulator_a_frozen_peer_is_late_its_intervals_follow_keepalive() -> None:
    sim = Sim(["f801", "f802"], links=["eth1"], keepalive=1.0, deadtime=10.0, warntime=3.0)
    sim.start_all()
    sim.run_for(60)
    sim.freeze("f801")
    sim.run_for(5)  # past warntime, short of deadtime
    sim.resume("f801")
    sim.run_for(10)
    core = sim.nodes["f802"].core
    assert core is not None
    view = [n for n in core.snapshot(sim.now).nodes if n.name == "f801"][0]
    assert view.status is NodeState.ACTIVE and view.late == 1
    li = intervals(view, "eth1")
    # about one interval per keepalive, nearly all of them 1 s (the sim's clock is exact)
    assert 60 <= sum(li.counts) <= 80
    assert li.counts[bucket(1.0)] >= 55
    assert sum(li.counts[bucket(3.0) + 1:]) >= 1  # the freeze: longer than warntime
