"""The daemon's receive edge on the status fast path: the same outcome, fewer re-arms."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from factories import solo_daemon, solo_ha_cf

from hapulse.membership import Membership, Timers
from hapulse.wire.auth import Authenticator

PEER_AUTH = Authenticator("sha1", 1, b"k")  # the peer's key: the daemon's authkeys
HACF = solo_ha_cf(warntime="5")


def peer_heartbeats(n: int) -> list[bytes]:
    """The peer's first n heartbeats, as hapulse signs them (the template)."""
    core = Membership("peer", ("solo", "peer"), ("lo",), Timers(1.0, 10.0, 5.0, 20.0),
                      generation=8, uuid=b"p" * 16, now=0.0, clock_offset=1.8e9)
    return [PEER_AUTH.sign_and_encode(core.heartbeat(float(i))) for i in range(n)]


def test_heartbeats_take_the_fast_path_and_keep_the_peer(tmp_path: Path) -> None:
    d = solo_daemon(tmp_path, hacf=HACF)
    for packet in peer_heartbeats(3):
        d._on_packet(packet, "127.0.0.2:4000", "lo")
    st: dict[str, Any] = d.status()
    peer = st["nodes"][1]
    assert (peer["name"], peer["status"], peer["generation"]) == ("peer", "up", 8)
    assert peer["links"] == {"lo": "up"}
    assert d.auth._heads  # read through the fast path's head cache
    assert st["counters"]["rejected"] == 0


def test_a_forged_or_foreign_heartbeat_is_rejected_with_the_general_reasons(
        tmp_path: Path) -> None:
    d = solo_daemon(tmp_path, hacf=HACF)
    good = peer_heartbeats(2)
    d._on_packet(good[0], "127.0.0.2:4000", "lo")
    forged = good[1].replace(b"(0)st=up", b"(0)st=ux")
    d._on_packet(forged, "127.0.0.2:4000", "lo")
    stranger = Membership("mallory", ("solo", "mallory"), ("lo",),
                          Timers(1.0, 10.0, 5.0, 20.0), generation=1, uuid=b"m" * 16,
                          now=0.0, clock_offset=1.8e9)
    d._on_packet(PEER_AUTH.sign_and_encode(stranger.heartbeat(0.0)), "127.0.0.3:4000", "lo")
    own = Membership("solo", ("solo", "peer"), ("lo",), Timers(1.0, 10.0, 5.0, 20.0),
                     generation=3, uuid=b"u" * 16, now=0.0, clock_offset=1.8e9)
    d._on_packet(PEER_AUTH.sign_and_encode(own.heartbeat(0.0)), "127.0.0.1:4000", "lo")
    counters: dict[str, Any] = d.status()["counters"]  # type: ignore[assignment]
    reasons: dict[str, int] = counters["rejected_by_reason"]
    assert {r: n for r, n in reasons.items() if n} == {"bad_signature": 1, "unknown_node": 1}
    assert counters["rejected"] == 2  # our own heartbeat, looped back, is no rejection


def test_a_heartbeat_that_changes_nothing_does_not_re_arm_the_timer(tmp_path: Path) -> None:
    async def go() -> None:
        d = solo_daemon(tmp_path, hacf=HACF)
        loop = asyncio.get_running_loop()
        d._loop, d._done = loop, loop.create_future()
        beats = peer_heartbeats(3)
        d._on_packet(beats[0], "127.0.0.2:4000", "lo")  # the peer comes up: re-armed
        timer, armed = d._timer, d._armed_at
        assert timer is not None and armed is not None
        for packet in beats[1:]:
            d._on_packet(packet, "127.0.0.2:4000", "lo")
        assert d._timer is timer and d._armed_at == armed
        assert d.node.membership.peers["peer"].high_seq == 3  # yet each was taken
        d._done.set_result(None)
        timer.cancel()

    asyncio.run(go())
