"""Numeric wire fields are parsed with a bound: an absurd value is a rejected message."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hapulse.wire.auth import Authenticator, Verdict
from hapulse.wire.codec import WireError, decode_packet, encode
from hapulse.wire.errors import RejectReason
from hapulse.wire.message import Message
from hapulse.wire.numbers import MAX_HEX_DIGITS, NUMERIC_FIELDS, is_hex_number

AUTH = Authenticator("sha1", 1, b"seed secret")


def heartbeat(**fields: str) -> Message:
    pairs = {"t": "status", "st": "active", "src": "f801", "seq": "2a", "hg": "6b060ff8",
             "ts": "6b060ff8", "ld": "0.01 0.10 0.16 1/100 14358", "ttl": "3", "dt": "1388"}
    pairs.update(fields)
    return Message.from_pairs(list(pairs.items()))


@pytest.mark.parametrize("name", sorted(NUMERIC_FIELDS))
def test_a_signed_packet_with_a_5000_digit_number_is_a_clean_rejection(name: str) -> None:
    packet = AUTH.sign_and_encode(heartbeat(**{name: "9" * 5000}))
    with pytest.raises(WireError) as exc:
        AUTH.decode_and_verify(packet)
    assert exc.value.reason is RejectReason.BAD_FIELD
    assert f"field {name}=" in str(exc.value) and "5000 characters" in str(exc.value)
    assert AUTH.verify(packet) is Verdict.BAD


@pytest.mark.parametrize("value", ["", "-1", "+1", " 1", "1 ", "0x1f", "1_0", "zz", "１",
                                   "1" * (MAX_HEX_DIGITS + 1)])
def test_numbers_python_would_read_but_heartbeat_never_writes_are_refused(value: str) -> None:
    packet = AUTH.sign_and_encode(heartbeat(seq=value))
    with pytest.raises(WireError) as exc:
        AUTH.decode_and_verify(packet)
    assert exc.value.reason is RejectReason.BAD_FIELD


def test_the_classic_form_is_bounded_too() -> None:
    with pytest.raises(WireError) as exc:
        decode_packet(b">>>\nt=status\nseq=" + b"f" * 17 + b"\n<<<\n")
    assert exc.value.reason is RejectReason.BAD_FIELD
    msg, _ = decode_packet(b">>>\nt=status\nseq=" + b"f" * 16 + b"\n<<<\n")
    assert msg.get_int("seq") == 2**64 - 1


def test_a_binary_numeric_field_is_refused() -> None:
    m = heartbeat()
    m.set("hg", b"\x01\x02")
    with pytest.raises(WireError) as exc:
        decode_packet(encode(m))
    assert exc.value.reason is RejectReason.BAD_FIELD


def test_the_largest_64_bit_values_pass() -> None:
    top = "f" * MAX_HEX_DIGITS
    got = AUTH.decode_and_verify(AUTH.sign_and_encode(heartbeat(seq=top, hg=top.upper())))
    assert got.get_int("seq") == got.get_int("hg") == 2**64 - 1


def test_get_int_raises_the_decoders_error_on_an_absurd_value() -> None:
    m = Message.from_pairs([("seq", "1" * 5000), ("x", "12345678901234567890"),
                            ("y", "123456789012345678901")])
    with pytest.raises(WireError) as exc:
        m.get_int("seq")
    assert exc.value.reason is RejectReason.BAD_FIELD
    assert m.get_int("x", base=10) == 12345678901234567890
    with pytest.raises(WireError):
        m.get_int("y", base=10)


def test_the_next_packets_from_the_same_peer_are_accepted() -> None:
    """Only the absurd packet is dropped (no state is left behind in the decoder)."""
    seen = []
    for seq in ["1", "f" * 5000, "2", "9" * 17, "3"]:
        try:
            seen.append(AUTH.decode_and_verify(AUTH.sign_and_encode(heartbeat(seq=seq))))
        except WireError as exc:
            assert exc.reason is RejectReason.BAD_FIELD
    assert [m.get_int("seq") for m in seen] == [1, 2, 3]


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.sampled_from(sorted(NUMERIC_FIELDS)), st.text(max_size=40))
def test_any_value_is_either_a_bounded_number_or_a_rejection(name: str, value: str) -> None:
    packet = AUTH.sign_and_encode(heartbeat(**{name: value}))
    try:
        msg = AUTH.decode_and_verify(packet)
    except WireError as exc:
        assert exc.reason in (RejectReason.BAD_FIELD, RejectReason.MALFORMED)
        assert not is_hex_number(value) or exc.reason is RejectReason.MALFORMED
        return
    got = msg.get_int(name)
    assert got is not None and 0 <= got < 2**64 and is_hex_number(value)
