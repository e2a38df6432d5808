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


def ip_response(gid: str, ok: str = "OK", dest: str = "f801") -> Message:
    return Message.from_pairs([("t", "ip-request-resp"), ("dest", dest), ("ipaddr", gid),
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


# Heartbeat under legacy counts the nodes whose status reads `active` once, when its
# communication comes up; a peer heard only by other messages (an acknowledgement, a
# hello) counts as absent, and req_resource runs with HA_DONTASK: it sends the answer to
# itself (`ip-request-resp dest=ITSELF`) and starts its group, whoever holds it.
# Captured in the lab (f801 Heartbeat 3.0.6, f802 hapulse holding 192.168.1.118):
UNASKED = Message.from_pairs([("t", "ip-request-resp"), ("dest", "f801"),
                              ("ipaddr", "192.168.1.118"), ("weown", "yes"), ("ok", "OK")])


def back_unasked(auto_failback: str = "legacy") -> Policy:
    """f802 (hapulse) holds WEB and DB; f801 (Heartbeat, WEB's preferred node) is back."""
    p = holding_both(auto_failback)
    p.on_node_status("f801", ACTIVE, 5.0)
    return p


def test_heartbeat_starting_its_group_unasked_makes_the_holder_release_it() -> None:
    p = back_unasked()
    assert UNASKED["ipaddr"] == WEB
    out = p.on_message(UNASKED, "f801", 5.1)
    assert released(out) == [WEB]  # only the group it starts; DB stays
    assert any("f801 starts 192.168.1.118 without asking" in line
               for line in logs(out, LogLevel.WARNING))
    assert sent(out, "ip-request-resp") == []  # nobody asked: nothing to answer
    out = p.on_resource_done(WEB, GroupOp.RELEASE, True, 5.3)
    assert sent(out, "ip-request-resp") == []
    assert p.held() == {DB}
    assert acquired(p.tick(30.0)) == []  # its preferred node runs it: not taken back


def test_a_group_still_starting_is_released_once_started() -> None:
    p = policy("f802", "legacy")
    out = p.on_node_status("f801", DEAD, 1.0)
    assert WEB in acquired(out)
    p.on_node_status("f801", ACTIVE, 5.0)
    assert released(p.on_message(UNASKED, "f801", 5.1)) == []  # its start is under way
    out = p.on_resource_done(WEB, GroupOp.ACQUIRE, True, 5.2)
    assert released(out) == [WEB]
    assert sent(p.on_resource_done(WEB, GroupOp.RELEASE, True, 5.4), "ip-request-resp") == []
    assert WEB not in p.held()


def test_the_release_is_not_made_for_a_node_that_died_meanwhile() -> None:
    p = policy("f802", "legacy")
    p.on_node_status("f801", DEAD, 1.0)
    p.on_node_status("f801", ACTIVE, 5.0)
    p.on_message(UNASKED, "f801", 5.1)
    p.on_node_status("f801", DEAD, 6.0)  # gone again before the start here is over
    assert released(p.on_resource_done(WEB, GroupOp.ACQUIRE, True, 6.1)) == []
    assert WEB in p.held()


def test_an_unasked_start_of_a_group_not_held_here_changes_nothing() -> None:
    # under auto_failback on/off Heartbeat always starts its groups this way, once its
    # resource exchange found them free
    p = policy("f802", "on")
    p.on_node_status("f801", ACTIVE, 1.0)
    out = p.on_message(UNASKED, "f801", 1.5)
    assert released(out) == [] and acquired(out) == [] and logs(out, LogLevel.WARNING) == []
    assert p.held() == set()


def test_an_answer_to_another_node_is_no_unasked_start() -> None:
    p = back_unasked()
    # f801 answering someone's request (rc.d/ip-request) is not f801 starting the group
    assert released(p.on_message(ip_response(WEB, dest="f803"), "f801", 5.1)) == []
    # nor is a refusal addressed to itself
    assert released(p.on_message(ip_response(WEB, ok="FAILED"), "f801", 5.2)) == []
    assert p.held() == {WEB, DB}


def test_an_unasked_start_of_a_group_whose_stop_failed_here_is_critical() -> None:
    p = back_unasked()
    p.on_message(ip_request(WEB), "f801", 5.1)
    p.on_resource_done(WEB, GroupOp.RELEASE, False, 5.2)  # it may still run here
    out = p.on_message(UNASKED, "f801", 5.3)
    assert released(out) == []
    assert any("may still run here too" in line for line in logs(out, LogLevel.CRITICAL))


def test_hapulse_peers_are_not_read_as_heartbeat() -> None:
    p = holding_both("off")  # off: the hapulse peer's return takes nothing back
    p.on_node_status("f801", ACTIVE, 5.0)
    p.on_message(Message.from_pairs([("t", "resource"), ("rsc_hold", "none"), ("rtype", "full"),
                                     ("isstable", "1"), ("hp_held", "")]), "f801", 5.05)
    assert released(p.on_message(UNASKED, "f801", 5.1)) == []  # hapulse says hp_held
    assert p.held() == {WEB, DB}
