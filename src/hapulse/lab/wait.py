"""Waiting on a condition with a deadline: how tests and the lab synchronise."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T | None], timeout: float, interval: float = 0.05,
             what: str = "") -> T:
    """Poll `predicate` until it returns a truthy value (returned) or `timeout` seconds pass.

    Raises TimeoutError naming `what` when the deadline passes first.
    """
    deadline = time.monotonic() + timeout
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what or predicate}")
        time.sleep(interval)
