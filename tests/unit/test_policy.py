"""hapulse.policy.failover.Policy, fed node states, messages and `now` by hand.

Two groups as in a two-node haresources: WEB preferred on f801 (the seed's
address), DB preferred on f802. This node is f801 unless a test says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from hapulse.actions import (
    Acquire,
    Log,
    PolicyAction,
    Readvertise,
    Release,
    SendCluster,
    ShutdownComplete,
)
from hapulse.policy import ANNOUNCE_WAIT, Policy
from hapulse.policy.failover import HANDOVER_WAIT, HELLO_TRIES
from hapulse.states import GroupOp, GroupState, LogLevel, NodeState
from hapulse.wire.message import Message

WEB, DB = "192.168.1.118", "10.0.0.50"
GROUPS = {WEB: "f801", DB: "f802"}
ACTIVE, DEAD = NodeState.ACTIVE, NodeState.DEAD


def policy(local: str = "f801", auto_failback: str = "on",
           groups: Mapping[str, str] = GROUPS,
           nodes: Sequence[str] = ("f801", "f802")) -> Policy:
    return Policy(local, nodes, groups, auto_failback, 0.0)


def resource(held: Sequence[str] = (), give: Sequence[str] = (),
             failed: Sequence[str] = (), hello: bool = False) -> Message:
    """A hapulse peer's `resource` announcement."""
    pairs = [("t", "resource"), ("rsc_hold", "none"), ("rtype", "full"), ("isstable", "1"),
             ("hp_held", " ".join(held)), ("hp_give", " ".join(give)),
             ("hp_failed", " ".join(failed))]
    if hello:
        pairs.append(("hp_hello", "1"))
    return Message.from_pairs(pairs)


def hb_resource(rsc_hold: str) -> Message:
    """A Heartbeat 3.0.6 peer's announcement: rsc_hold only, no hp_held."""
    return Message.from_pairs([("t", "resource"), ("rsc_hold", rsc_hold), ("rtype", "full"),
                               ("info", "S_RSC")])


def acquired(out: Sequence[PolicyAction]) -> list[str]:
    return [a.group_id for a in out if isinstance(a, Acquire)]


def released(out: Sequence[PolicyAction]) -> list[str]:
    return [a.group_id for a in out if isinstance(a, Release)]


def readvertised(out: Sequence[PolicyAction]) -> list[str]:
    return [a.group_id for a in out if isinstance(a, Readvertise)]


def sent(out: Sequence[PolicyAction], t: str = "resource") -> list[Message]:
    return [a.msg for a in out if isinstance(a, SendCluster) and a.msg.get("t") == t]


def logs(out: Sequence[PolicyAction], level: LogLevel | None = None) -> list[str]:
    return [a.text for a in out if isinstance(a, Log) and level in (None, a.level)]


def here(p: Policy, gid: str) -> GroupState:
    return {g.id: g.here for g in p.view().groups}[gid]


def settled_with_peer(local: str = "f801", auto_failback: str = "on",
                      peer_holds: Sequence[str] = (),
                      groups: Mapping[str, str] = GROUPS) -> Policy:
    """The peer is active and announced `peer_holds`; every acquisition here succeeded."""
    p = policy(local, auto_failback, groups)
    peer = "f802" if local == "f801" else "f801"
    p.on_node_status(peer, ACTIVE, 1.0)
    out = p.on_message(resource(held=peer_holds), peer, 1.1)
    for gid in acquired(out):
        p.on_resource_done(gid, GroupOp.ACQUIRE, True, 1.2)
    return p


def running_alone(local: str = "f801", auto_failback: str = "on") -> Policy:
    """The peer died at initdead: this node runs every group."""
    p = policy(local, auto_failback)
    peer = "f802" if local == "f801" else "f801"
    out = p.on_node_status(peer, DEAD, 1.0)
    for gid in acquired(out):
        p.on_resource_done(gid, GroupOp.ACQUIRE, True, 1.2)
    assert all(here(p, g) is GroupState.RUNNING for g in GROUPS)
    return p


