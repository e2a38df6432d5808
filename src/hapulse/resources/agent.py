"""What every resource agent is: the `Agent` protocol and its `Result`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

LogFn = Callable[[str, str], None]
"""Where agents write their log lines: ``log(level, text)``."""


@dataclass(frozen=True)
class Result:
    """The outcome of one agent operation; `reason` says why when `ok` is false."""

    ok: bool
    reason: str = ""
    resource: str = ""


class Agent(Protocol):
    """One haresources word: started, stopped and checked, each with a bounded run time."""

    @property
    def text(self) -> str:
        """The resource as written in haresources (its name in logs and status)."""
        ...

    async def start(self) -> Result: ...

    async def stop(self) -> Result: ...

    async def status(self) -> Result: ...
