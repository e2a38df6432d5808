"""The classic text form against a real Heartbeat 3.0.6 serial line (the fixture).

tests/fixtures/serial/heartbeat-serial.bin holds 19 frames f801 wrote on
its serial medium (README beside it: how, and the key `1 sha1 serialkey`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hapulse.wire.auth import Authenticator, AuthError
from hapulse.wire.classic import (
    classic_bytes,
    classic_from_packet,
    decode_classic,
    encode_classic,
)
from hapulse.wire.codec import decode_packet, encode
from hapulse.wire.errors import RejectReason, WireError
from hapulse.wire.message import Field, FieldType, Message
from hapulse.wire.numbers import NUMERIC_FIELDS

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "serial" / "heartbeat-serial.bin"
KEY = Authenticator("sha1", 1, b"serialkey")
OTHER_KEY = Authenticator("sha1", 1, b"not-the-key")


def fixture_frames() -> list[bytes]:
    data = FIXTURE.read_bytes()
    parts = data.split(b"<<<\n")
    assert parts[-1] == b"", "the fixture ends after a whole frame"
    return [p + b"<<<\n" for p in parts[:-1]]


FRAMES = fixture_frames()


def test_fixture_is_heartbeats_classic_form() -> None:
    """What Heartbeat writes: >>> ... <<< frames back to back, text only, no trailer."""
    assert len(FRAMES) == 19
    assert b"".join(FRAMES) == FIXTURE.read_bytes()  # nothing between frames
    for frame in FRAMES:
        assert frame.startswith(b">>>\n") and frame.endswith(b"\n<<<\n")
        lines = frame.split(b"\n")[1:-2]
        assert all(b"=" in line for line in lines)
        assert lines[-1].startswith(b"auth=1 ")  # the signature field is last
        assert all(32 <= b < 127 or b == 10 for b in frame)
    types = {decode_classic(f, KEY)["t"] for f in FRAMES}
    assert {"status", "reqnodes", "repnodes", "NS_ackmsg", "starting", "resource"} <= types


@pytest.mark.parametrize("index", range(len(FRAMES)))
def test_decode_and_verify_each_heartbeat_frame(index: int) -> None:
    msg = decode_classic(FRAMES[index], KEY)
    assert msg["src"] == "f801"
    uuid = msg.field("srcuuid")
    assert uuid is not None and uuid.type is FieldType.BINARY and isinstance(uuid.value, bytes)
    assert len(uuid.value) == 16
    seqs = [decode_classic(f, KEY).get_int("seq") for f in FRAMES[:index + 1]]
    numbered = [s for s in seqs if s is not None]  # NS_ackmsg goes without a seq
    assert numbered == list(range(1, len(numbered) + 1))  # in order, none lost
    assert decode_classic(FRAMES[index], KEY) == KEY.decode_and_verify(FRAMES[index])


@pytest.mark.parametrize("index", range(len(FRAMES)))
def test_re_encoding_reproduces_heartbeats_bytes(index: int) -> None:
    """Heartbeat's form is deterministic: re-signing the decoded message gives its bytes."""
    frame = FRAMES[index]
    msg = decode_classic(frame, KEY)
    assert classic_bytes(msg) == frame
    assert encode_classic(msg.copy(without=("auth",)), KEY) == frame
    # what the serial transport sends: hapulse's netstring packet, rewritten without the key
    assert classic_from_packet(KEY.sign_and_encode(msg)) == frame


def test_wrong_key_is_rejected() -> None:
    with pytest.raises(AuthError) as exc:
        decode_classic(FRAMES[0], OTHER_KEY)
    assert exc.value.reason is RejectReason.BAD_SIGNATURE


def test_a_changed_field_breaks_the_signature() -> None:
    forged = FRAMES[1].replace(b"st=up", b"st=dead")
    with pytest.raises(AuthError):
        decode_classic(forged, KEY)


