"""Heartbeat's guards on the virtual clock: ping nodes (with ipfail's decision and the
takeover's address probe) and STONITH. With either, a group never has two owners."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from sim_examples import examples

from hapulse.sim import Sim
from hapulse.states import GroupOp

VIP = "192.168.1.118"
KEEPALIVE = 0.2


def guarded(guard: str, auto_failback: str = "legacy", seed: int = 0, **kw: object) -> Sim:
    extra: dict[str, object] = {"ping_nodes": ("192.168.1.1",)} if guard == "ping" else \
        {"stonith": True}
    extra.update(kw)
    return Sim(["f801", "f802"], links=["eth1"], keepalive=KEEPALIVE, deadtime=2.0,
               warntime=1.0, initdead=4.0, seed=seed, groups=[(VIP, "f801")],
               auto_failback=auto_failback, resource_time=0.05,
               **extra)  # type: ignore[arg-type]


def run_sampling(sim: Sim, seconds: float, step: float = 0.05) -> list[list[str]]:
    """Run, sampling the owners every `step` (as the netns test samples the hosts)."""
    samples = []
    for _ in range(int(seconds / step)):
        sim.run_for(step)
        samples.append(sim.owners(VIP))
    return samples


def logs(sim: Sim, node: str, text: str) -> list[str]:
    return [e.text for e in sim.events("log", node) if text in e.text]


def test_heartbeat_link_cut_with_a_ping_node_one_owner_throughout() -> None:
    sim = guarded("ping")
    sim.start_all()
    sim.run_for(10)
    assert sim.owners(VIP) == ["f801"]
    sim.partition({"f801"}, {"f802"})  # the heartbeat link only: the LAN still works
    during = run_sampling(sim, 12)
    sim.heal()
    after = run_sampling(sim, 10)
    assert all(owners == ["f801"] for owners in during + after), during + after
    assert sim.events("contested", "f802")  # f802 tried, heard f801 on the LAN, held back


def test_lan_cable_pulled_on_the_holder_moves_the_groups() -> None:
    """ipfail: f801 reaches fewer ping nodes than f802 while the heartbeat link is up."""
    sim = guarded("ping")
    sim.start_all()
    sim.run_for(10)
    sim.lan_cut.add("f801")
    sim.run_for(2.0 + 4 * KEEPALIVE + 0.5)  # deadping, then the hand-over (2 keepalives)
    assert sim.owners(VIP) == ["f802"]
    assert logs(sim, "f801", "handing over")
    sim.run_for(20)
    assert sim.owners(VIP) == ["f802"]  # no flapping back while f801's LAN is out


def test_a_node_that_lost_its_ping_nodes_does_not_take_over() -> None:
    sim = guarded("ping")
    sim.start_all()
    sim.run_for(10)
    sim.lan_cut.add("f802")
    sim.partition({"f801"}, {"f802"})
    sim.run_for(15)
    assert sim.owners(VIP) == ["f801"]
    assert logs(sim, "f802", "not starting it: none of this node's")


def test_stonith_resets_the_peer_before_the_takeover() -> None:
    sim = guarded("stonith")
    sim.start_all()
    sim.run_for(10)
    sim.partition({"f801"}, {"f802"})
    samples = run_sampling(sim, 5)
    assert all(len(owners) <= 1 for owners in samples), samples
    assert [(by, target) for _, by, target in sim.fenced] == [("f802", "f801")]
    assert sim.owners(VIP) == ["f802"]
    acquired = [e.time for e in sim.events("acquire", "f802")]
    assert acquired and acquired[0] >= sim.fenced[0][0]  # only after the reset succeeded


def test_a_failed_reset_means_no_takeover_and_crit() -> None:
    sim = guarded("stonith")
    sim.fence_fails = True
    sim.start_all()
    sim.run_for(10)
    sim.partition({"f801"}, {"f802"})
    sim.run_for(20)
    assert sim.owners(VIP) == ["f801"]
    crit = logs(sim, "f802", "Host f801 not reset!")
    assert 2 <= len(crit) <= 5  # retried every 5 s, not in a loop


def test_a_failed_stop_with_stonith_the_peer_resets_this_node_then_takes_it() -> None:
    sim = guarded("stonith", auto_failback="on")
    sim.start_all()
    sim.run_for(10)
    sim.failing.add(("f801", VIP, GroupOp.RELEASE))
    sim.control("f801", "standby")
    samples = run_sampling(sim, 3)
    assert all(len(owners) <= 1 for owners in samples), samples
    assert [(by, target) for _, by, target in sim.fenced] == [("f802", "f801")]
    assert sim.owners(VIP) == ["f802"]


@settings(max_examples=examples(15), deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["ping", "stonith"]),
       st.sampled_from(["on", "off", "legacy"]),
       st.lists(st.tuples(st.sampled_from(["partition", "freeze", "kill", "replay", "loss"]),
                          st.floats(0.1, 8.0)), min_size=1, max_size=4))
def test_with_a_guard_never_two_owners(
    seed: int, guard: str, failback: str, faults: list[tuple[str, float]]
) -> None:
    sim = guarded(guard, failback, seed=seed, keep_sent=20)
    sim.start_all()
    sim.run_for(10)
    for fault, seconds in faults:
        if fault == "partition":
            sim.partition({"f801"}, {"f802"})
        elif fault == "freeze":
            sim.freeze("f801")
        elif fault == "kill":
            sim.kill("f801")
        elif fault == "replay":
            sim.replay("f801")
        else:
            sim.set_link("eth1", loss=0.3)
        samples = run_sampling(sim, seconds, step=0.02)
        assert all(len(owners) <= 1 for owners in samples), (fault, samples)
        sim.heal()
        sim.set_link("eth1", loss=0.0)
        if sim.nodes["f801"].frozen:
            sim.resume("f801")
        if sim.nodes["f801"].core is None:
            sim.start("f801")
        samples = run_sampling(sim, 3, step=0.02)
        assert all(len(owners) <= 1 for owners in samples), (fault, "after", samples)
