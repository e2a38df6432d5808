"""STONITH bookkeeping: one reset at a time, retried every FENCE_RETRY, given up after
FENCE_ATTEMPTS, forgotten when the peer is seen alive again."""

from __future__ import annotations

from hapulse.actions import Fence, Log
from hapulse.policy.fencing import FENCE_ATTEMPTS, FENCE_RETRY, Fencing
from hapulse.states import LogLevel


def test_a_reset_is_asked_once_until_it_ends() -> None:
    f = Fencing()
    first = f.request("f801", 10.0)
    assert [a for a in first if isinstance(a, Fence)] == [Fence("f801")]
    assert f.request("f801", 10.5) == []  # one runs
    log = f.finished("f801", True, 11.0)
    assert log.level is LogLevel.INFO and f.reset("f801") and f.fenced() == ("f801",)
    assert f.request("f801", 12.0) == []  # done: never twice


def test_a_failed_reset_is_retried_then_given_up_at_crit() -> None:
    f = Fencing()
    now = 0.0
    lines: list[Log] = []
    for _ in range(FENCE_ATTEMPTS):
        assert any(isinstance(a, Fence) for a in f.request("f801", now))
        lines.append(f.finished("f801", False, now))
        assert f.request("f801", now + FENCE_RETRY - 0.01) == []  # not before the retry
        deadline = f.next_deadline(now)
        now += FENCE_RETRY
        assert deadline == now or (deadline is None and len(lines) == FENCE_ATTEMPTS)
    assert all(line.level is LogLevel.CRITICAL for line in lines)
    assert "giving up" in lines[-1].text and "retrying" in lines[0].text
    assert f.request("f801", now + 100) == [] and f.failures == FENCE_ATTEMPTS
    assert not f.reset("f801")


def test_a_peer_seen_alive_again_must_be_reset_again() -> None:
    f = Fencing()
    f.request("f801", 0.0)
    f.finished("f801", True, 1.0)
    f.forget("f801")
    assert not f.reset("f801")
    assert any(isinstance(a, Fence) for a in f.request("f801", 2.0))
