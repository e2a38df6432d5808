"""Heartbeat's standby exchange with a Heartbeat peer (t=ask_resources info=me|other|done,
t=hb_takeover), both directions, and a standby that nobody takes."""

from __future__ import annotations

from collections.abc import Sequence

from test_policy import ACTIVE, DB, DEAD, WEB, acquired, hb_resource, logs, policy, released, sent

from hapulse.actions import PolicyAction
from hapulse.policy import Policy
from hapulse.policy.hbstandby import EXCHANGE_WAIT, LEGACY_REFUSAL, REPLY_WAIT
from hapulse.states import GroupOp
from hapulse.wire.message import Message


def ask(which: str, info: str) -> Message:
    return Message.from_pairs([("t", "ask_resources"), ("rsc_hold", which), ("info", info)])


def infos(out: Sequence[PolicyAction]) -> list[tuple[str, str]]:
    return [(m["rsc_hold"], m["info"]) for m in sent(out, "ask_resources")]


def beside_heartbeat(auto_failback: str = "on", hb_holds: str = "local") -> Policy:
    """f801 (hapulse) runs WEB; the Heartbeat peer f802 runs DB (its `local`)."""
    p = policy("f801", auto_failback)
    p.on_node_status("f802", ACTIVE, 1.0)
    for gid in acquired(p.on_message(hb_resource(hb_holds), "f802", 1.1)):
        p.on_resource_done(gid, GroupOp.ACQUIRE, True, 1.2)
    return p


def test_hb_standby_on_the_heartbeat_peer_hands_its_groups_here() -> None:
    p = beside_heartbeat()
    out = p.on_message(ask("all", "me"), "f802", 5.0)
    assert infos(out) == [("all", "other")]  # we will take them
    assert acquired(out) == []  # not before it says it released them
    p.on_message(hb_resource("none"), "f802", 5.5)
    out = p.on_message(ask("all", "done"), "f802", 6.0)
    assert acquired(out) == [DB]
    out = p.on_resource_done(DB, GroupOp.ACQUIRE, True, 6.5)
    assert infos(out) == [("all", "done")]  # Heartbeat waits for this to finish its standby
    assert "Standby resource acquisition done [all]." in logs(out)


def test_hb_standby_under_legacy_is_refused_as_heartbeat_refuses_it() -> None:
    p = beside_heartbeat(auto_failback="legacy")
    out = p.on_message(ask("all", "me"), "f802", 5.0)
    assert infos(out) == []
    assert any(LEGACY_REFUSAL in line for line in logs(out))


def test_hapulse_standby_toward_heartbeat_runs_heartbeats_exchange() -> None:
    p = beside_heartbeat()
    out = p.standby("all", 5.0)
    assert infos(out) == [("all", "me")]
    assert released(out) == []  # Heartbeat ignores a request from a node already in flux
    out = p.on_message(ask("all", "other"), "f802", 5.1)
    assert released(out) == [WEB]  # it will take them: now they go
    assert infos(out) == []  # the release is not finished yet
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 5.4)
    assert infos(out) == [("all", "done")]
    p.on_message(hb_resource("all"), "f802", 7.0)  # it took WEB
    out = p.on_message(ask("all", "done"), "f802", 7.1)
    assert "Other node completed standby takeover of all resources." in logs(out)
    assert acquired(p.tick(5.4 + EXCHANGE_WAIT + 1)) == []  # it holds WEB: nothing back


def test_a_standby_the_heartbeat_peer_ignores_is_cancelled() -> None:
    """Heartbeat under legacy (or busy) never answers `other`: nothing was released, the
    request is cancelled as Heartbeat cancels it, and the site keeps its owner."""
    p = beside_heartbeat()
    p.standby("all", 5.0)
    assert released(p.tick(5.0 + REPLY_WAIT - 0.01)) == []
    out = p.tick(5.0 + REPLY_WAIT)
    assert any("No reply to standby request" in line for line in logs(out))
    assert released(out) == [] and released(p.on_message(ask("all", "other"), "f802", 20.0)) == []


def test_a_standby_nobody_takes_after_the_release_comes_back() -> None:
    p = beside_heartbeat()
    p.standby("all", 5.0)
    p.on_message(ask("all", "other"), "f802", 5.1)
    p.on_resource_done(WEB, GroupOp.RELEASE, True, 5.4)  # then the peer goes silent
    assert acquired(p.tick(5.4 + EXCHANGE_WAIT - 0.01)) == []
    assert acquired(p.tick(5.4 + EXCHANGE_WAIT)) == [WEB]


def test_hb_takeover_from_the_heartbeat_peer_makes_us_go_standby() -> None:
    """hb_takeover local on f802 wants f802's local groups: they are our foreign ones."""
    p = policy("f801", "off")  # f802 was dead: we took DB over, and keep it (off)
    for gid in acquired(p.on_node_status("f802", DEAD, 1.0)):
        p.on_resource_done(gid, GroupOp.ACQUIRE, True, 1.2)
    p.on_node_status("f802", ACTIVE, 20.0)
    p.on_message(hb_resource("none"), "f802", 20.1)
    out = p.on_message(Message.from_pairs([("t", "hb_takeover"), ("rsc_hold", "local")]),
                       "f802", 30.0)
    assert ("foreign", "me") in infos(out) and released(out) == []
    assert released(p.on_message(ask("foreign", "other"), "f802", 30.1)) == [DB]


def test_hapulse_takeover_asks_a_heartbeat_peer_with_hb_takeover() -> None:
    p = beside_heartbeat()
    out = p.takeover("all", 5.0)
    assert [m["rsc_hold"] for m in sent(out, "hb_takeover")] == ["all"]
