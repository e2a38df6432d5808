"""A serial line (``serial DEVICE`` at ``baud``): messages one after another.

Messages are framed by the netstring markers (``###\\n`` ... signature
``,``), with a newline between messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from hapulse.config import Medium
from hapulse.transports.base import Counters, OnPacket

if TYPE_CHECKING:  # pyserial is imported only when a serial medium starts
    import serial

log = logging.getLogger("hapulse")


class SerialTransport:
    """Heartbeat messages over a serial line, one after another."""

    def __init__(self, medium: Medium) -> None:
        self.medium = medium
        self.kind = "serial"
        self.link: str = medium.link
        self.baud: int = int(medium.baud or 19200)
        self.counters = Counters()
        self._port: serial.Serial | None = None  # noqa: F821
        self._buf = b""
        self._on_packet: OnPacket | None = None

    async def start(self, on_packet: OnPacket) -> None:
        import serial

        self._on_packet = on_packet
        self._port = serial.Serial(self.link, self.baud, timeout=0, write_timeout=0)
        asyncio.get_running_loop().add_reader(self._port.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._port is not None and self._on_packet is not None
        try:
            chunk = self._port.read(65536)
        except OSError:
            self.counters.errors += 1
            return
        self._buf += chunk
        for _ in range(1000):
            start = self._buf.find(b"###\n")
            if start < 0:
                self._buf = self._buf[-3:]
                return
            end = self._buf.find(b"%%%\n", start)
            if end < 0:
                self._buf = self._buf[start:][-65536:]
                return
            sig_end = self._buf.find(b",", end + 4)
            if sig_end < 0:
                self._buf = self._buf[start:]
                return
            data = self._buf[start:sig_end + 1]
            self._buf = self._buf[sig_end + 1:]
            self.counters.packets_in += 1
            self.counters.bytes_in += len(data)
            self._on_packet(data, self.link)

    def send(self, data: bytes) -> None:
        if self._port is None:
            return
        try:
            self._port.write(data + b"\n")
        except Exception as exc:  # pyserial raises its own SerialException too
            self.counters.errors += 1
            log.warning("serial %s: write failed: %s", self.link, exc)
            return
        self.counters.packets_out += 1
        self.counters.bytes_out += len(data)

    async def close(self) -> None:
        if self._port is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._port.fileno())
            self._port.close()