# ---- start-up ---------------------------------------------------------------------

def test_nothing_starts_while_a_peer_is_unknown() -> None:
    p = policy()
    for t in (0.0, 1.0, 10.0, 100.0):
        assert acquired(p.tick(t)) == []
    assert p.cl_rscstatus(100.0) == "none"


def test_a_live_peer_that_came_alive_is_greeted_and_given_time_to_announce() -> None:
    p = policy()
    out = p.on_node_status("f802", ACTIVE, 1.0)
    (hello,) = sent(out)
    assert hello["hp_hello"] == "1" and hello["hp_held"] == ""
    assert acquired(out) == []
    t = 1.0
    for _ in range(HELLO_TRIES - 1):  # no answer (lost?): asked again, each ANNOUNCE_WAIT
        assert acquired(p.tick(t + ANNOUNCE_WAIT - 0.01)) == []
        t += ANNOUNCE_WAIT
        again = p.tick(t)
        assert acquired(again) == [] and [m["hp_hello"] for m in sent(again)] == ["1"]
    assert acquired(p.tick(t + ANNOUNCE_WAIT - 0.01)) == []
    assert acquired(p.tick(t + ANNOUNCE_WAIT)) == [WEB]  # a Heartbeat peer may never answer


def test_the_peers_announcement_ends_the_wait_and_the_preferred_node_acquires() -> None:
    p = policy()
    p.on_node_status("f802", ACTIVE, 1.0)
    out = p.on_message(resource(held=[DB]), "f802", 1.2)
    assert acquired(out) == [WEB]
    assert f"{WEB}: preferred here and held by no live node" in logs(out, LogLevel.INFO)
    # the acquisition is announced at once, the group counted as held
    (ann,) = sent(out)
    assert ann["hp_held"] == WEB and ann["rsc_hold"] == "local" and ann["isstable"] == "0"
    assert here(p, WEB) is GroupState.STARTING
    out = p.on_resource_done(WEB, GroupOp.ACQUIRE, True, 1.5)
    assert here(p, WEB) is GroupState.RUNNING
    (ann,) = sent(out)
    assert ann["hp_held"] == WEB and ann["isstable"] == "1"


def test_a_group_a_live_peer_holds_is_not_acquired() -> None:
    p = policy()
    p.on_node_status("f802", ACTIVE, 1.0)
    assert acquired(p.on_message(resource(held=[WEB, DB]), "f802", 1.1)) == []
    assert acquired(p.tick(10.0)) == []
    assert {g.id: g.peers for g in p.view().groups} == {WEB: ("f802",), DB: ("f802",)}


def test_peer_dead_at_initdead_its_groups_taken_over() -> None:
    p = policy()
    out = p.on_node_status("f802", DEAD, 8.0)
    assert sorted(acquired(out)) == sorted([WEB, DB])
    assert f"{DB}: preferred node f802 is dead; taking over" in logs(out)


# ---- takeover and failback ------------------------------------------------------

def test_takeover_of_a_dead_peers_groups() -> None:
    p = settled_with_peer(peer_holds=[DB])
    assert here(p, DB) is GroupState.STOPPED and here(p, WEB) is GroupState.RUNNING
    out = p.on_node_status("f802", DEAD, 20.0)
    assert acquired(out) == [DB]
    assert f"node f802 is dead; it held {DB}" in logs(out)


def test_a_batch_is_decided_once_by_the_tick_that_follows() -> None:
    """The edge's polled read feeds a batch, then ticks: the takeover the death calls for
    comes from that tick, and exactly once (nothing decided per message)."""
    p = settled_with_peer(peer_holds=[DB])
    p.batching = True
    out = p.on_node_status("f802", DEAD, 20.0)
    assert acquired(out) == []
    p.batching = False
    assert acquired(p.tick(20.001)) == [DB]
    assert acquired(p.tick(20.002)) == []


