"""Fuzzing harness: the wire decoder and the control protocol, seeded from real captures.

CI runs it for a bounded time (fixed example counts, derandomized); for a
longer hunt set HAPULSE_FUZZ_EXAMPLES (e.g. 20000) and, optionally,
HAPULSE_FUZZ_RANDOM=1 to explore new examples instead of the fixed ones.

Contracts checked:
- the decoder raises WireError (AuthError included) and nothing else;
- a message it accepts re-encodes to the same bytes and every standard
  numeric field in it is 1-16 hex digits (no core ever sees an absurd one),
  even when the packet is correctly signed (a key holder's bug or malice);
- the control protocol answers every line with (command, args) it can bind
  or BadRequest, nothing else.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hapulse.config import parse_authkeys
from hapulse.runtime import BadRequest, parse_request
from hapulse.wire.auth import Authenticator
from hapulse.wire.codec import WireError, decode_packet, encode
from hapulse.wire.errors import RejectReason
from hapulse.wire.message import Message
from hapulse.wire.numbers import NUMERIC_FIELDS, is_hex_number

CAPTURES = Path(__file__).resolve().parents[2].parent / "shared" / "heartbeat" / "capture"
METHODS = ("sha1", "md5", "crc")
EXAMPLES = int(os.environ.get("HAPULSE_FUZZ_EXAMPLES", "600"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                derandomize=os.environ.get("HAPULSE_FUZZ_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

pytestmark = pytest.mark.skipif(not CAPTURES.is_dir(),
                                reason=f"no captures at {CAPTURES} (the shared folder)")


def _corpus() -> dict[str, list[bytes]]:
    if not CAPTURES.is_dir():
        return {m: [] for m in METHODS}
    import dpkt

    out: dict[str, list[bytes]] = {}
    for method in METHODS:
        with open(CAPTURES / f"seed-{method}.pcap", "rb") as f:
            out[method] = [bytes(dpkt.ethernet.Ethernet(buf).data.data.data)
                           for _ts, buf in dpkt.pcap.Reader(f)]
    return out


def _authenticator(method: str) -> Authenticator:
    keys, diags = parse_authkeys((CAPTURES / f"seed-{method}.authkeys").read_text(), mode=0o600)
    assert keys is not None, diags
    return Authenticator.from_authkeys(keys)


CORPUS = _corpus()
SEEDS = [(m, p) for m in METHODS for p in CORPUS[m]] or [("sha1", b"###\n%%%\n")]
AUTH = {m: _authenticator(m) for m in METHODS} if CAPTURES.is_dir() else {}


def check_accepted(msg: Message) -> None:
    for f in msg:
        if f.name in NUMERIC_FIELDS:
            assert isinstance(f.value, str) and is_hex_number(f.value), (f.name, f.value)
            value = msg.get_int(f.name)
            assert value is not None and 0 <= value < 2**64


def decode_everywhere(packet: bytes) -> None:
    """Decode (and verify with each capture's key): WireError or a sound message."""
    try:
        msg, trailer = decode_packet(packet)
    except WireError as exc:
        assert isinstance(exc.reason, RejectReason)
    else:
        check_accepted(msg)
        assert encode(msg, trailer) == packet
    for auth in AUTH.values():
        try:
            check_accepted(auth.decode_and_verify(packet))
        except WireError as exc:
            assert isinstance(exc.reason, RejectReason)


# ---- byte-level mutations of captured packets -------------------------------------------

edit = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 400), st.integers(0, 255)),
    st.tuples(st.just("insert"), st.integers(0, 400), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("delete"), st.integers(0, 400), st.integers(1, 40)),
    st.tuples(st.just("repeat"), st.integers(0, 400), st.integers(1, 20000)),
)


