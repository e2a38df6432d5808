"""The serial transport: Heartbeat's framing read and written, over a real pty.

The frames come from a real Heartbeat 3.0.6 serial line
(tests/fixtures/serial/heartbeat-serial.bin, key `1 sha1 serialkey`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hapulse.config import Medium
from hapulse.transports.serial import MAX_QUEUE, FrameReader, SerialTransport, WriteQueue
from hapulse.wire.auth import Authenticator
from hapulse.wire.message import Message

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "serial" / "heartbeat-serial.bin"
KEY = Authenticator("sha1", 1, b"serialkey")
DATA = FIXTURE.read_bytes()
FRAMES = [p + b"<<<\n" for p in DATA.split(b"<<<\n")[:-1]]


def feed_all(reader: FrameReader, chunks: list[bytes]) -> list[bytes]:
    return [frame for chunk in chunks for frame in reader.feed(chunk)]


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


# ---- reading: FrameReader (pure) ---------------------------------------------
def test_reads_heartbeats_frames_and_they_verify() -> None:
    frames = FrameReader().feed(DATA)
    assert frames == FRAMES and len(frames) == 19
    assert [KEY.decode_and_verify(f)["src"] for f in frames] == ["f801"] * 19


@given(st.lists(st.integers(0, len(DATA)), max_size=40))
def test_any_split_of_the_stream_gives_the_same_frames(cuts: list[int]) -> None:
    reader = FrameReader()
    assert feed_all(reader, split_at(DATA, cuts)) == FRAMES
    assert reader.stats.total() == 0 and reader.buffered == 0


def _clean(garbage: bytes) -> bool:
    """Garbage that cannot end a frame of its own: no `<<<` line once CRs are dropped."""
    return b"<<<" not in garbage.replace(b"\r", b"").split(b"\n")


@given(st.lists(st.binary(max_size=60).filter(_clean), min_size=len(FRAMES) + 1,
                max_size=len(FRAMES) + 1),
       st.lists(st.integers(0, 6000), max_size=20))
def test_garbage_between_frames_is_skipped(garbage: list[bytes], cuts: list[int]) -> None:
    """Line noise, a half-sent frame, a stray >>> line: every whole frame still comes out."""
    stream = b"".join(g + b"\n" + f for g, f in zip(garbage, [*FRAMES, b""], strict=True))
    reader = FrameReader()
    assert feed_all(reader, split_at(stream, cuts)) == FRAMES
    assert reader.buffered <= reader.max_frame


def test_a_cut_frame_is_dropped_and_the_next_one_read() -> None:
    reader = FrameReader()
    cut = FRAMES[0][: len(FRAMES[0]) // 2]
    assert reader.feed(b"noise\n" + cut + b"\n" + FRAMES[1] + FRAMES[2]) == FRAMES[1:3]
    assert reader.stats.cut_frames == 1
    assert reader.stats.garbage_bytes == len(b"noise\n")


def test_crlf_and_cr_are_dropped_as_heartbeats_tty_does() -> None:
    crlf = FRAMES[3].replace(b"\n", b"\r\n")
    assert FrameReader().feed(crlf) == [FRAMES[3]]


def test_a_start_line_must_be_exactly_the_marker() -> None:
    """`>>>x` is not a frame start (Heartbeat's parser refuses it too)."""
    reader = FrameReader()
    assert reader.feed(b">>>x\n" + FRAMES[0][4:]) == []
    assert reader.feed(FRAMES[1]) == [FRAMES[1]]


def test_an_oversized_frame_is_dropped_within_the_bound() -> None:
    reader = FrameReader(max_frame=1024)
    big = b">>>\n" + b"".join(b"x%d=%s\n" % (i, b"y" * 50) for i in range(40)) + b"<<<\n"
    assert reader.feed(big[:700]) == []
    assert reader.buffered <= 1024
    assert reader.feed(big[700:] + FRAMES[0]) == [FRAMES[0]]
    assert reader.stats.oversize_frames == 1


def test_an_endless_line_is_never_held_whole() -> None:
    reader = FrameReader(max_frame=1024)
    for _ in range(100):
        assert reader.feed(b"\xff" * 1000) == []
        assert reader.buffered <= 1024
    assert reader.feed(b"\n" + FRAMES[0]) == [FRAMES[0]]
    assert reader.stats.garbage_bytes == 100 * 1000 + 1  # every skipped byte counted
    reader = FrameReader(max_frame=1024)
    reader.feed(b">>>\nx=" + b"y" * 5000)  # a frame whose one line never ends
    assert reader.buffered <= 1024 and reader.stats.oversize_frames == 1
    assert reader.feed(b"\n" + FRAMES[0]) == [FRAMES[0]]


# ---- writing: WriteQueue -------------------------------------------------------
@pytest.fixture
def small_pipe() -> Iterator[tuple[int, int]]:
    r, w = os.pipe()
    fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    os.set_blocking(w, False)
    try:
        yield r, w
    finally:
        os.close(r)
        os.close(w)


def test_write_queue_finishes_partial_writes_in_order(small_pipe: tuple[int, int]) -> None:
    r, w = small_pipe
    q = WriteQueue()
    for f in FRAMES * 4:  # four times the pipe's 4 KiB
        assert q.put(f)
    q.flush(w)
    assert 0 < len(q) < 4 * len(DATA)  # the pipe took part of it
    got = b""
    for _ in range(100):  # bounded: each turn drains the pipe and refills it
        got += os.read(r, 65536)
        q.flush(w)
        if not len(q):
            break
    got += os.read(r, 65536)
    assert got == DATA * 4 and len(q) == 0


def test_write_queue_refuses_whole_frames_past_its_limit() -> None:
    q = WriteQueue(limit=1000)
    assert q.put(b"a" * 600)
    assert not q.put(b"b" * 600)  # refused whole, never cut
    assert len(q) == 600
    assert MAX_QUEUE >= 64 * 1024


# ---- the transport over a pty ---------------------------------------------------
class Pty:
    """A pty: the transport opens the device, the test plays the other end."""

    def __init__(self) -> None:
        self.master, self.slave = os.openpty()
        self.device = os.ttyname(self.slave)
        os.set_blocking(self.master, False)

    def close(self) -> None:
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture
def pty() -> Iterator[Pty]:
    p = Pty()
    try:
        yield p
    finally:
        p.close()


async def _wait(predicate: object, timeout: float = 5.0) -> None:
    assert callable(predicate)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.01)


