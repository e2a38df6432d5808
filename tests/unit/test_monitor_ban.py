"""Bans (Policy.ban / cleanup, Node.ban / cleanup): a node a monitor gave up on does not
take the group back by any rule until cleanup; the peer keeps it, no loop forms."""

from __future__ import annotations

import pytest

from hapulse.actions import Acquire
from hapulse.policy import Policy
from hapulse.sim import Sim
from hapulse.states import GroupOp, GroupState, NodeState
from hapulse.wire.message import Message

VIP = "192.168.1.118"
ACTIVE, DEAD = NodeState.ACTIVE, NodeState.DEAD


def resource(held: str = "", give: str = "") -> Message:
    return Message.from_pairs([("t", "resource"), ("rsc_hold", "none"), ("rtype", "full"),
                               ("isstable", "1"), ("hp_held", held), ("hp_give", give),
                               ("hp_failed", "")])


def running_with_peer(auto_failback: str = "on") -> Policy:
    p = Policy("f801", ("f801", "f802"), {VIP: "f801"}, auto_failback, 0.0)
    p.on_node_status("f802", ACTIVE, 0.0)
    p.on_message(resource(), "f802", 0.1)
    p.on_resource_done(VIP, GroupOp.ACQUIRE, True, 0.5)
    assert p.state[VIP] is GroupState.RUNNING
    return p


def test_ban_releases_for_the_peer_and_announces_it_given() -> None:
    p = running_with_peer()
    out = p.ban(VIP, 1.0)
    assert p.state[VIP] is GroupState.STOPPING
    assert any(getattr(a, "group_id", None) == VIP for a in out)
    p.on_resource_done(VIP, GroupOp.RELEASE, True, 1.5)
    assert p.view().banned == (VIP,)
    msg = p._announce().msg
    assert msg.get("hp_give") == VIP and msg.get("hp_held") == ""


@pytest.mark.parametrize("why", ["handover wait", "peer dies", "takeover"])
def test_a_banned_node_never_takes_the_group(why: str) -> None:
    p = running_with_peer()
    p.ban(VIP, 1.0)
    p.on_resource_done(VIP, GroupOp.RELEASE, True, 1.5)
    if why == "handover wait":  # nobody took it: normally taken back after HANDOVER_WAIT
        out = p.tick(100.0)
    elif why == "peer dies":  # its only other holder is gone: it stays stopped
        out = p.on_node_status("f802", DEAD, 100.0) + p.tick(200.0)
    else:
        out = p.takeover("all", 100.0)
        assert any("banned" in getattr(a, "text", "") for a in out)
    assert p.state[VIP] is GroupState.STOPPED
    assert not [a for a in out if isinstance(a, Acquire)]


def test_cleanup_lifts_the_ban_and_the_usual_rules_apply() -> None:
    p = running_with_peer()
    p.ban(VIP, 1.0)
    p.on_resource_done(VIP, GroupOp.RELEASE, True, 1.5)
    p.on_node_status("f802", DEAD, 100.0)
    out = p.cleanup(VIP, 200.0)
    assert [a.group_id for a in out if isinstance(a, Acquire)] == [VIP]
    assert p.view().banned == ()


def test_ban_without_a_live_peer_stops_the_group_with_a_critical_line() -> None:
    p = Policy("f801", ("f801", "f802"), {VIP: "f801"}, "on", 0.0)
    p.on_node_status("f802", DEAD, 0.0)
    p.on_resource_done(VIP, GroupOp.ACQUIRE, True, 0.5)
    out = p.ban(VIP, 1.0)
    assert any("no live peer" in getattr(a, "text", "") for a in out)
    assert p.state[VIP] is GroupState.STOPPING


def cluster(auto_failback: str) -> Sim:
    sim = Sim(["f801", "f802"], links=["eth1"], keepalive=1.0, deadtime=5.0, warntime=3.0,
              initdead=10.0, groups=[(VIP, "f801")], auto_failback=auto_failback)
    sim.start_all()
    sim.run_for(20)
    assert sim.owners(VIP) == ["f801"]
    return sim


def call(sim: Sim, name: str, what: str) -> None:
    core = sim.nodes[name].core
    assert core is not None
    sim._apply(sim.nodes[name], getattr(core, what)(VIP, sim.now))


@pytest.mark.parametrize("mode", ["on", "legacy"])
def test_peer_keeps_a_banned_group_despite_auto_failback_until_cleanup(mode: str) -> None:
    sim = cluster(mode)
    call(sim, "f801", "ban")
    sim.run_for(5)
    assert sim.owners(VIP) == ["f802"]
    moves = len(sim.events("acquire"))
    sim.run_for(120)  # no failback, no hand-back, no loop
    assert sim.owners(VIP) == ["f802"]
    assert len(sim.events("acquire")) == moves
    # the peer restarts: the banned node still does not take it; the peer takes it again
    sim.kill("f802")
    sim.run_for(30)
    assert sim.owners(VIP) == []
    sim.start("f802")
    sim.run_for(30)
    assert sim.owners(VIP) == ["f802"]
    call(sim, "f801", "cleanup")
    sim.run_for(10)
    assert sim.owners(VIP) == ["f801"]  # auto_failback as usual
    assert not sim.violations


def test_banned_on_both_nodes_the_group_stays_stopped_without_a_loop() -> None:
    sim = cluster("on")
    call(sim, "f801", "ban")
    sim.run_for(5)
    call(sim, "f802", "ban")
    sim.run_for(60)
    assert sim.owners(VIP) == []
    acquisitions = len(sim.events("acquire"))
    sim.run_for(60)
    assert len(sim.events("acquire")) == acquisitions
    call(sim, "f802", "cleanup")
    sim.run_for(10)
    assert sim.owners(VIP) == ["f802"]
    assert not sim.violations
