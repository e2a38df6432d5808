"""hapulse.monitors.policy.MonitorPolicy, fed results and `now` by hand: when checks run,
the restart budget in its window, the move, cleanup, events only on transitions."""

from __future__ import annotations

from collections.abc import Sequence

from hapulse.config.settings import MonitorSettings
from hapulse.monitors.policy import (
    FailCount,
    MonitorAction,
    MonitorPolicy,
    Move,
    Notify,
    Restart,
    RunCheck,
)

VIP = "192.168.1.118"
GROUPS = {VIP: (VIP, "httpd"), "10.0.0.50": ("10.0.0.50", "db")}


def settings(resource: str = "httpd", interval: float = 2.0, restarts: int = 2,
             window: float = 60.0, timeout: float = 1.0) -> MonitorSettings:
    return MonitorSettings(resource, interval, timeout, restarts, window, kind="lsb")


def policy(*monitors: MonitorSettings) -> MonitorPolicy:
    return MonitorPolicy(monitors or (settings(),), GROUPS, 0.0)


def checks(out: Sequence[MonitorAction]) -> list[RunCheck]:
    return [a for a in out if isinstance(a, RunCheck)]


def notes(out: Sequence[MonitorAction]) -> list[str]:
    return [a.state for a in out if isinstance(a, Notify)]


def fail(p: MonitorPolicy, now: float, result: str = "failed") -> list[MonitorAction]:
    """Run the due check of httpd at `now` and answer it `result`."""
    (run,) = checks(p.tick(now, {VIP}))
    return p.on_result("httpd", run.token, result, "not running (exit 3)", 0.01, now)


def restart_ok(p: MonitorPolicy, now: float) -> list[MonitorAction]:
    return p.restart_done(VIP, "httpd", True, "", now)


def test_nothing_runs_until_the_group_runs_here_then_every_interval() -> None:
    p = policy()
    assert p.tick(0.0, set()) == [] and p.next_deadline() is None
    assert p.tick(1.0, {VIP}) == []  # seen running: first check one interval on
    assert p.next_deadline() == 3.0
    assert p.tick(2.9, {VIP}) == []
    (run,) = checks(p.tick(3.0, {VIP}))
    assert run.resource == "httpd"
    assert p.tick(10.0, {VIP}) == []  # in flight: never a second one at once
    assert p.next_deadline() is None
    assert p.on_result("httpd", run.token, "ok", "running", 0.02, 3.5) == []  # no transition
    assert p.next_deadline() == 5.5  # an interval after the result


def test_failure_restarts_in_place_with_events_on_transitions_only() -> None:
    p = policy()
    p.tick(0.0, {VIP})
    out = fail(p, 2.0)
    assert [a for a in out if isinstance(a, Restart)] == [Restart(VIP, "httpd")]
    assert notes(out) == ["failed"]
    assert FailCount(VIP, 1) in out
    assert p.tick(100.0, {VIP}) == []  # paused while it restarts
    out = restart_ok(p, 3.0)
    assert notes(out) == ["restarted"]
    p.tick(3.0, {VIP})  # resumes: the next check an interval on
    (run,) = checks(p.tick(5.0, {VIP}))
    assert notes(p.on_result("httpd", run.token, "ok", "", 0.01, 5.0)) == ["recovered"]
    (run,) = checks(p.tick(7.0, {VIP}))
    assert notes(p.on_result("httpd", run.token, "ok", "", 0.01, 7.0)) == []
    assert p.fail_count(VIP) == 1


def test_restart_budget_spent_within_the_window_moves_the_group() -> None:
    p = policy(settings(restarts=2, window=60.0))
    p.tick(0.0, {VIP})
    t = 2.0
    for _ in range(2):
        assert any(isinstance(a, Restart) for a in fail(p, t))
        restart_ok(p, t)
        p.tick(t, {VIP})
        t += 2.0
    out = fail(p, t)
    assert not any(isinstance(a, Restart) for a in out)
    (move,) = [a for a in out if isinstance(a, Move)]
    assert move.group == VIP and "2 restart(s) within 60 s" in move.reason
    assert "moved" in notes(out)
    assert p.fail_count(VIP) == 3
    assert p.tick(t + 100, {VIP}) == []  # paused while it moves