def test_unsigned_frame_is_rejected() -> None:
    unsigned = b"".join(line + b"\n" for line in FRAMES[0].split(b"\n")[:-1]
                        if not line.startswith(b"auth="))
    with pytest.raises(WireError) as exc:
        decode_classic(unsigned, KEY)
    assert exc.value.reason is RejectReason.UNSIGNED


@pytest.mark.parametrize("frame", [
    FRAMES[0][4:],                       # no start line
    FRAMES[0][:-4],                      # no end line
    FRAMES[0] + b"x=1\n",                # bytes after the end
    FRAMES[0] + FRAMES[1],               # two frames
    b"###\n" + FRAMES[0][4:],            # the netstring marker
])
def test_malformed_frames_raise_wire_error(frame: bytes) -> None:
    with pytest.raises(WireError):
        decode_classic(frame, KEY)


def test_netstring_packet_is_not_a_classic_frame() -> None:
    with pytest.raises(WireError):
        decode_classic(KEY.sign_and_encode(decode_classic(FRAMES[0], KEY)), KEY)


@pytest.mark.parametrize("field", [
    Field("x", FieldType.STRING, "two\nlines"),
    Field("x", FieldType.STRING, "cr\r"),
    Field("x", FieldType.STRING, "nul\0"),
    Field("x", FieldType.STRING, "ends like the end line <<<"),
    Field("a=b", FieldType.STRING, "1"),
    Field("", FieldType.STRING, "1"),
    Field("(1)x", FieldType.STRING, "1"),
    Field("nested", FieldType.STRUCT, Message.from_pairs([("a", "1")])),
    Field("l", FieldType.LIST, ["a", "b"]),
])
def test_fields_the_classic_form_cannot_carry_are_refused(field: Field) -> None:
    msg = Message([Field("t", FieldType.STRING, "status"), field])
    with pytest.raises(WireError) as exc:
        encode_classic(msg, KEY)
    assert exc.value.reason is RejectReason.BAD_FIELD


def test_packet_without_auth_cannot_be_converted() -> None:
    msg = Message.from_pairs([("t", "status"), ("src", "f802")])
    with pytest.raises(WireError) as exc:
        classic_from_packet(encode(msg))
    assert exc.value.reason is RejectReason.UNSIGNED


def test_classic_and_netstring_sign_the_same_text() -> None:
    """The auth field survives the conversion: both forms verify with the same value."""
    msg = Message.from_pairs([("t", "status"), ("src", "f802"), ("srcuuid", bytes(range(16))),
                              ("seq", "2a"), ("ld", "0.00 0.01 0.05 1/99 1")])
    packet = KEY.sign_and_encode(msg)
    frame = classic_from_packet(packet)
    assert decode_packet(packet)[0] == decode_classic(frame, KEY)


# ---- properties -------------------------------------------------------------
# names and values Heartbeat's classic form carries: no line or string ends, no '='
# in a name, a name not starting with '(' and values not ending like the end line
_text = st.text(st.characters(codec="utf-8", exclude_characters="\n\r\0"),
                max_size=40)
_names = st.text(st.characters(codec="utf-8", exclude_characters="\n\r\0="),
                 min_size=1, max_size=12).filter(
    lambda n: not n.startswith("(") and n != "auth" and n not in NUMERIC_FIELDS)  # those are
# bounded hex numbers, checked on decode (tests/unit/test_wire_bounds.py)
_values = _text.filter(lambda v: not v.endswith("<<<"))
_fields = st.lists(st.tuples(_names, st.one_of(_values, st.binary(max_size=40))), max_size=12)


@given(_fields)
def test_round_trip(pairs: list[tuple[str, str | bytes]]) -> None:
    msg = Message.from_pairs(pairs)
    frame = encode_classic(msg, KEY)
    decoded = decode_classic(frame, KEY)
    assert decoded.copy(without=("auth",)) == msg.copy(without=("auth",))
    assert classic_bytes(decoded) == frame
