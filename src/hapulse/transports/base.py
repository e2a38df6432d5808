"""What every Heartbeat medium is: its face to the daemon and its counters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class OnPacket(Protocol):
    """Called with each datagram (or serial frame), where it came from, and when it
    arrived on the monotonic clock (None: now; a polled socket's datagrams waited)."""

    def __call__(self, data: bytes, source: str, when: float | None = None) -> None: ...


@dataclass
class Counters:
    packets_in: int = 0
    packets_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    errors: int = 0
    kernel_drops: int = 0  # dropped by the kernel before the daemon read them (filter, full)


class Transport(Protocol):
    """A medium: ``link`` is the link name Heartbeat reports (interface or device)."""

    kind: str
    link: str

    @property
    def counters(self) -> Counters: ...

    async def start(self, on_packet: OnPacket) -> None: ...

    def send(self, data: bytes) -> None: ...

    async def close(self) -> None: ...