def apply(packet: bytes, edits: list[tuple[str, int, Any]]) -> bytes:
    b = bytearray(packet)
    for kind, pos, arg in edits:
        pos = min(pos, len(b))
        if kind == "set" and pos < len(b):
            b[pos] = arg
        elif kind == "insert":
            b[pos:pos] = arg
        elif kind == "delete":
            del b[pos:pos + arg]
        elif kind == "repeat":  # a digit run: "seq=1" -> "seq=1111..." and netstring lengths
            b[pos:pos + 1] = b[pos:pos + 1] * min(arg, 70_000)
    return bytes(b)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(edit, max_size=6), st.sampled_from(SEEDS),
       st.booleans())
def test_fuzz_decoder_with_mutated_captures(seed: tuple[str, bytes],
                                            edits: list[tuple[str, int, Any]],
                                            other: tuple[str, bytes], splice: bool) -> None:
    packet = apply(seed[1], edits)
    if splice:  # the head of one packet and the tail of another
        packet = packet[: len(packet) // 2] + other[1][len(other[1]) // 2:]
    decode_everywhere(packet)


# ---- field-level mutations, re-signed with the capture's key ----------------------------

field_value = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "-1", "0x10", " 7", "1_0", "ffffffffffffffff", "1" * 17, "9" * 5000]),
    st.binary(max_size=30),
)


@FUZZ
@given(st.sampled_from(SEEDS),
       st.lists(st.tuples(st.sampled_from(sorted(NUMERIC_FIELDS | {"t", "src", "st", "x"})),
                          field_value, st.sampled_from(["set", "append", "remove"])),
                min_size=1, max_size=4))
def test_fuzz_signed_messages_with_absurd_fields(seed: tuple[str, bytes],
                                                 changes: list[tuple[str, Any, str]]) -> None:
    method, packet = seed
    msg, _ = decode_packet(packet)
    for name, value, how in changes:
        if how == "remove":
            msg.remove(name)
        elif how == "append":
            msg.append(name, value)
        else:
            msg.set(name, value)
    signed = AUTH[method].sign_and_encode(msg)  # a key holder sent it
    numbers_ok = all(isinstance(f.value, str) and is_hex_number(f.value)
                     for f in msg if f.name in NUMERIC_FIELDS)
    try:
        got = AUTH[method].decode_and_verify(signed)
    except WireError as exc:
        assert not numbers_ok or exc.reason is not RejectReason.BAD_FIELD
        return
    check_accepted(got)
    assert numbers_ok


# ---- the control protocol ---------------------------------------------------------------

def _handlers() -> dict[str, Any]:
    async def standby(which: str = "all") -> dict[str, Any]:
        return {"ok": True}

    return {"ping": lambda **_: {"ok": True}, "status": lambda: {"ok": True},
            "standby": standby, "takeover": lambda which="all": {"ok": True}}


HANDLERS = _handlers()
json_value = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                          lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                          max_leaves=8)
request_line = st.one_of(
    st.binary(max_size=200),
    st.builds(lambda d: json.dumps(d).encode(), json_value),
    st.builds(lambda cmd, args: json.dumps({"cmd": cmd, **args}).encode(),
              st.sampled_from([*HANDLERS, "stop", "", "PING"]) | st.text(max_size=8),
              st.dictionaries(st.sampled_from(["which", "cmd2", "seconds"]), json_value,
                              max_size=2)),
    st.builds(lambda n: b"[" * n, st.integers(1, 200_000)),
)


@FUZZ
@given(request_line, st.integers(0, 5))
def test_fuzz_control_requests(line: bytes, cut: int) -> None:
    if cut:
        line = line[: len(line) * cut // 6]  # partial JSON too
    try:
        cmd, args = parse_request(line + b"\n", HANDLERS)
    except BadRequest as exc:
        assert str(exc)
        return
    assert cmd in HANDLERS
    inspect.signature(HANDLERS[cmd]).bind(**args)
    result = HANDLERS[cmd](**args)
    if inspect.isawaitable(result):
        result = asyncio.run(result)  # type: ignore[arg-type]
    assert result == {"ok": True}