@pytest.mark.parametrize("mode", ["on", "legacy"])
def test_auto_failback_gives_the_group_back_to_its_preferred_node(mode: str) -> None:
    p = running_alone(auto_failback=mode)
    out = p.on_node_status("f802", ACTIVE, 30.0)
    assert released(out) == []  # it has not announced yet
    out = p.on_message(resource(), "f802", 30.5)
    assert released(out) == [DB]
    assert f"auto_failback: giving {DB} back to its preferred node f802" in logs(out)
    assert here(p, DB) is GroupState.STOPPING
    out = p.on_resource_done(DB, GroupOp.RELEASE, True, 31.0)
    assert here(p, DB) is GroupState.STOPPED
    assert sent(out)[0]["hp_held"] == WEB
    assert acquired(out) == []  # the preferred node takes it


def test_auto_failback_off_keeps_the_group() -> None:
    p = running_alone(auto_failback="off")
    p.on_node_status("f802", ACTIVE, 30.0)
    assert released(p.on_message(resource(), "f802", 30.5)) == []
    assert released(p.tick(40.0)) == []
    assert here(p, DB) is GroupState.RUNNING


def test_preferred_node_acquires_when_the_holder_gives_it_back() -> None:
    p = policy(local="f802")
    p.on_node_status("f801", ACTIVE, 1.0)
    assert acquired(p.on_message(resource(held=[WEB, DB]), "f801", 1.1)) == []
    assert acquired(p.on_message(resource(held=[WEB]), "f801", 2.0)) == [DB]


# ---- standby and takeover --------------------------------------------------------

def test_standby_gives_the_groups_to_the_peer() -> None:
    p = settled_with_peer(peer_holds=[DB])
    out = p.standby("all", 5.0)
    assert released(out) == [WEB]
    assert f"standby all: releasing {WEB} for the peer" in logs(out)
    assert sent(out)[-1]["hp_give"] == WEB
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 5.5)
    assert acquired(out) == []  # not taken back
    assert sent(out)[0]["hp_give"] == WEB and sent(out)[0]["hp_held"] == ""
    p.on_message(resource(held=[DB, WEB]), "f802", 6.0)  # the peer took it
    assert acquired(p.tick(20.0)) == []


def test_a_standby_nobody_takes_is_taken_back() -> None:
    """A standby never leaves a group without an owner: a peer that ignores the hand-over
    (a Heartbeat peer reads no hp_give) gets HANDOVER_WAIT seconds, then it comes back."""
    p = settled_with_peer(peer_holds=[DB])
    p.standby("all", 5.0)
    p.on_resource_done(WEB, GroupOp.RELEASE, True, 5.5)
    deadline = p.next_deadline(5.6)
    assert deadline is not None and deadline <= 5.5 + HANDOVER_WAIT + 0.01
    assert acquired(p.tick(5.5 + HANDOVER_WAIT - 0.01)) == []
    out = p.tick(5.5 + HANDOVER_WAIT)
    assert acquired(out) == [WEB]
    assert f"{WEB}: handed over, but no peer took it in" in " ".join(logs(out))
    assert sent(out)[-1]["hp_give"] == ""  # no longer offered


def test_standby_refused_without_a_live_peer() -> None:
    p = running_alone()
    out = p.standby("all", 5.0)
    assert released(out) == [] and logs(out, LogLevel.WARNING) == [
        "standby refused: no live peer to take the groups"]


def test_standby_local_gives_only_the_groups_preferred_here() -> None:
    p = running_alone()
    p.on_node_status("f802", ACTIVE, 5.0)
    assert released(p.standby("local", 5.1)) == [WEB]
    p2 = running_alone(auto_failback="off")
    p2.on_node_status("f802", ACTIVE, 5.0)
    assert released(p2.standby("foreign", 5.1)) == [DB]


def test_peer_acquires_what_its_holder_hands_over() -> None:
    p = policy(local="f802")
    p.on_node_status("f801", ACTIVE, 1.0)
    p.on_message(resource(held=[WEB]), "f801", 1.1)
    out = p.on_message(resource(held=[], give=[WEB]), "f801", 5.0)
    assert acquired(out) == [WEB]
    assert f"{WEB}: handed over by its holder (standby)" in logs(out)
    p.on_resource_done(WEB, GroupOp.ACQUIRE, True, 5.5)
    # auto_failback on, the preferred node alive and announced: kept, it was handed over
    assert released(p.on_message(resource(held=[], give=[WEB]), "f801", 6.0)) == []


