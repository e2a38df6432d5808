"""The daemon collects its cyclic garbage at quiet moments, not under the raised thresholds.

realtime.apply freezes the start-up heap and raises the collector's thresholds, which
keeps collections off the heartbeat path but let each resource operation's cyclic
garbage (pyroute2 leaves about 900 objects a netlink call) pile up for hours: the
arenas it filled stayed fragmented, +260 kB resident per switchover (test_failover_netns'
memory test measures the daemon; here, the two places that collect)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import solo_daemon

from hapulse.config import ResourceGroup
from hapulse.resources.agent import Result
from hapulse.states import GroupOp


class Cycle:
    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def no_automatic_gc() -> Iterator[None]:
    """Only the daemon's own collections may free a cycle (as under realtime.apply)."""
    was = gc.isenabled()
    gc.disable()
    yield
    if was:
        gc.enable()


def test_a_group_operation_leaves_no_cyclic_garbage(tmp_path: Path,
                                                    no_automatic_gc: None) -> None:
    d = solo_daemon(tmp_path, haresources="solo 10.9.9.9\n")
    gid = next(iter(d._groups))
    refs: list[weakref.ref[Cycle]] = []

    async def acquire(group: ResourceGroup) -> Result:
        refs.append(weakref.ref(Cycle()))  # garbage at once, and only a collection frees it
        return Result(True)

    d.resources.acquire = acquire  # type: ignore[method-assign]

    async def main() -> None:
        d._loop = asyncio.get_running_loop()
        await d._run_group(GroupOp.ACQUIRE, gid)

    asyncio.run(main())
    assert refs and refs[0]() is None


def test_the_timer_collects_every_so_often(tmp_path: Path, no_automatic_gc: None) -> None:
    from hapulse.daemon import COLLECT_EVERY

    d = solo_daemon(tmp_path)
    clock = [100.0]
    d.now = lambda: clock[0]  # type: ignore[method-assign]
    d._on_timer()  # the first wake-up collects
    ref = weakref.ref(Cycle())
    clock[0] += COLLECT_EVERY / 2
    d._on_timer()
    assert ref() is not None  # not yet: at most once per COLLECT_EVERY
    clock[0] += COLLECT_EVERY / 2
    d._on_timer()
    assert ref() is None
