"""hapulse.node.Node: membership and policy joined, fed by hand (no simulator)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from factories import ha_cf, make_ha_d

from hapulse.actions import Acquire, Log, NodeAction, NodeStatus, Release, Send, ShutdownComplete
from hapulse.config import load_config
from hapulse.membership import Timers
from hapulse.node import Node, NodeSettings
from hapulse.states import GroupOp, GroupState, NodeState
from hapulse.wire.message import Message

WEB = "192.168.1.118"
TIMERS = Timers(keepalive=1.0, deadtime=4.0, warntime=2.0, initdead=8.0)


def settings(nodes: Sequence[str] = ("f801", "f802"), timers: Timers = TIMERS,
             groups: Sequence[tuple[str, str]] = ((WEB, "f801"),),
             auto_failback: str = "on") -> NodeSettings:
    return NodeSettings(local="f801", nodes=tuple(nodes), links=("eth1",), timers=timers,
                        groups=tuple(groups), auto_failback=auto_failback)


def node(s: NodeSettings | None = None, clock_offset: float = 0.0) -> Node:
    return Node(s or settings(), generation=7, uuid=b"uuid-f801", now=0.0,
                clock_offset=clock_offset)


def peer_msg(t: str = "status", seq: int = 1, src: str = "f802",
             extra: Sequence[tuple[str, str]] = ()) -> Message:
    pairs: list[tuple[str, str | bytes]] = [("t", t)]
    if t == "status":
        pairs.append(("st", "active"))
    pairs += [*extra, ("src", src), ("srcuuid", b"uuid-" + src.encode()),
              ("seq", f"{seq:x}"), ("hg", "3"), ("ts", f"{1000 + seq:x}")]
    return Message.from_pairs(pairs)


def announcement(held: str = "") -> Message:
    return peer_msg("resource", seq=2, extra=[("rsc_hold", "none"), ("hp_held", held),
                                              ("hp_give", ""), ("hp_failed", "")])


def sends(out: Sequence[NodeAction], t: str | None = None) -> list[Message]:
    return [a.msg for a in out if isinstance(a, Send) and t in (None, a.msg.get("t"))]


def acquired(out: Sequence[NodeAction]) -> list[str]:
    return [a.group_id for a in out if isinstance(a, Acquire)]


def released(out: Sequence[NodeAction]) -> list[str]:
    return [a.group_id for a in out if isinstance(a, Release)]


# ---- routing ----------------------------------------------------------------------

def test_peer_status_reaches_the_policy_and_its_message_leaves_stamped() -> None:
    n = node(clock_offset=2000.0)
    (hb,) = sends(n.tick(0.0))
    assert hb["seq"] == "1"
    out = n.receive(peer_msg(), "eth1", 0.5)
    assert NodeStatus("f802", NodeState.INIT, NodeState.ACTIVE) in out
    # the policy greets the new peer: its SendCluster comes out as a signed-ready Send
    (hello,) = sends(out, "resource")
    assert hello["hp_hello"] == "1"
    assert (hello["src"], hello["seq"], hello["hg"], hello["ts"]) == (
        "f801", "2", "7", f"{2000:x}")
    assert hello.get_bytes("srcuuid") == b"uuid-f801"
    assert [a.link for a in out if isinstance(a, Send)] == [None]
    # sequenced with the heartbeats
    assert sends(n.tick(1.0))[0]["seq"] == "3"


def test_nodestatus_comes_out_before_the_policys_reaction() -> None:
    n = node()
    n.tick(0.0)
    out = n.receive(peer_msg(), "eth1", 0.5)
    kinds = [type(a).__name__ for a in out]
    assert kinds.index("NodeStatus") < kinds.index("Send")


def test_peers_announcement_is_delivered_to_the_policy() -> None:
    n = node()
    n.tick(0.0)
    n.receive(peer_msg(), "eth1", 0.5)
    out = n.receive(announcement(), "eth1", 0.6)
    assert acquired(out) == [WEB]
    assert not any(isinstance(a, Send) and a.msg.get("t") == "resource" and
                   a.msg.get("src") == "f802" for a in out)  # consumed, not echoed
    (ann,) = sends(out, "resource")
    assert ann["hp_held"] == WEB and ann["src"] == "f801"


def test_resource_done_is_announced_stamped() -> None:
    n = node()
    n.tick(0.0)
    out = n.tick(8.1)  # f802 never heard: dead at initdead, WEB preferred here
    assert NodeStatus("f802", NodeState.INIT, NodeState.DEAD) in out
    assert acquired(out) == [WEB]
    out = n.resource_done(WEB, GroupOp.ACQUIRE, True, 8.5)
    (ann,) = sends(out, "resource")
    assert ann["hp_held"] == WEB and ann["isstable"] == "1" and ann["src"] == "f801"
    assert n.snapshot(8.5).policy.groups[0].here is GroupState.RUNNING


def test_peer_death_takes_over_its_groups() -> None:
    n = node(settings(groups=((WEB, "f802"),)))
    n.tick(0.0)
    n.receive(peer_msg(), "eth1", 0.5)
    assert acquired(n.receive(announcement(held=WEB), "eth1", 0.6)) == []
    out = n.tick(4.61)  # deadtime after its last packet (0.6)
    assert NodeStatus("f802", NodeState.ACTIVE, NodeState.DEAD) in out
    assert acquired(out) == [WEB]


def test_standby_shutdown_and_leave() -> None:
    n = node()
    n.tick(0.0)
    n.receive(peer_msg(), "eth1", 0.5)
    n.receive(announcement(), "eth1", 0.6)
    n.resource_done(WEB, GroupOp.ACQUIRE, True, 0.7)
    out = n.shutdown(1.0)
    assert released(out) == [WEB] and acquired(out) == []
    assert not any(isinstance(a, ShutdownComplete) for a in out)
    out = n.resource_done(WEB, GroupOp.RELEASE, True, 1.2)
    assert isinstance(out[-1], ShutdownComplete)
    (last,) = sends(n.leave(1.3), "status")
    assert last["st"] == "dead" and last["src"] == "f801"


# ---- reconfigure ------------------------------------------------------------------

def test_reconfigure_applies_timers() -> None:
    n = node()
    n.tick(0.0)
    fast = Timers(keepalive=0.25, deadtime=1.0, warntime=0.5, initdead=2.0)
    n.reconfigure(settings(timers=fast), changed_groups=(), now=0.1)
    assert n.next_deadline(0.1) <= 0.35 + 1e-9
    (hb,) = sends(n.tick(0.36))
    assert hb["dt"] == f"{1000:x}"


def test_reconfigure_applies_nodes() -> None:
    n = node()
    assert not n.knows("f803")
    n.reconfigure(settings(nodes=("f801", "f802", "f803")), changed_groups=(), now=1.0)
    assert n.knows("f803") and n.knows("F803")
    assert [v.name for v in n.snapshot(1.0).nodes] == ["f801", "f802", "f803"]
    out = n.receive(peer_msg(src="f803"), "eth1", 1.5)
    assert NodeStatus("f803", NodeState.INIT, NodeState.ACTIVE) in out
    n.reconfigure(settings(nodes=("f801", "f802")), changed_groups=(), now=2.0)
    assert not n.knows("f803")
    assert any(isinstance(a, Log) and "not in ha.cf" in a.text
               for a in n.receive(peer_msg(seq=2, src="f803"), "eth1", 2.5))


def test_reconfigure_applies_groups() -> None:
    n = node()
    n.tick(8.1)  # alone: WEB acquired
    n.resource_done(WEB, GroupOp.ACQUIRE, True, 8.2)
    out = n.reconfigure(settings(groups=((WEB, "f801"), ("httpd2", "f801"))),
                        changed_groups=(), now=9.0)
    assert acquired(out) == ["httpd2"]
    out = n.reconfigure(settings(groups=(("httpd2", "f801"),)), changed_groups=(), now=9.5)
    assert released(out) == [WEB]


def test_reconfigure_applies_auto_failback() -> None:
    n = node(settings(groups=((WEB, "f802"),), auto_failback="off"))
    n.tick(8.1)
    n.resource_done(WEB, GroupOp.ACQUIRE, True, 8.2)
    n.receive(peer_msg(), "eth1", 9.0)
    out = n.receive(announcement(), "eth1", 9.1)
    assert released(out) == []
    out = n.reconfigure(settings(groups=((WEB, "f802"),), auto_failback="on"),
                        changed_groups=(), now=9.5)
    assert released(out) == [WEB]


# ---- snapshot, knows, clock --------------------------------------------------------

def drive(n: Node, peek: bool) -> list[NodeAction]:
    out: list[NodeAction] = []
    script: list[tuple[float, Message | None]] = [
        (0.0, None), (0.5, peer_msg()), (1.0, None), (1.2, announcement()), (2.0, None),
        (3.5, None), (5.3, None), (6.0, None)]
    for now, m in script:
        if peek:
            for t in (now, now + 10.0, now + 100.0):
                n.snapshot(t)
        out += n.tick(now) if m is None else n.receive(m, "eth1", now)
        if now == 2.0:
            out += n.resource_done(WEB, GroupOp.ACQUIRE, True, now)
    return out


def test_snapshot_does_not_change_later_decisions() -> None:
    assert drive(node(), peek=True) == drive(node(), peek=False)


def test_snapshot_contents() -> None:
    n = node()
    n.tick(0.0)
    n.receive(peer_msg(), "eth1", 0.5)
    snap = n.snapshot(1.0)
    assert [(v.name, v.status) for v in snap.nodes] == [
        ("f801", NodeState.ACTIVE), ("f802", NodeState.ACTIVE)]
    assert snap.nodes[1].last_heard_ago == 0.5
    assert snap.seq == 2  # the heartbeat and the hello
    assert snap.rscstatus == "none"  # not settled yet: the peer has not announced
    assert [g.id for g in snap.policy.groups] == [WEB]


def test_knows() -> None:
    n = node(settings(nodes=("f801", "F802")))
    assert n.knows("f801") and n.knows("F801")
    assert n.knows("f802") and n.knows("F802")
    assert not n.knows("f803") and not n.knows("")


def test_set_clock_offset_changes_ts() -> None:
    n = node(clock_offset=1000.0)
    assert sends(n.tick(0.0))[0]["ts"] == f"{1000:x}"
    n.set_clock_offset(0x5f000000 - 1.0)
    assert sends(n.tick(1.0))[0]["ts"] == "5f000000"


def test_next_deadline_is_the_earliest_of_the_cores() -> None:
    n = node()
    n.tick(0.0)
    assert n.next_deadline(0.0) == 1.0  # the next heartbeat
    n.receive(peer_msg(), "eth1", 0.5)
    n.tick(1.0)
    n.tick(2.0)
    n.tick(3.0)
    # heartbeat at 4.0, warn at 2.5 already passed; the policy's wait ends at 3.5
    assert 3.5 <= n.next_deadline(3.0) < 3.6


# ---- NodeSettings -------------------------------------------------------------------

def test_settings_from_config(tmp_path: Path) -> None:
    make_ha_d(tmp_path, ha_cf("bcast eth1", "ucast eth0 192.168.1.112", "bcast eth1",
                              nodes=["f801", "F802"], extra=["auto_failback off"]),
              haresources="f801 192.168.1.118 httpd\nf802 10.0.0.50\n")
    config, diags = load_config(tmp_path, "f801")
    assert config is not None, diags
    s = NodeSettings.from_config(config)
    assert s.local == "f801"
    assert s.nodes == ("f801", "f802")
    assert s.links == ("eth1", "eth0")  # each link once, in ha.cf order
    assert s.timers == Timers(keepalive=0.5, deadtime=2.0, warntime=1.5, initdead=4.0)
    assert s.groups == ((WEB, "f801"), ("10.0.0.50", "f802"))
    assert s.auto_failback == "off"


def test_initdead_counts_from_when_the_media_are_up() -> None:
    """A daemon that took seconds to start (a loaded machine) gives a peer never heard its
    whole initdead from when it can hear it, not from when the node object was built."""
    n = Node(NodeSettings(local="f802", nodes=("f801", "f802"), links=("eth1",),
                          timers=Timers(keepalive=1.0, deadtime=10.0, warntime=5.0,
                                        initdead=4.0), groups=(), auto_failback="legacy"),
             generation=1, uuid=b"u" * 16, now=0.0)
    n.media_up(5.0)  # 5 s to get the media up
    n.tick(8.9)
    before = n.membership.peers["f801"].status
    n.tick(9.1)
    assert (before, n.membership.peers["f801"].status) == (NodeState.INIT, NodeState.DEAD)
