"""The global budget for "rejected packet" log lines: counts, burst, rate, summary."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from hapulse.wire.auth import AuthError, RejectLimiter, Verdict
from hapulse.wire.errors import RejectReason, WireError, reason_of
from hapulse.wire.rejects import RejectBudget, RejectLimits

SUMMARY = re.compile(r"^suppressed (\d+) packets from (\d+\+?) sources in the last (\d+) s$")


def test_a_burst_then_one_line_per_second_whatever_the_sources() -> None:
    b = RejectBudget(RejectLimits(rate=1.0, burst=5, interval=10.0))
    logged = [b.note(f"10.0.0.{i % 250}:{1024 + i}", RejectReason.MALFORMED, 100.0)
              for i in range(1000)]
    assert logged[:5] == [True] * 5 and not any(logged[5:])
    assert not b.note("10.9.9.9:1", RejectReason.MALFORMED, 100.5)
    assert b.note("10.9.9.9:2", RejectReason.MALFORMED, 101.0)  # one token a second
    assert not b.note("10.9.9.9:3", RejectReason.MALFORMED, 101.2)


def test_counts_by_reason_include_every_reason() -> None:
    b = RejectBudget()
    b.note("a", RejectReason.BAD_SIGNATURE, 0.0)
    b.note("a", RejectReason.BAD_SIGNATURE, 0.0)
    b.note("b", RejectReason.BAD_FIELD, 0.0)
    counts = b.counts()
    assert set(counts) == {r.value for r in RejectReason}
    assert counts["bad_signature"] == 2 and counts["bad_field"] == 1 and counts["no_key"] == 0
    assert b.total() == 3
    counts["malformed"] = 99  # a copy: the budget's own counts do not change
    assert b.counts()["malformed"] == 0


def test_summary_counts_suppressed_packets_and_distinct_sources() -> None:
    b = RejectBudget(RejectLimits(rate=1.0, burst=1, interval=10.0))
    assert b.next_deadline() is None and b.summary(50.0) is None
    assert b.note("s0", RejectReason.MALFORMED, 50.0)
    for i in range(30):
        assert not b.note(f"s{i % 7}", RejectReason.MALFORMED, 50.0 + i * 0.01)
    assert b.next_deadline() == pytest.approx(60.0)  # first suppressed at 50.0, period 10 s
    assert b.summary(59.9) is None
    line = b.summary(60.0)
    assert line is not None
    m = SUMMARY.match(line)
    assert m is not None, line
    assert (m[1], m[2], m[3]) == ("30", "7", "10")
    assert b.summary(61.0) is None and b.next_deadline() is None


def test_summary_is_not_due_before_its_period() -> None:
    b = RejectBudget(RejectLimits(rate=1.0, burst=1, interval=10.0))
    b.note("x", RejectReason.MALFORMED, 0.0)
    b.note("x", RejectReason.MALFORMED, 0.5)  # suppressed: the period starts here
    assert b.next_deadline() == pytest.approx(10.5)
    assert b.summary(10.4) is None
    assert b.summary(10.5) == "suppressed 1 packets from 1 sources in the last 10 s"


def test_sources_remembered_are_bounded_and_the_overflow_said() -> None:
    b = RejectBudget(RejectLimits(rate=1.0, burst=1, interval=1.0, max_sources=100))
    for i in range(5000):
        b.note(f"10.0.{i // 256}.{i % 256}:{i}", RejectReason.MALFORMED, 0.0)
    assert len(b._sources) == 100
    line = b.summary(1.0)
    assert line == "suppressed 4999 packets from 100+ sources in the last 1 s"


def test_errors_carry_their_reason() -> None:
    assert reason_of(WireError("x")) is RejectReason.MALFORMED
    assert reason_of(AuthError(Verdict.NOKEY, "k")) is RejectReason.NO_KEY
    assert reason_of(AuthError(Verdict.BAD, "k")) is RejectReason.BAD_SIGNATURE
    assert reason_of(UnicodeError("bug")) is RejectReason.DECODER_BUG


def test_the_old_limiter_name_is_the_global_budget() -> None:
    old = RejectLimiter()
    lines = sum(old.should_log(f"10.0.0.1:{port}", 0.0) for port in range(1000, 2000))
    assert lines == old.limits.burst
    assert old.counts()["malformed"] == 1000


def test_invalid_limits_are_refused() -> None:
    with pytest.raises(ValueError):
        RejectLimits(rate=0)


# one step: (seconds since the previous one, a packet (source) or a summary call (None))
steps = st.lists(st.tuples(st.floats(0, 3, allow_nan=False),
                           st.one_of(st.none(), st.integers(0, 50))), max_size=400)


@settings(max_examples=500, deadline=None, derandomize=True)
@example([(0.0, 0), (0.0, 0), (1.0, None), (0.0, 0), (1.0, None)], 0.25, 1, 1.0)
@given(steps, st.floats(0.2, 5), st.integers(1, 8), st.floats(0.5, 20))
def test_lines_in_any_window_stay_within_the_budget(
    seq: list[tuple[float, int | None]], rate: float, burst: int, interval: float
) -> None:
    b = RejectBudget(RejectLimits(rate=rate, burst=burst, interval=interval))
    now, packets, logged_packets, summarised = 0.0, 0, 0, 0
    lines: list[float] = []  # when each log line (packet or summary) was written
    for dt, what in seq:
        now += dt
        if what is None:
            line = b.summary(now)
            if line is not None:
                m = SUMMARY.match(line)
                assert m is not None, line
                assert int(m[1]) > 0
                summarised += int(m[1])
                lines.append(now)
        else:
            packets += 1
            if b.note(f"src{what}", RejectReason.MALFORMED, now):
                logged_packets += 1
                lines.append(now)
    # every packet is counted, and either logged, summed up, or waiting for its summary
    assert b.total() == packets
    pending = b.held
    assert packets == logged_packets + summarised + pending
    assert (pending == 0) == (b.next_deadline() is None)
    # in any window of T seconds: at most 2 * burst + rate * T lines
    for i, start in enumerate(lines):
        for j in range(i, len(lines)):
            assert j - i + 1 <= 2 * burst + rate * (lines[j] - start) + 1e-6, (start, lines[j])