def test_hp_takeover_makes_the_holder_release() -> None:
    p = policy(local="f802")
    p.on_node_status("f801", ACTIVE, 1.0)
    p.on_message(resource(held=[WEB], give=[WEB]), "f801", 1.1)
    p.on_message(resource(held=[], give=[WEB]), "f801", 1.2)
    assert here(p, WEB) is GroupState.STARTING
    p.on_resource_done(WEB, GroupOp.ACQUIRE, True, 1.5)
    ask = Message.from_pairs([("t", "hp_takeover"), ("hp_groups", WEB)])
    out = p.on_message(ask, "f801", 3.0)
    assert released(out) == [WEB]
    assert f"takeover by f801: releasing {WEB} for the peer" in logs(out)


def test_takeover_asks_the_peer_for_the_groups() -> None:
    p = settled_with_peer(peer_holds=[DB])
    out = p.takeover("all", 5.0)
    (ask,) = sent(out, "hp_takeover")
    assert ask["hp_groups"] == DB  # what it does not hold already
    assert f"takeover all: asking for {DB}" in logs(out)
    # the peer releases and hands it over: taken here
    p.on_message(resource(held=[DB], give=[DB]), "f802", 5.5)
    out = p.on_message(resource(held=[], give=[DB]), "f802", 6.0)
    assert acquired(out) == [DB]


# ---- Heartbeat peers --------------------------------------------------------------

@pytest.mark.parametrize(("rsc_hold", "peer_holds"), [
    ("none", ()), ("local", (DB,)), ("foreign", (WEB,)), ("all", (WEB, DB)),
])
def test_heartbeat_peers_rsc_hold_read_from_its_point_of_view(
        rsc_hold: str, peer_holds: tuple[str, ...]) -> None:
    p = policy()
    p.on_node_status("f802", ACTIVE, 1.0)
    out = p.on_message(hb_resource(rsc_hold), "f802", 1.1)
    assert {g.id for g in p.view().groups if g.peers == ("f802",)} == set(peer_holds)
    assert acquired(out) == ([] if WEB in peer_holds else [WEB])


def test_starting_is_answered_with_a_resource_message() -> None:
    p = settled_with_peer(peer_holds=[DB])
    out = p.on_message(Message.from_pairs([("t", "starting")]), "f802", 5.0)
    (ann,) = sent(out)
    assert ann["rsc_hold"] == "local" and ann["hp_held"] == WEB and ann["rtype"] == "full"


def test_hello_is_answered_and_a_plain_announcement_is_not() -> None:
    p = settled_with_peer(peer_holds=[DB])
    assert len(sent(p.on_message(resource(held=[DB], hello=True), "f802", 5.0))) == 1
    assert sent(p.on_message(resource(held=[DB]), "f802", 5.1)) == []


# ---- failures ---------------------------------------------------------------------

def test_failed_acquisition_is_not_retried_until_the_cluster_changes() -> None:
    p = policy()
    p.on_node_status("f802", DEAD, 8.0)
    out = p.on_resource_done(WEB, GroupOp.ACQUIRE, False, 9.0)
    assert logs(out, LogLevel.ERROR) == [f"{WEB} failed to start here; leaving it to a peer"]
    assert acquired(out) == []
    assert sent(out)[0]["hp_failed"] == WEB and sent(out)[0]["hp_held"] == DB
    assert here(p, WEB) is GroupState.STOPPED
    for t in (10.0, 50.0, 500.0):
        assert acquired(p.tick(t)) == []
    # the cluster changes (the peer comes back): tried again once it is settled
    p.on_node_status("f802", ACTIVE, 600.0)
    assert WEB in acquired(p.on_message(resource(), "f802", 600.5))


