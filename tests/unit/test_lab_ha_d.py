"""The lab's ha.cf timer rewrite: the four values replaced, every other line kept."""

from __future__ import annotations

import pytest

from hapulse.lab.ha_d import with_timers

SEED_LIKE = ("keepalive 1    ## comment\nwarntime 10\ndeadtime 30\ninitdead 120\n"
             "ucast eth1 10.0.0.2\nnode f801\n")


def test_the_four_values_change_and_nothing_else() -> None:
    out = with_timers(SEED_LIKE, "500ms", "2", "5", "10")
    assert out == ("keepalive 500ms    ## comment\nwarntime 2\ndeadtime 5\ninitdead 10\n"
                   "ucast eth1 10.0.0.2\nnode f801\n")
    assert with_timers(SEED_LIKE).startswith("keepalive 200ms")


def test_a_missing_or_repeated_timer_is_an_error() -> None:
    with pytest.raises(ValueError, match="`initdead`"):
        with_timers("keepalive 1\nwarntime 10\ndeadtime 30\n")
    with pytest.raises(ValueError, match="2 `deadtime` lines"):
        with_timers(SEED_LIKE + "deadtime 20\n")
