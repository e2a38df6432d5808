"""hapulse.reload.plan_reload on Configs read from files, as `hapulse reload` reads them.

Each test writes a node's ha.d, loads it, rewrites the files in the same
directory (a reload re-reads the same confdir) and loads it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from factories import TEST_AUTHKEYS, ha_cf, make_ha_d

from hapulse.config import Config, load_config
from hapulse.reload import plan_reload

HARESOURCES = "f801 192.168.1.118 httpd\n"
MEDIA = ("bcast eth1",)


def load(d: Path, *lines: str, media: Sequence[str] = MEDIA,
         nodes: Sequence[str] = ("f801", "f802"), node: str = "f801",
         haresources: str = HARESOURCES, authkeys: str = TEST_AUTHKEYS,
         udpport: int | None = 694, keepalive: str = "0.5", warntime: str = "1.5",
         deadtime: str = "2", initdead: str = "4",
         extra: Sequence[str] = ("auto_failback on",)) -> Config:
    hacf = ha_cf(*media, *lines, nodes=nodes, keepalive=keepalive, warntime=warntime,
                 deadtime=deadtime, initdead=initdead, udpport=udpport, extra=extra)
    make_ha_d(d, hacf, authkeys=authkeys, haresources=haresources)
    config, diags = load_config(d, node)
    assert config is not None, [str(x) for x in diags]
    return config


def test_the_same_files_change_nothing(tmp_path: Path) -> None:
    old = load(tmp_path)
    plan = plan_reload(old, load(tmp_path))
    assert plan.restart_needed == () and plan.changes == ()
    assert not plan.changed and not plan.keys_changed and not plan.logging_changed
    assert plan.groups_added == plan.groups_removed == plan.groups_changed == ()


# ---- restart needed ---------------------------------------------------------------

@pytest.mark.parametrize(("old_lines", "new_lines", "named"), [
    (MEDIA, ("bcast eth0",), "media (bcast eth1 694 -> bcast eth0 694)"),
    (MEDIA, ("ucast eth1 10.0.0.2",), "media (bcast eth1 694 -> ucast eth1 10.0.0.2 694)"),
    (MEDIA, ("bcast eth1", "ucast eth0 192.168.1.112"),
     "media (bcast eth1 694 -> bcast eth1 694, ucast eth0 192.168.1.112 694)"),
    (MEDIA, ("mcast eth1 225.0.0.1 694 1 0",),
     "media (bcast eth1 694 -> mcast eth1 225.0.0.1 694 1 0)"),
    (MEDIA, ("bcast eth1", "baud 38400"), "baud (19200 -> 38400)"),
    (MEDIA, ("bcast eth1", "realtime off"), "realtime (True -> False)"),
    (MEDIA, ("bcast eth1", "rtprio 10"), "rtprio (None -> 10)"),
    (MEDIA, ("bcast eth1", "msgfmt classic"), "msgfmt (netstring -> classic)"),
])
def test_restart_needed_fields_named_with_old_and_new(
        tmp_path: Path, old_lines: Sequence[str], new_lines: Sequence[str], named: str) -> None:
    old = load(tmp_path, media=old_lines)
    plan = plan_reload(old, load(tmp_path, media=new_lines))
    assert plan.restart_needed == (named,)
    assert plan.changes == ()  # nothing else moved


def test_udpport_needs_a_restart(tmp_path: Path) -> None:
    old = load(tmp_path)
    plan = plan_reload(old, load(tmp_path, udpport=695))
    assert "udpport (694 -> 695)" in plan.restart_needed
    # the media's port follows udpport: they are named as well
    assert "media (bcast eth1 694 -> bcast eth1 695)" in plan.restart_needed


def test_node_name_needs_a_restart(tmp_path: Path) -> None:
    old = load(tmp_path)
    plan = plan_reload(old, load(tmp_path, node="f802"))
    assert plan.restart_needed == ("node name (f801 -> f802)",)


def test_every_restart_field_is_listed_at_once(tmp_path: Path) -> None:
    old = load(tmp_path)
    new = load(tmp_path, "baud 38400", "realtime off", media=("bcast eth0",), node="f802")
    assert [r.split(" (")[0] for r in plan_reload(old, new).restart_needed] == [
        "node name", "media", "baud", "realtime"]


def test_media_compared_without_their_line_numbers(tmp_path: Path) -> None:
    old = load(tmp_path)
    # the same medium, three lines further down in ha.cf
    new = load(tmp_path, media=(), extra=("# moved", "", "auto_failback on", "bcast eth1"))
    assert old.hacf.media[0].line != new.hacf.media[0].line
    plan = plan_reload(old, new)
    assert plan.restart_needed == () and plan.changes == ()


def test_media_order_matters(tmp_path: Path) -> None:
    # links are kept in ha.cf order by the running node: a new order is a new set of links
    old = load(tmp_path, media=("bcast eth1", "bcast eth0"))
    plan = plan_reload(old, load(tmp_path, media=("bcast eth0", "bcast eth1")))
    assert plan.restart_needed == ("media (bcast eth1 694, bcast eth0 694 -> "
                                   "bcast eth0 694, bcast eth1 694)",)


# ---- live changes ---------------------------------------------------------------------

def test_timers_change_live(tmp_path: Path) -> None:
    old = load(tmp_path)
    plan = plan_reload(old, load(tmp_path, keepalive="0.25", warntime="1", deadtime="3",
                                 initdead="12"))
    assert plan.restart_needed == ()
    assert plan.changes[:4] == ("keepalive (0.5 -> 0.25)", "deadtime (2.0 -> 3.0)",
                                "warntime (1.5 -> 1.0)", "initdead (4.0 -> 12.0)")
    assert plan.changed


def test_nodes_and_auto_failback_change_live(tmp_path: Path) -> None:
    old = load(tmp_path)
    plan = plan_reload(old, load(tmp_path, nodes=("f801", "f802", "F803"),
                                 extra=("auto_failback off",)))
    assert plan.restart_needed == ()
    assert plan.changes == ("nodes (f801 f802 -> f801 f802 f803)",
                            "auto_failback (on -> off)")


def test_groups_added_removed_changed(tmp_path: Path) -> None:
    old = load(tmp_path, haresources="f801 192.168.1.118 httpd\nf802 10.0.0.50 mysql\n"
                                     "f801 10.0.0.60\n")
    new = load(tmp_path, haresources="f801 192.168.1.118 httpd squid\nf801 10.0.0.50 mysql\n"
                                     "f802 10.0.0.70\n")
    plan = plan_reload(old, new)
    assert plan.groups_added == ("10.0.0.70",)
    assert plan.groups_removed == ("10.0.0.60",)
    # other resources, or another preferred node
    assert plan.groups_changed == ("192.168.1.118", "10.0.0.50")
    assert plan.changes == ("group 10.0.0.70 added", "group 10.0.0.60 removed",
                            "group 192.168.1.118 changed", "group 10.0.0.50 changed")
    assert plan.restart_needed == ()


def test_group_unchanged_when_only_its_line_moves(tmp_path: Path) -> None:
    old = load(tmp_path, haresources="f801 192.168.1.118 httpd\n")
    new = load(tmp_path, haresources="# the web site\n\nF801 192.168.1.118 httpd\n")
    plan = plan_reload(old, new)
    assert plan.groups_changed == () and plan.changes == ()


def test_keys_change_live(tmp_path: Path) -> None:
    old = load(tmp_path)
    plan = plan_reload(old, load(tmp_path, authkeys="auth 1\n1 sha1 another-secret\n"))
    assert plan.keys_changed and plan.changes == ("authkeys",)
    assert plan.restart_needed == ()
    plan = plan_reload(old, load(tmp_path, authkeys="auth 2\n1 sha1 test\n2 md5 test\n"))
    assert plan.keys_changed


def test_authkeys_comments_change_no_key(tmp_path: Path) -> None:
    old = load(tmp_path)
    plan = plan_reload(old, load(tmp_path, authkeys="# keys\nauth 1\n\n1 sha1 test\n"))
    assert not plan.keys_changed and plan.changes == ()


@pytest.mark.parametrize("line", ["logfile /var/log/ha-log", "debugfile /var/log/ha-debug",
                                  "logfacility local0", "debug 1"])
def test_logging_changes_live(tmp_path: Path, line: str) -> None:
    old = load(tmp_path)
    plan = plan_reload(old, load(tmp_path, line))
    assert plan.logging_changed and plan.changes == ("logging",)
    assert not plan.keys_changed and plan.restart_needed == ()


@pytest.mark.parametrize("line", ["ping 10.0.0.1", "ping_group lan 10.0.0.1 10.0.0.2",
                                  "deadping 5"])
def test_ping_nodes_and_deadping_listed_as_live_changes(tmp_path: Path, line: str) -> None:
    old = load(tmp_path)
    plan = plan_reload(old, load(tmp_path, line))
    assert plan.changed
    assert any("ping" in change for change in plan.changes)