def test_peer_takes_a_group_that_failed_on_its_preferred_node() -> None:
    p = settled_with_peer(local="f802")
    out = p.on_message(resource(failed=[WEB]), "f801", 5.0)
    assert acquired(out) == [WEB]
    assert f"{WEB}: failed on f801; taking it here" in logs(out)


def test_failed_release_keeps_the_group_held_and_announced() -> None:
    p = settled_with_peer(peer_holds=[DB])
    p.standby("all", 5.0)
    out = p.on_resource_done(WEB, GroupOp.RELEASE, False, 5.5)
    (crit,) = logs(out, LogLevel.CRITICAL)
    assert crit.startswith(f"{WEB} failed to stop here and may still run")
    assert here(p, WEB) is GroupState.FAILED
    (ann,) = sent(out)
    assert ann["hp_held"] == WEB and ann["rsc_hold"] == "local"
    assert p.view().rsc_hold == "local"
    assert acquired(p.tick(30.0)) == [] and released(p.tick(30.0)) == []


def test_a_peers_failed_group_is_not_started_here() -> None:
    # the peer's stop failed: it announces the group held (FAILED counts as held)
    p = policy(local="f802")
    p.on_node_status("f801", ACTIVE, 1.0)
    assert acquired(p.on_message(resource(held=[WEB]), "f801", 1.1)) == [DB]
    assert acquired(p.tick(100.0)) == []


# ---- split brain ------------------------------------------------------------------

def both_hold(local: str, auto_failback: str, gid: str) -> tuple[Policy, list[PolicyAction]]:
    """This node runs `gid` alone (the peer was dead); the peer returns holding it too."""
    p = running_alone(local, auto_failback)
    peer = "f802" if local == "f801" else "f801"
    p.on_node_status(peer, ACTIVE, 50.0)
    return p, p.on_message(resource(held=[gid]), peer, 50.1)


@pytest.mark.parametrize("mode", ["on", "legacy"])
def test_split_brain_preferred_node_keeps_under_on_and_legacy(mode: str) -> None:
    p, out = both_hold("f801", mode, WEB)
    assert readvertised(out) == [WEB] and WEB not in released(out)
    assert logs(out, LogLevel.CRITICAL) == [
        "Cluster node f802 returning after partition.",
        f"split brain: f801 and f802 both hold {WEB}; f801 keeps it, the other releases it "
        "(see docs/resources.md#split-brain)"]
    assert p.view().split_brains == 1
    q, out = both_hold("f802", mode, WEB)
    assert WEB in released(out) and readvertised(out) == []
    assert any("f801 keeps it" in t for t in logs(out, LogLevel.CRITICAL))


def test_split_brain_preferred_node_keeps_even_with_the_later_name() -> None:
    p, out = both_hold("f802", "on", DB)
    assert readvertised(out) == [DB] and DB not in released(out)


def test_split_brain_under_off_the_lower_name_keeps() -> None:
    p, out = both_hold("f801", "off", DB)  # DB prefers f802, f801 sorts first
    assert readvertised(out) == [DB] and released(out) == []
    q, out = both_hold("f802", "off", DB)
    assert released(out) == [DB] and readvertised(out) == []
    assert any("f801 keeps it" in t for t in logs(out, LogLevel.CRITICAL))


def test_split_brain_counted_once_per_peer_and_group() -> None:
    p, _ = both_hold("f801", "on", WEB)
    out = p.on_message(resource(held=[WEB]), "f802", 50.2)
    assert readvertised(out) == [] and logs(out, LogLevel.CRITICAL) == []
    out = p.tick(51.0)
    assert readvertised(out) == [] and logs(out, LogLevel.CRITICAL) == []
    assert p.view().split_brains == 1
    # the peer released it; holding it again later is a new split brain
    p.on_message(resource(held=[]), "f802", 52.0)
    out = p.on_message(resource(held=[WEB]), "f802", 60.0)
    assert readvertised(out) == [WEB]
    assert p.view().split_brains == 2


def test_split_brain_loser_does_not_reacquire_after_releasing() -> None:
    p, out = both_hold("f802", "on", WEB)
    assert released(out) == [WEB]
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 50.5)
    assert acquired(out) == [] and here(p, WEB) is GroupState.STOPPED


