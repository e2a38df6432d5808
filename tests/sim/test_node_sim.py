"""The node core's guarantees on the virtual clock: read-only status, split-brain repair,
replays that keep nobody alive, a node that lost its state rejoining."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sim_examples import examples

from hapulse.sim import Sim

VIP = "192.168.1.118"
KEEPALIVE = 0.2


def seed_cluster(auto_failback: str = "legacy", seed: int = 0, **kw: object) -> Sim:
    """The seed's cluster at keepalive 200ms / deadtime 2 s, one heartbeat link."""
    return Sim(["f801", "f802"], links=["eth1"], keepalive=KEEPALIVE, deadtime=2.0,
               warntime=1.0, initdead=4.0, seed=seed, groups=[(VIP, "f801")],
               auto_failback=auto_failback, resource_time=0.05, **kw)  # type: ignore[arg-type]


def decisions(sim: Sim) -> list[tuple[float, str, str, object]]:
    return [(round(e.time, 6), e.node, e.kind, e.detail) for e in sim.trace
            if e.kind != "log" or "Late heartbeat" not in str(e.detail)]


@settings(max_examples=examples(5), deadline=None)
@given(st.floats(0.0, 12.0))
def test_status_a_thousand_times_changes_no_decision(when: float) -> None:
    """`hapulse status` reads a snapshot; taking it (even while a peer's time to announce
    runs out, where an earlier version set a flag) changes nothing the node decides."""
    quiet, watched = seed_cluster(seed=1), seed_cluster(seed=1)
    for sim in (quiet, watched):
        sim.start("f802")
        sim.run_for(1.0)
        sim.start("f801")
    quiet.run_for(when)
    watched.run_for(when)
    for node in ("f801", "f802"):
        core = watched.nodes[node].core
        assert core is not None
        for _ in range(1000):
            core.snapshot(watched.now + 5.0)  # a time past every wait: the old bug's trigger
    quiet.run_for(20)
    watched.run_for(20)
    assert decisions(watched) == decisions(quiet)


def partition_and_heal(sim: Sim, seconds: float) -> float:
    sim.start_all()
    sim.run_for(10)
    assert sim.owners(VIP) == ["f801"]
    sim.partition({"f801"}, {"f802"})
    sim.run_for(seconds)
    assert sim.owners(VIP) == ["f801", "f802"]  # no guard: both hold it during the cut
    sim.heal()
    return sim.now


def test_a_healed_partition_leaves_one_owner_within_two_keepalives_legacy() -> None:
    sim = seed_cluster("legacy")
    healed = partition_and_heal(sim, 12)
    sim.run_for(2 * KEEPALIVE + 0.05 + 0.01)  # two keepalives plus the release itself
    assert sim.owners(VIP) == ["f801"]  # the preferred node keeps it
    readv = [e for e in sim.events("readvertise") if e.time >= healed]
    assert [e.node for e in readv] == ["f801"]  # and announces its address again at once
    assert readv[0].time - healed <= 2 * KEEPALIVE
    crit = [e for e in sim.events("log") if "returning after partition" in e.text]
    assert {e.node for e in crit} == {"f801", "f802"}
    core = sim.nodes["f801"].core
    assert core is not None and core.snapshot(sim.now).policy.split_brains == 1
    brains = {(e.node, e.detail) for e in sim.events("split_brain")}  # the typed action
    assert brains == {("f801", ("f802", VIP, "f801")), ("f802", ("f801", VIP, "f801"))}
    sim.run_for(30)
    assert sim.owners(VIP) == ["f801"]


def test_a_healed_partition_leaves_one_owner_within_two_keepalives_off() -> None:
    sim = seed_cluster("off")
    partition_and_heal(sim, 12)
    sim.run_for(2 * KEEPALIVE + 0.06)
    assert sim.owners(VIP) == ["f801"]  # under `off`: the holder whose name sorts first
    sim.run_for(30)
    assert sim.owners(VIP) == ["f801"]


def test_a_frozen_node_that_resumes_leaves_one_owner() -> None:
    sim = seed_cluster("off")
    sim.start_all()
    sim.run_for(10)
    sim.freeze("f801")
    sim.run_for(6)  # 3 x deadtime
    assert sim.owners(VIP) == ["f801", "f802"]
    sim.resume("f801")
    sim.run_for(2 * KEEPALIVE + 0.06)
    assert sim.owners(VIP) == ["f801"]


def test_replayed_heartbeats_do_not_keep_a_dead_node_alive() -> None:
    sim = seed_cluster("legacy", keep_sent=50)
    sim.start_all()
    sim.run_for(10)
    sim.kill("f801")
    killed = sim.now
    def replay() -> None:
        sim.replay("f801")

    for i in range(40):  # the adversary re-sends f801's last heartbeats, over and over
        sim.at(killed + 0.1 * i, replay)
    sim.run_for(4)
    deaths = sim.deaths("f802")
    assert deaths and deaths[0].time - killed <= 2.0 + KEEPALIVE
    assert sim.owners(VIP) == ["f802"]


def test_a_node_that_lost_its_state_rejoins() -> None:
    """f801 restarts at generation 1 (its state directory wiped) while f802 knows it at a
    higher generation: it is recognised as a restart, and the group has one owner."""
    sim = seed_cluster("legacy")
    sim.start_all()
    sim.run_for(5)
    for _ in range(3):
        sim.restart("f801")
        sim.run_for(5)
    sim.kill("f801")
    sim.run_for(1.0)  # back within deadtime: f802 never saw it die
    sim.start("f801", lost_state=True)
    sim.run_for(10)
    assert sim.status("f802", "f801") == "active"
    assert sim.owners(VIP) == ["f801"]
    assert any("older generation" in e.text for e in sim.events("log", "f802"))


@settings(max_examples=examples(15), deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["on", "off", "legacy"]),
       st.lists(st.tuples(st.sampled_from(["partition", "freeze", "kill", "replay"]),
                          st.floats(0.1, 8.0)), min_size=1, max_size=4))
def test_no_two_owners_two_keepalives_after_any_heal(
    seed: int, failback: str, faults: list[tuple[str, float]]
) -> None:
    """Without guards a cut can give two owners; after any heal, two keepalives (plus
    the release) later there is one, whatever happened before."""
    sim = seed_cluster(failback, seed=seed, keep_sent=20)
    sim.start_all()
    sim.run_for(10)
    for fault, seconds in faults:
        if fault == "partition":
            sim.partition({"f801"}, {"f802"})
            sim.run_for(seconds)
            sim.heal()
        elif fault == "freeze":
            sim.freeze("f801")
            sim.run_for(seconds)
            sim.resume("f801")
        elif fault == "kill":
            sim.kill("f802")
            sim.run_for(seconds)
            sim.start("f802")
        else:
            sim.replay("f801")
            sim.run_for(seconds)
        sim.run_for(2 * KEEPALIVE + 0.06)
        if sim.status("f801", "f802") == "active" and sim.status("f802", "f801") == "active":
            assert len(sim.owners(VIP)) <= 1, (fault, sim.owners(VIP))
    sim.run_for(15)
    assert len(sim.owners(VIP)) == 1
