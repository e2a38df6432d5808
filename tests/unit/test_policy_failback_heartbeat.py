"""Giving a group back to a returning Heartbeat node, and asking one for ours, by
Heartbeat's own protocols: its standby exchange under `auto_failback on`
(PerformAutoFailback), `ip-request` / `ip-request-resp` under legacy."""

from __future__ import annotations

from test_policy import (
    ACTIVE,
    DB,
    DEAD,
    WEB,
    acquired,
    hb_resource,
    logs,
    policy,
    released,
    sent,
)

from hapulse.policy import Policy
from hapulse.policy.failover import ANNOUNCE_WAIT, HELLO_TRIES
from hapulse.policy.iprequest import ASK_TRIES, ASK_WAIT
from hapulse.states import GroupOp, LogLevel
from hapulse.wire.message import Message


def holding_both(auto_failback: str) -> Policy:
    """f802 (hapulse) runs WEB (preferred by f801, dead) and DB (its own)."""
    p = policy("f802", auto_failback)
    out = p.on_node_status("f801", DEAD, 1.0)
    for gid in acquired(out):
        p.on_resource_done(gid, GroupOp.ACQUIRE, True, 1.1)
    assert p.held() == {WEB, DB}
    return p


def ask(which: str, info: str) -> Message:
    return Message.from_pairs([("t", "ask_resources"), ("rsc_hold", which), ("info", info)])


def ip_request(gid: str) -> Message:
    return Message.from_pairs([("t", "ip-request"), ("ipaddr", gid)])


def ip_response(gid: str, ok: str = "OK") -> Message:
    return Message.from_pairs([("t", "ip-request-resp"), ("dest", "f801"), ("ipaddr", gid),
                               ("weown", "yes"), ("ok", ok)])


def test_auto_failback_on_to_heartbeat_uses_its_standby_exchange() -> None:
    p = holding_both("on")
    p.on_node_status("f801", ACTIVE, 5.0)
    out = p.on_message(hb_resource("none"), "f801", 5.1)
    assert released(out) == []  # a bare release: Heartbeat would never take it
    assert [(m["rsc_hold"], m["info"]) for m in sent(out, "ask_resources")] == [("foreign", "me")]
    assert released(p.tick(6.0)) == [] and sent(p.tick(6.0), "ask_resources") == []  # once
    out = p.on_message(ask("foreign", "other"), "f801", 6.1)
    assert released(out) == [WEB]  # only f801's group; DB stays
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 6.3)
    assert [(m["rsc_hold"], m["info"]) for m in sent(out, "ask_resources")] == [("foreign",
                                                                                "done")]
    assert p.held() == {DB}


def test_legacy_holder_gives_the_group_up_on_ip_request_then_answers() -> None:
    p = holding_both("legacy")
    p.on_node_status("f801", ACTIVE, 5.0)
    out = p.on_message(ip_request(WEB), "f801", 5.2)
    assert released(out) == [WEB]
    assert sent(out, "ip-request-resp") == []  # not before the group is stopped
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 5.4)
    [resp] = sent(out, "ip-request-resp")
    assert resp == Message.from_pairs([("t", "ip-request-resp"), ("dest", "f801"),
                                       ("ipaddr", WEB), ("weown", "yes"), ("ok", "OK")])
    assert acquired(p.tick(30.0)) == []  # its preferred node is alive: not taken back


def test_legacy_holder_answers_at_once_for_a_group_it_does_not_run() -> None:
    p = policy("f802", "legacy")
    p.on_node_status("f801", ACTIVE, 1.0)
    [resp] = sent(p.on_message(ip_request(WEB), "f801", 1.5), "ip-request-resp")
    assert (resp["weown"], resp["ok"]) == ("no", "OK")


def test_legacy_holder_whose_stop_failed_does_not_say_ok() -> None:
    p = holding_both("legacy")
    p.on_node_status("f801", ACTIVE, 5.0)
    p.on_message(ip_request(WEB), "f801", 5.2)
    [resp] = sent(p.on_resource_done(WEB, GroupOp.RELEASE, False, 5.4), "ip-request-resp")
    assert resp["ok"] != "OK"  # it may still run here: the asker must not start it


def started_beside_silent_heartbeat() -> tuple[Policy, float]:
    """f801 (hapulse, legacy) starts; f802 is a Heartbeat node, silent under legacy."""
    p = policy("f801", "legacy")
    p.on_node_status("f802", ACTIVE, 0.0)
    now = 0.0
    for _ in range(HELLO_TRIES + 1):
        now += ANNOUNCE_WAIT
        out = p.tick(now)
        if sent(out, "ip-request"):
            return p, now
    raise AssertionError("no ip-request sent")


def test_legacy_start_beside_heartbeat_asks_before_taking() -> None:
    p, now = started_beside_silent_heartbeat()
    assert WEB not in p.held() and acquired(p.tick(now + 1.0)) == []
    out = p.on_message(ip_response(WEB), "f802", now + 1.5)
    assert acquired(out) == [WEB]
    assert "received ip-request-resp 192.168.1.118 OK yes" in logs(out)


def test_legacy_ask_is_retried_then_the_group_taken_with_a_warning() -> None:
    p, now = started_beside_silent_heartbeat()
    asks = 1
    for _ in range(ASK_TRIES + 2):
        now += ASK_WAIT
        out = p.tick(now)
        asks += len(sent(out, "ip-request"))
        if acquired(out):
            assert any("no answer to ip-request" in line for line in logs(out, LogLevel.WARNING))
            break
    else:
        raise AssertionError("never taken")
    assert asks == ASK_TRIES


def test_a_refused_ip_request_is_not_taken() -> None:
    p, now = started_beside_silent_heartbeat()
    out = p.on_message(ip_response(WEB, ok="FAILED"), "f802", now + 1.0)
    assert acquired(out) == [] and acquired(p.tick(now + 2.0)) == []  # asked again later