# ---- shutdown ---------------------------------------------------------------------

def test_shutdown_releases_everything_then_completes() -> None:
    p = running_alone()
    p.on_node_status("f802", ACTIVE, 5.0)
    p.on_message(resource(), "f802", 5.1)  # failback of DB starts
    p.on_resource_done(DB, GroupOp.RELEASE, True, 5.2)
    p.on_message(resource(), "f802", 5.3)
    out = p.shutdown(10.0)
    assert released(out) == [WEB]
    assert not any(isinstance(a, ShutdownComplete) for a in out)
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 10.5)
    assert isinstance(out[-1], ShutdownComplete)
    assert sent(out)[0]["hp_held"] == ""


def test_shutdown_waits_for_every_release_in_reverse_order() -> None:
    p = running_alone()
    out = p.shutdown(10.0)
    assert released(out) == [DB, WEB]  # haresources order, reversed
    out = p.on_resource_done(DB, GroupOp.RELEASE, True, 10.2)
    assert not any(isinstance(a, ShutdownComplete) for a in out)
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 10.4)
    assert any(isinstance(a, ShutdownComplete) for a in out)


def test_shutdown_holding_nothing_completes_at_once() -> None:
    p = settled_with_peer(local="f802", peer_holds=[WEB, DB])
    out = p.shutdown(10.0)
    assert released(out) == [] and isinstance(out[-1], ShutdownComplete)


def test_no_acquisition_while_shutting_down() -> None:
    p = settled_with_peer(peer_holds=[DB])
    p.shutdown(10.0)
    assert acquired(p.on_node_status("f802", DEAD, 11.0)) == []


# ---- reload -------------------------------------------------------------------------

def test_set_groups_added_group_starts() -> None:
    p = settled_with_peer(peer_holds=[DB])
    new = {**GROUPS, "httpd2": "f801"}
    assert p.set_groups(new, changed=()) == []
    assert acquired(p.tick(10.0)) == ["httpd2"]


def test_set_groups_removed_running_group_released_then_forgotten() -> None:
    p = settled_with_peer(peer_holds=[DB])
    out = p.set_groups({DB: "f802"}, changed=())
    assert released(out) == [WEB]
    assert f"{WEB}: haresources changed; releasing it" in logs(out)
    assert [g.id for g in p.view().groups] == [WEB, DB]  # still held while it stops
    assert sent(p.tick(10.0)) == [] and acquired(p.tick(10.0)) == []
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 10.5)
    assert [g.id for g in p.view().groups] == [DB]
    assert acquired(out) == [] and sent(out)[0]["hp_held"] == ""


def test_set_groups_removed_stopped_group_forgotten_at_once() -> None:
    p = settled_with_peer(peer_holds=[DB])
    assert p.set_groups({WEB: "f801"}, changed=()) == []
    assert [g.id for g in p.view().groups] == [WEB]


def test_set_groups_changed_group_restarts() -> None:
    p = settled_with_peer(peer_holds=[DB])
    out = p.set_groups(GROUPS, changed=[WEB])
    assert released(out) == [WEB]
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 10.0)
    assert acquired(out) == [WEB]


def test_set_groups_group_moved_to_the_peer_is_given_back() -> None:
    p = settled_with_peer(local="f802", peer_holds=[WEB])
    assert here(p, DB) is GroupState.RUNNING
    out = p.set_groups({WEB: "f801", DB: "f801"}, changed=[DB])
    assert released(out) == [DB]
    out = p.on_resource_done(DB, GroupOp.RELEASE, True, 10.0)
    assert acquired(out) == []  # now preferred on f801, which is alive
    assert here(p, DB) is GroupState.STOPPED


# ---- cl_rscstatus, deadlines, view ------------------------------------------------