def test_transport_reads_heartbeat_and_writes_like_heartbeat(pty: Pty) -> None:
    async def scenario() -> tuple[list[tuple[bytes, str]], bytes, SerialTransport]:
        t = SerialTransport(Medium("serial", device=pty.device, baud=19200))
        got: list[tuple[bytes, str]] = []
        await t.start(lambda data, link, when=None: got.append((data, link)))
        try:
            os.write(pty.master, b"\x00garbage\n" + DATA[:1000])  # a cut in mid-frame
            os.write(pty.master, DATA[1000:])
            await _wait(lambda: len(got) == len(FRAMES))
            for f in FRAMES:  # what hapulse sends: its netstring packet
                t.send(KEY.sign_and_encode(KEY.decode_and_verify(f)))
            out = b""
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while out.count(b"<<<\n") < len(FRAMES) and loop.time() < deadline:
                try:
                    out += os.read(pty.master, 65536)
                except BlockingIOError:
                    await asyncio.sleep(0.01)
        finally:
            await t.close()
        return got, out, t

    got, out, t = asyncio.run(scenario())
    assert [d for d, _ in got] == FRAMES
    assert {link for _, link in got} == {pty.device}
    assert out == DATA  # byte for byte what Heartbeat wrote for the same messages
    assert t.counters.packets_in == t.counters.packets_out == len(FRAMES)
    assert t.counters.bytes_out == len(DATA)
    assert t.reader.stats.garbage_bytes == len(b"\x00garbage\n")


def test_transport_survives_the_other_end_going_away(pty: Pty) -> None:
    """A closed pty reads EIO forever: the transport backs off instead of spinning."""
    async def scenario() -> SerialTransport:
        t = SerialTransport(Medium("serial", device=pty.device))
        await t.start(lambda data, link, when=None: None)
        try:
            os.close(pty.master)
            await _wait(lambda: t.counters.errors >= 1)
            await asyncio.sleep(0.3)  # the interval observed, less than RETRY_READ
            t.send(KEY.sign_and_encode(Message.from_pairs([("t", "status")])))
        finally:
            await t.close()
        return t

    t = asyncio.run(scenario())
    assert 1 <= t.counters.errors <= 3  # one failed read (and the send), not a busy loop


def test_send_of_something_not_a_message_is_counted_not_raised(pty: Pty) -> None:
    async def scenario() -> SerialTransport:
        t = SerialTransport(Medium("serial", device=pty.device))
        await t.start(lambda data, link, when=None: None)
        try:
            t.send(b"not a packet")
        finally:
            await t.close()
        return t

    t = asyncio.run(scenario())
    assert t.counters.errors == 1 and t.counters.packets_out == 0
