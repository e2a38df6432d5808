"""A serial line (``serial DEVICE`` at ``baud``), framed as Heartbeat 3.0.6 frames it.

Heartbeat writes the classic text form on serial lines (``>>>\\n``
``NAME=VALUE`` lines ``<<<\\n``, :mod:`hapulse.wire.classic`), one frame
after another with nothing between them, and reads line by line: it skips
lines until one is ``>>>``, then takes lines up to ``<<<``. This transport
does the same in both directions, so a hapulse node and a Heartbeat node
share one line:

- out: the daemon hands :meth:`SerialTransport.send` its signed packet
  (netstring form); it is rewritten in the classic form with its ``auth``
  field unchanged (:func:`~hapulse.wire.classic.classic_from_packet`, no key
  needed) and written without blocking; what the line cannot take yet waits
  in a bounded queue (whole frames are dropped when it is full, never cut);
- in: :class:`FrameReader` cuts the byte stream into frames, resynchronises
  after garbage or a cut frame (a ``>>>`` line inside a frame starts a new
  one), drops CRs as Heartbeat's tty does (IGNCR) and bounds what it holds;
  each frame goes to ``on_packet`` as it is, and the daemon's
  ``Authenticator.decode_and_verify`` reads the classic form.

The line is set up as Heartbeat sets its own: raw 8N1 at ``baud`` with
RTS/CTS flow control.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hapulse.config import Medium
from hapulse.transports.base import Counters, OnPacket
from hapulse.wire.classic import classic_from_packet
from hapulse.wire.codec import CLASSIC_END, CLASSIC_START, MAX_PACKET
from hapulse.wire.errors import WireError

if TYPE_CHECKING:  # pyserial is imported only when a serial medium starts
    import serial

log = logging.getLogger("hapulse")

START_LINE = CLASSIC_START.rstrip(b"\n")
END_LINE = CLASSIC_END.rstrip(b"\n")
MAX_QUEUE = 64 * 1024  # bytes waiting for the line; at 19200 baud, about 27 s of it
RETRY_READ = 1.0  # seconds before reading again after the line failed (no busy loop)
WARN_EVERY = 60.0  # seconds between two warnings about framing on one line


@dataclass
class FramingStats:
    """What the reader threw away, by why."""

    garbage_bytes: int = 0  # bytes outside any frame
    cut_frames: int = 0  # a frame that a new ``>>>`` line interrupted
    oversize_frames: int = 0  # a frame (or line) longer than the bound

    def total(self) -> int:
        return self.garbage_bytes + self.cut_frames + self.oversize_frames


class FrameReader:
    """Heartbeat's serial framing, pure: bytes in, whole classic frames out.

    Holds at most `max_frame` bytes: a frame (or a line outside frames) that
    grows past it is dropped and the rest of its line skipped.
    """

    def __init__(self, max_frame: int = MAX_PACKET) -> None:
        self.max_frame = max_frame
        self.stats = FramingStats()
        self._partial = bytearray()  # the current line, not yet ended
        self._skip_line = False  # dropping the rest of an oversized line
        self._frame: list[bytes] | None = None  # lines of the frame being read
        self._frame_len = 0

    @property
    def buffered(self) -> int:
        """Bytes held (the frame so far and the current line)."""
        return self._frame_len + len(self._partial)

    def feed(self, data: bytes) -> list[bytes]:
        """The frames that `data` completes, in order."""
        data = data.replace(b"\r", b"")
        out: list[bytes] = []
        pos = 0
        while (nl := data.find(b"\n", pos)) >= 0:  # ends: one turn per line of `data`
            piece, pos = data[pos:nl], nl + 1
            if self._skip_line:  # the end of an oversized line
                self._skip_line = False
                self.stats.garbage_bytes += len(piece) + 1
                continue
            if self._partial:
                piece = bytes(self._partial) + piece
                self._partial.clear()
            self._line(piece, out)
        rest = data[pos:]
        if self._skip_line:
            self.stats.garbage_bytes += len(rest)
        elif rest:
            self._partial += rest
            if self.buffered > self.max_frame:
                self._oversize()
                self.stats.garbage_bytes += len(self._partial)
                self._partial.clear()
                self._skip_line = True
        return out

    def _oversize(self) -> None:
        if self._frame is not None:
            self.stats.oversize_frames += 1
            self._frame, self._frame_len = None, 0

    def _line(self, line: bytes, out: list[bytes]) -> None:
        if line == START_LINE:
            if self._frame is not None:
                self.stats.cut_frames += 1
            self._frame, self._frame_len = [], len(CLASSIC_START)
        elif self._frame is None:
            self.stats.garbage_bytes += len(line) + 1
        elif line == END_LINE:
            out.append(CLASSIC_START + b"".join(ln + b"\n" for ln in self._frame) + CLASSIC_END)
            self._frame, self._frame_len = None, 0
        elif self._frame_len + len(line) + 1 + len(CLASSIC_END) > self.max_frame:
            self._oversize()
        else:
            self._frame.append(line)
            self._frame_len += len(line) + 1


class WriteQueue:
    """Frames waiting for the line, written without blocking; at most `limit` bytes."""

    def __init__(self, limit: int = MAX_QUEUE) -> None:
        self.limit = limit
        self._frames: deque[memoryview] = deque()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def put(self, frame: bytes) -> bool:
        """Queue a whole frame; False (nothing queued) when it would pass the limit."""
        if self._size + len(frame) > self.limit:
            return False
        self._frames.append(memoryview(frame))
        self._size += len(frame)
        return True

    def flush(self, fd: int) -> None:
        """Write what the line takes now; OSError (other than EAGAIN) is raised."""
        while self._frames:  # ends: each turn writes bytes or returns
            head = self._frames[0]
            try:
                n = os.write(fd, head)
            except (BlockingIOError, InterruptedError):
                return
            self._size -= n
            if n == len(head):
                self._frames.popleft()
            else:
                self._frames[0] = head[n:]
                return

    def clear(self) -> None:
        self._frames.clear()
        self._size = 0


class SerialTransport:
    """Heartbeat messages over a serial line, in Heartbeat's classic framing."""

    def __init__(self, medium: Medium) -> None:
        self.medium = medium
        self.kind = "serial"
        self.link: str = medium.link
        self.baud: int = int(medium.baud or 19200)
        self.counters = Counters()
        self.reader = FrameReader()
        self.queue = WriteQueue()
        self._port: serial.Serial | None = None  # noqa: F821
        self._on_packet: OnPacket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writing = False
        self._dropping = False  # frames are being dropped: the line is not draining
        self._reported = 0  # framing problems already in a warning
        self._warned_at = -WARN_EVERY

    async def start(self, on_packet: OnPacket) -> None:
        import serial

        self._on_packet = on_packet
        self._loop = asyncio.get_running_loop()
        # raw 8N1, non-blocking (pyserial opens with O_NONBLOCK), RTS/CTS as Heartbeat sets it
        self._port = serial.Serial(self.link, self.baud, timeout=0, write_timeout=0,
                                   rtscts=True)
        self._loop.add_reader(self._port.fileno(), self._readable)

    # ---- in ---------------------------------------------------------------
    def _readable(self) -> None:
        port, on_packet = self._port, self._on_packet
        if port is None or on_packet is None:
            return
        try:
            chunk = os.read(port.fileno(), 65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # EIO: the other end of a pty is gone, a USB adapter unplugged
            self._read_failed(str(exc.strerror or exc))
            return
        if not chunk:
            self._read_failed("end of file")
            return
        self.counters.bytes_in += len(chunk)
        for frame in self.reader.feed(chunk):
            self.counters.packets_in += 1
            on_packet(frame, self.link)
        self._warn_framing()

    def _read_failed(self, why: str) -> None:
        """Stop reading for RETRY_READ seconds: a failed line stays readable (no busy loop)."""
        self.counters.errors += 1
        if self._port is None or self._loop is None:
            return
        if self.counters.errors == 1 or self.counters.errors % 60 == 0:
            log.warning("serial %s: read failed (%s); retrying every %g s", self.link, why,
                        RETRY_READ)
        fd = self._port.fileno()
        self._loop.remove_reader(fd)
        self._loop.call_later(RETRY_READ, self._resume_reading, fd)

    def _resume_reading(self, fd: int) -> None:
        if self._port is not None and self._loop is not None and self._port.fileno() == fd:
            self._loop.add_reader(fd, self._readable)

    def _warn_framing(self) -> None:
        total = self.reader.stats.total()
        if total == self._reported:
            return
        now = time.monotonic()
        if now - self._warned_at < WARN_EVERY:
            return
        s = self.reader.stats
        log.warning("serial %s: skipped %d byte(s) outside frames, %d cut frame(s), "
                    "%d oversized frame(s) so far", self.link, s.garbage_bytes, s.cut_frames,
                    s.oversize_frames)
        self._reported, self._warned_at = total, now

    # ---- out --------------------------------------------------------------
    def send(self, data: bytes) -> None:
        """Write one signed packet (netstring or classic form) as a classic frame."""
        if self._port is None:
            return
        try:
            frame = classic_from_packet(data)
        except WireError as exc:
            self.counters.errors += 1
            log.warning("serial %s: message not sent: %s", self.link, exc)
            return
        if not self.queue.put(frame):
            self.counters.errors += 1
            if not self._dropping:
                log.warning("serial %s: the line is not taking data (%d bytes waiting); "
                            "dropping messages until it does", self.link, len(self.queue))
            self._dropping = True
            return
        self.counters.packets_out += 1
        self.counters.bytes_out += len(frame)
        self._flush()

    def _flush(self) -> None:
        port, loop = self._port, self._loop
        if port is None or loop is None:
            return
        try:
            self.queue.flush(port.fileno())
        except OSError as exc:
            self.counters.errors += 1
            if self.counters.errors == 1 or self.counters.errors % 100 == 0:
                log.warning("serial %s: write failed: %s", self.link, exc.strerror or exc)
            self.queue.clear()
        if len(self.queue) == 0:
            self._dropping = False
        if len(self.queue) and not self._writing:
            loop.add_writer(port.fileno(), self._flush)
            self._writing = True
        elif not len(self.queue) and self._writing:
            loop.remove_writer(port.fileno())
            self._writing = False

    async def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(port.fileno())
            if self._writing:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_writer(port.fileno())
                self._writing = False
            port.close()