def test_cl_rscstatus_values() -> None:
    p = policy()
    assert p.cl_rscstatus(0.0) == "none"  # not settled
    p.on_node_status("f802", ACTIVE, 1.0)
    p.on_message(resource(held=[DB]), "f802", 1.1)
    assert p.cl_rscstatus(1.1) == "transition"  # WEB starting
    p.on_resource_done(WEB, GroupOp.ACQUIRE, True, 1.2)
    assert p.cl_rscstatus(1.2) == "local"
    p.on_node_status("f802", DEAD, 10.0)
    assert p.cl_rscstatus(10.0) == "transition"
    p.on_resource_done(DB, GroupOp.ACQUIRE, True, 10.5)
    assert p.cl_rscstatus(10.5) == "all"
    p.on_node_status("f802", ACTIVE, 20.0)
    p.on_message(resource(), "f802", 20.1)  # DB goes back, WEB stays
    p.on_resource_done(DB, GroupOp.RELEASE, True, 20.2)
    assert p.cl_rscstatus(20.2) == "local"


def test_cl_rscstatus_foreign_and_none() -> None:
    p = settled_with_peer(local="f802", auto_failback="off", peer_holds=[WEB])
    # f802 runs DB (preferred here): local; after standby local, f801 has it
    assert p.cl_rscstatus(2.0) == "local"
    q = policy(local="f802", auto_failback="off")
    q.on_node_status("f801", DEAD, 8.0)
    q.on_resource_done(WEB, GroupOp.ACQUIRE, True, 8.5)
    q.on_resource_done(DB, GroupOp.ACQUIRE, False, 8.5)
    assert q.cl_rscstatus(9.0) == "foreign"


def test_cl_rscstatus_prefers_none_holds_local() -> None:
    # a node preferred for no group: "local" (every group preferred here runs here)
    p = settled_with_peer(local="f802", peer_holds=[WEB], groups={WEB: "f801"})
    assert p.cl_rscstatus(2.0) == "local"


def test_cl_rscstatus_legacy_is_always_none() -> None:
    p = running_alone(auto_failback="legacy")
    assert p.cl_rscstatus(5.0) == "none"


def test_next_deadline_is_when_the_announce_wait_ends() -> None:
    p = policy()
    assert p.next_deadline(0.0) is None
    p.on_node_status("f802", ACTIVE, 1.0)
    deadline = p.next_deadline(1.5)
    assert deadline is not None and 1.0 + ANNOUNCE_WAIT <= deadline < 1.0 + ANNOUNCE_WAIT + 0.01
    for _ in range(HELLO_TRIES - 1):  # each deadline asks again
        assert acquired(p.tick(deadline)) == []
        nxt = p.next_deadline(deadline)
        assert nxt is not None and deadline + ANNOUNCE_WAIT <= nxt < deadline + ANNOUNCE_WAIT + 0.01
        deadline = nxt
    assert acquired(p.tick(deadline)) == [WEB]
    assert p.next_deadline(deadline) is None


@pytest.mark.parametrize("now", [1.0, 2.0, 3.9, 3.999, 3.9995, 4.0, 4.0005, 5.0, 100.0])
def test_next_deadline_never_in_the_past(now: float) -> None:
    p = policy()
    p.on_node_status("f802", ACTIVE, 1.0)
    deadline = p.next_deadline(now)
    assert deadline is None or deadline > now


def test_next_deadline_none_once_announced() -> None:
    p = policy()
    p.on_node_status("f802", ACTIVE, 1.0)
    p.on_message(resource(), "f802", 1.5)
    assert p.next_deadline(1.5) is None


def test_view() -> None:
    p = settled_with_peer(peer_holds=[DB])
    view = p.view()
    assert view.rsc_hold == "local" and view.split_brains == 0
    assert [(g.id, g.preferred, g.here, g.peers) for g in view.groups] == [
        (WEB, "f801", GroupState.RUNNING, ()), (DB, "f802", GroupState.STOPPED, ("f802",))]
    # reading the view changes nothing
    assert p.view() == view


def test_messages_from_unknown_nodes_are_ignored() -> None:
    p = policy()
    assert p.on_message(resource(held=[WEB]), "f803", 1.0) == []
    assert p.on_node_status("f803", ACTIVE, 1.0) == []
