"""Ping nodes: PingTracker's liveness rules, ping_targets, and real echoes on loopback."""

from __future__ import annotations

import asyncio

import pytest

from hapulse.membership.ping import (
    PingNodeState,
    PingNodeStatus,
    PingTracker,
    check_deadping,
)
from hapulse.transports.ping import (
    PingTarget,
    PingTransport,
    checksum,
    echo_request,
    ping_targets,
)

INIT, PING, DEAD = PingNodeState.INIT, PingNodeState.PING, PingNodeState.DEAD


def test_node_is_init_until_first_reply_then_ping() -> None:
    t = PingTracker(("10.0.0.254",), deadping=2.0, now=0.0)
    assert t.status("10.0.0.254") is INIT
    ev = t.replied("10.0.0.254", 0.5)
    assert ev == [PingNodeStatus("10.0.0.254", INIT, PING)]
    assert ev[0].text == "Status update for node 10.0.0.254: status ping"
    assert t.replied("10.0.0.254", 0.7) == []  # already alive: no event
    assert t.alive_count() == 1


def test_dead_exactly_after_deadping_without_reply_and_back_on_reply() -> None:
    t = PingTracker(("gw",), deadping=2.0, now=0.0)
    t.replied("gw", 1.0)
    assert t.next_deadline() == 3.0
    assert t.tick(2.99) == []
    ev = t.tick(3.0)
    assert ev == [PingNodeStatus("gw", PING, DEAD)]
    assert ev[0].text == "node gw: is dead" and ev[0].level == "warning"
    assert t.tick(10.0) == []  # dead once
    assert t.next_deadline() is None
    assert t.alive_count() == 0
    assert t.replied("gw", 11.0) == [PingNodeStatus("gw", DEAD, PING)]
    assert t.next_deadline() == 13.0


def test_each_reply_pushes_the_deadline() -> None:
    t = PingTracker(("gw",), deadping=1.0, now=0.0)
    for k in range(1, 20):
        t.replied("gw", k * 0.5)
        assert t.tick(k * 0.5 + 0.4) == []
    assert t.status("gw") is PING


def test_never_heard_node_dies_after_initdead() -> None:
    t = PingTracker(("a", "b"), deadping=1.0, now=100.0, initdead=5.0)
    t.replied("a", 100.1)
    assert t.tick(101.1) == [PingNodeStatus("a", PING, DEAD)]
    assert t.tick(104.9) == []
    assert t.tick(105.0) == [PingNodeStatus("b", INIT, DEAD)]


def test_unknown_node_is_ignored_and_snapshot_lists_all() -> None:
    t = PingTracker(("a", "b"), deadping=1.0, now=0.0)
    assert t.replied("c", 0.1) == []
    t.replied("b", 0.2)
    assert dict(t.snapshot()) == {"a": INIT, "b": PING}
    with pytest.raises(KeyError):
        t.status("c")


def test_deadping_defaults_to_deadtime_and_must_exceed_two_keepalives() -> None:
    assert check_deadping(None, deadtime=30.0, keepalive=1.0) == 30.0
    assert check_deadping(5.0, deadtime=30.0, keepalive=1.0) == 5.0
    with pytest.raises(ValueError, match="too small"):
        check_deadping(2.0, deadtime=30.0, keepalive=1.0)


def test_ping_targets_from_directives() -> None:
    got = ping_targets([("node", ("f801",)), ("ping", ("192.168.1.1", "10.0.0.254")),
                        ("ping_group", ("Routers", "10.1.0.1", "10.1.0.2"))])
    assert got == (PingTarget("192.168.1.1", ("192.168.1.1",)),
                   PingTarget("10.0.0.254", ("10.0.0.254",)),
                   PingTarget("routers", ("10.1.0.1", "10.1.0.2")))
    with pytest.raises(ValueError, match="needs a name"):
        ping_targets([("ping_group", ("lonely",))])
    with pytest.raises(ValueError, match="named twice"):
        ping_targets([("ping", ("10.0.0.1",)), ("ping", ("10.0.0.1",))])


def test_echo_request_checksum_verifies() -> None:
    pkt = echo_request(0x1234, 7, b"hapulse\0abcdefgh")
    assert pkt[0] == 8 and checksum(pkt) == 0


async def _ping_loopback(targets: list[PingTarget], rounds: int) -> tuple[list[str], str]:
    got: list[str] = []
    done = asyncio.Event()

    def on_reply(node: str, now: float) -> None:
        got.append(node)
        if len(got) >= rounds:
            done.set()

    t = PingTransport(targets, on_reply)
    await t.start()
    try:
        for _ in range(rounds):
            t.send()
            await asyncio.sleep(0.05)  # the keepalive interval of this test
        await asyncio.wait_for(done.wait(), 5)
        return got, t.mode
    finally:
        await t.close()


def test_real_echo_replies_on_loopback_reach_on_reply() -> None:
    got, mode = asyncio.run(_ping_loopback([PingTarget("lo-node", ("127.0.0.1",))], 3))
    assert got == ["lo-node"] * 3
    assert mode in ("raw", "dgram")


def test_group_member_reply_counts_for_the_group_name() -> None:
    got, _ = asyncio.run(_ping_loopback([PingTarget("grp", ("127.0.0.2", "127.0.0.3"))], 4))
    assert set(got) == {"grp"}


def test_an_address_in_a_ping_line_and_a_group_answers_for_both() -> None:
    targets = [PingTarget("127.0.0.4", ("127.0.0.4",)), PingTarget("grp", ("127.0.0.4",))]
    got, _ = asyncio.run(_ping_loopback(targets, 4))
    assert set(got) == {"127.0.0.4", "grp"} and got.count("grp") == got.count("127.0.0.4")


def test_forged_or_duplicate_reply_is_not_counted() -> None:
    got: list[str] = []
    t = PingTransport([PingTarget("gw", ("10.9.9.9",))], lambda n, now: got.append(n))
    t._owner = {"10.9.9.9": ("gw",)}
    t._pending[("10.9.9.9", 1)] = b"hapulse\0" + b"x" * 8
    t._raw = False
    reply = bytes(echo_request(0, 1, b"hapulse\0" + b"x" * 8))
    reply = b"\0" + reply[1:]  # type 0: echo reply
    t._packet(b"\0" + echo_request(0, 1, b"hapulse\0" + b"y" * 8)[1:], "10.9.9.9")
    assert got == []  # wrong payload
    t._packet(reply, "10.9.9.8")
    assert got == []  # wrong source
    t._packet(reply, "10.9.9.9")
    t._packet(reply, "10.9.9.9")
    assert got == ["gw"]  # once
