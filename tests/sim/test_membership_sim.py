"""Membership scenarios on the virtual clock (real cores, real codec and signatures)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from hapulse.sim import Sim
from hapulse.states import LogLevel
from hapulse.wire.message import Message


def two(**kw: object) -> Sim:
    args: dict[str, object] = {"links": ["eth1", "eth0"], "keepalive": 1.0, "deadtime": 10.0,
                               "warntime": 5.0, "initdead": 20.0}
    args.update(kw)
    return Sim(["f801", "f802"], **args)  # type: ignore[arg-type]


def test_steady_state_both_active_no_deaths() -> None:
    sim = two()
    sim.start_all()
    sim.run_for(120)
    assert sim.status("f801", "f802") == "active"
    assert sim.status("f802", "f801") == "active"
    assert sim.deaths("f801") == [] and sim.deaths("f802") == []
    for a, b in (("f801", "f802"), ("f802", "f801")):
        assert sim.link_status(a, b, "eth1") == "up"
        assert sim.link_status(a, b, "eth0") == "up"
    # about one heartbeat per keepalive per link per node
    # 120 heartbeats each way on each link, plus one acknowledgement per ten messages
    assert 2 * 2 * 110 < sim.packets < 2 * 2 * 145


def test_death_detected_between_deadtime_and_deadtime_plus_keepalive() -> None:
    sim = two()
    sim.start_all()
    sim.run_for(30.3)
    killed = sim.now
    sim.kill("f801")
    sim.run_for(20)
    [death] = sim.deaths("f802")
    detected = death.time - killed
    assert 10.0 - 1.0 <= detected <= 10.0 + 1.0  # last heartbeat came up to 1 keepalive earlier
    # measured from the last heartbeat heard, it is deadtime .. deadtime + keepalive
    assert sim.status("f802", "f801") == "dead"
    assert sim.link_status("f802", "f801", "eth1") == "dead"


def test_late_heartbeat_warning_after_warntime() -> None:
    sim = two()
    sim.start_all()
    sim.run_for(30)
    sim.kill("f801")
    sim.run_for(8)
    warnings = [e for e in sim.events("log", "f802")
                if e.detail == (LogLevel.WARNING, e.text) and "Late heartbeat: Node f801" in e.text]
    assert len(warnings) == 1
    assert sim.status("f802", "f801") == "active"  # warned, not yet dead


def test_initdead_used_for_a_peer_never_heard() -> None:
    sim = two()
    sim.start("f802")
    sim.run_for(15)  # past deadtime (10) but not initdead (20)
    assert sim.status("f802", "f801") == "init"
    sim.run_for(6)
    assert sim.status("f802", "f801") == "dead"
    [death] = sim.deaths("f802")
    assert 20.0 <= death.time <= 21.0


def test_one_link_lost_node_stays_up_and_link_comes_back() -> None:
    sim = two()
    sim.start_all()
    sim.run_for(30)
    sim.cut("f801", "eth1")
    sim.run_for(15)
    assert sim.status("f802", "f801") == "active"
    assert sim.link_status("f802", "f801", "eth1") == "dead"
    assert sim.link_status("f802", "f801", "eth0") == "up"
    assert sim.deaths("f802") == []
    sim.plug("f801", "eth1")
    sim.run_for(3)
    assert sim.link_status("f802", "f801", "eth1") == "up"


def test_30_percent_loss_on_both_links_no_false_death_in_10_minutes() -> None:
    sim = two(seed=7)
    sim.set_link("eth1", loss=0.3)
    sim.set_link("eth0", loss=0.3)
    sim.start_all()
    sim.run_for(600)
    assert sim.deaths("f801") == [] and sim.deaths("f802") == []
    assert sim.status("f801", "f802") == "active"


def test_partition_and_heal() -> None:
    sim = two()
    sim.start_all()
    sim.run_for(30)
    sim.partition(["f801"], ["f802"])
    sim.run_for(15)
    assert sim.status("f801", "f802") == "dead"
    assert sim.status("f802", "f801") == "dead"
    sim.heal()
    sim.run_for(3)
    assert sim.status("f801", "f802") == "active"
    assert sim.status("f802", "f801") == "active"


def test_restart_with_new_generation_is_recognised() -> None:
    sim = two()
    sim.start_all()
    sim.run_for(30)
    sim.restart("f801")
    sim.run_for(5)
    restarts = [e for e in sim.events("log", "f802") if "restarted: generation 1 -> 2" in
                e.text]
    assert restarts
    assert sim.status("f802", "f801") == "active"
    assert sim.deaths("f802") == []  # back within deadtime: no death declared


def answers(sim: Sim, node: str) -> int:
    """How many distinct `resource` messages `node` sent: its policy answers each
    `starting` it is delivered with one, so this counts deliveries of `starting`."""
    assert sim.auth is not None
    seqs = set()
    for _, data in sim.nodes[node].sent:
        assert isinstance(data, bytes)
        msg = sim.auth.decode_and_verify(data)
        if msg.get("t") == "resource":
            seqs.add(msg.get("seq"))
    return len(seqs)


def test_retransmission_request_filled() -> None:
    sim = two(links=["eth1"], keep_sent=10_000)
    sim.start_all()
    sim.run_for(10)
    before = answers(sim, "f802")
    sim.set_link("eth1", loss=1.0)
    sim.send_cluster("f801", Message.from_pairs([("t", "starting")]))
    sim.run_for(0.01)
    sim.set_link("eth1", loss=0.0)
    sim.run_for(5)
    assert answers(sim, "f802") == before + 1  # once, after the gap was noticed and filled
    asked = [e for e in sim.events("log", "f802") if "requesting retransmission" in e.text]
    assert asked


def test_duplicates_are_delivered_once() -> None:
    sim = two(seed=3, keep_sent=10_000)
    sim.set_link("eth1", duplicate=0.5)
    sim.start_all()
    sim.run_for(5)
    before = answers(sim, "f802")
    for _ in range(5):
        sim.send_cluster("f801", Message.from_pairs([("t", "starting")]))
    sim.run_for(2)
    # two links and duplicated packets: each of the five delivered once
    assert answers(sim, "f802") == before + 5


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 0.4), st.floats(0.0, 0.2))
def test_no_death_declared_while_a_link_works(seed: int, loss: float, jitter: float) -> None:
    """Random loss and reordering on one link, the other clean: nobody is declared dead."""
    sim = two(seed=seed)
    sim.set_link("eth1", loss=loss, jitter=jitter)
    sim.start_all()
    sim.run_for(120)
    assert sim.deaths("f801") == [] and sim.deaths("f802") == []


def test_a_stalled_node_is_not_flooded_with_retransmissions() -> None:
    """After a stall every peer asks the same node for the same gap; each missing
    message goes out once (broadcast), not once per asker: no retransmission storm."""
    names = [f"n{i:02d}" for i in range(12)]
    sim = Sim(names, links=["hb"], keepalive=0.1, deadtime=5.0, warntime=4.0, initdead=10.0)
    sim.start_all()
    sim.run_for(3)
    core = sim.nodes["n00"].core
    assert core is not None
    sent: list[int] = []
    transmit = sim._transmit

    def counting(node: Any, send: Any) -> None:
        seq = send.msg.get_int("seq")
        if node.name == "n00" and seq is not None:
            sent.append(seq)
        transmit(node, send)

    sim._transmit = counting  # type: ignore[method-assign]
    sim.cut("n00", "hb")  # n00's cable out for 2 s: its heartbeats reach nobody
    sim.run_for(2)
    gap = set(sent)
    sim.plug("n00", "hb")
    sent.clear()
    sim.run_for(3)
    resent = [s for s in sent if s in gap]
    assert set(resent) >= gap - {max(gap)}  # the peers asked and the gap was filled
    assert len(resent) <= 2 * len(gap), f"{len(resent)} retransmissions for {len(gap)} lost"
    assert all(sim.status(n, "n00") != "dead" for n in names[1:])