def test_restarts_older_than_the_window_no_longer_count() -> None:
    p = policy(settings(restarts=1, window=10.0))
    p.tick(0.0, {VIP})
    assert any(isinstance(a, Restart) for a in fail(p, 2.0))
    restart_ok(p, 2.5)
    p.tick(2.5, {VIP})
    # 11 s after the first restart: the window has moved past it; restarted again
    (run,) = checks(p.tick(13.0, {VIP}))
    out = p.on_result("httpd", run.token, "failed", "", 0.01, 13.0)
    assert any(isinstance(a, Restart) for a in out)
    restart_ok(p, 13.5)
    p.tick(13.5, {VIP})
    out = fail(p, 15.5)  # within 10 s of the last: the budget (1) is spent
    assert any(isinstance(a, Move) for a in out)


def test_restarts_zero_moves_at_once() -> None:
    p = policy(settings(restarts=0))
    p.tick(0.0, {VIP})
    out = fail(p, 2.0)
    assert [type(a) for a in out if isinstance(a, Move | Restart)] == [Move]


def test_a_failed_restart_moves_the_group_and_counts() -> None:
    p = policy()
    p.tick(0.0, {VIP})
    fail(p, 2.0)
    out = p.restart_done(VIP, "httpd", False, "start exited 1", 3.0)
    (move,) = [a for a in out if isinstance(a, Move)]
    assert "restarting httpd failed: start exited 1" in move.reason
    assert FailCount(VIP, 2) in out


def test_timeout_is_its_own_state_and_counts_as_a_failure() -> None:
    p = policy()
    p.tick(0.0, {VIP})
    out = fail(p, 2.0, "timeout")
    assert notes(out) == ["timeout"]
    assert any(isinstance(a, Restart) for a in out)


def test_group_stopping_pauses_its_monitors_and_drops_a_late_result() -> None:
    p = policy()
    p.tick(0.0, {VIP})
    (run,) = checks(p.tick(2.0, {VIP}))
    assert p.tick(2.5, set()) == []  # the group stops here (standby, a move, a release)
    assert p.on_result("httpd", run.token, "failed", "", 0.01, 3.0) == []  # stale
    assert p.fail_count(VIP) == 0
    assert p.next_deadline() is None
    assert p.tick(10.0, {VIP}) == []  # running again: an interval from now
    assert p.next_deadline() == 12.0


def test_after_a_move_the_group_leaving_ends_the_pause_and_cleanup_forgets() -> None:
    p = policy(settings(restarts=0))
    p.tick(0.0, {VIP})
    fail(p, 2.0)
    p.tick(3.0, set())  # released here
    assert p.cleanup(VIP) == [FailCount(VIP, 0)]
    assert p.fail_count(VIP) == 0
    p.tick(10.0, {VIP})  # back after cleanup (auto_failback)
    (run,) = checks(p.tick(12.0, {VIP}))
    assert notes(p.on_result("httpd", run.token, "ok", "", 0.01, 12.0)) == ["recovered"]
    assert p.cleanup(VIP) == []  # nothing to clear


def test_cleanup_resets_the_restart_budget() -> None:
    p = policy(settings(restarts=1))
    p.tick(0.0, {VIP})
    fail(p, 2.0)
    restart_ok(p, 2.0)
    p.cleanup(VIP)
    p.tick(2.0, {VIP})
    assert any(isinstance(a, Restart) for a in fail(p, 4.0))


def test_configure_adds_changes_and_removes_monitors() -> None:
    p = policy()
    p.tick(0.0, {VIP})
    p.configure([settings(interval=1.0), settings("db")], GROUPS, 0.5)
    assert p.next_deadline() == 1.5  # the shorter interval applies at once
    p.tick(0.5, {VIP, "10.0.0.50"})
    assert {v.resource for v in p.view(0.5)} == {"httpd", "db"}
    (run,) = checks(p.tick(1.5, {VIP}))
    p.configure([settings("db")], GROUPS, 1.6)
    assert p.on_result("httpd", run.token, "failed", "", 0.01, 1.7) == []  # removed
    assert [v.resource for v in p.view(2.0)] == ["db"]


def test_a_monitor_for_no_haresources_resource_is_ignored() -> None:
    p = policy(settings("nosuch"))
    assert p.view(0.0) == []


def test_view_reports_the_last_result() -> None:
    p = policy()
    p.tick(0.0, {VIP})
    fail(p, 2.0)
    (v,) = p.view(2.0)
    assert (v.last, v.last_at, v.state, v.restarts_in_window) == ("failed", 2.0, "failed", 1)
    assert v.reason == "not running (exit 3)"
