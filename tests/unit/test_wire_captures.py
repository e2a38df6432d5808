"""The wire codec and signatures against packets captured from real Heartbeat 3.0.6."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hapulse.cli import main
from hapulse.config import parse_authkeys
from hapulse.lab.paths import captures_dir
from hapulse.wire.auth import Authenticator, AuthError, Verdict, digest
from hapulse.wire.codec import WireError, decode, decode_packet, encode
from hapulse.wire.message import Message

FOUND = captures_dir()
if FOUND is None:
    pytest.skip("needs the shared folder's Heartbeat captures (../shared beside the checkout, "
                "or $HAPULSE_SHARED)", allow_module_level=True)
CAPTURES: Path = FOUND
METHODS = ("sha1", "md5", "crc")


def packets(method: str) -> list[bytes]:
    out = []
    with open(CAPTURES / f"seed-{method}.pcap", "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            out.append(bytes(dpkt.ethernet.Ethernet(buf).data.data.data))
    return out


def authenticator(method: str) -> Authenticator:
    text = (CAPTURES / f"seed-{method}.authkeys").read_text()
    keys, diags = parse_authkeys(text, mode=0o600)
    assert keys is not None, diags
    return Authenticator.from_authkeys(keys)


@pytest.mark.parametrize("method", METHODS)
def test_every_captured_packet_verifies_and_round_trips(method: str) -> None:
    auth = authenticator(method)
    pkts = packets(method)
    assert len(pkts) > 80
    for p in pkts:
        assert auth.verify(p) is Verdict.OK
        msg, trailer = decode_packet(p)
        assert encode(msg, trailer) == p
        assert msg["t"] and msg["src"] in ("f801", "f802")


@pytest.mark.parametrize("method", METHODS)
def test_one_flipped_byte_in_the_body_is_bad(method: str) -> None:
    auth = authenticator(method)
    p = packets(method)[5]
    body_end = p.index(b"%%%\n")
    for i in range(4, body_end, 7):
        mutated = bytearray(p)
        mutated[i] ^= 0x01
        assert auth.verify(bytes(mutated)) is Verdict.BAD, i


@pytest.mark.parametrize("method", METHODS)
def test_signed_by_hapulse_verifies_on_the_receive_path(method: str) -> None:
    auth = authenticator(method)
    msg = Message.from_pairs([("t", "status"), ("st", "active"), ("src", "f802"),
                              ("srcuuid", bytes(range(16))), ("seq", "2a"), ("hg", "1")])
    packet = auth.sign_and_encode(msg)
    got = auth.decode_and_verify(packet)
    assert got["st"] == "active" and got.get_bytes("srcuuid") == bytes(range(16))
    # the same packet is accepted by an authenticator built from the capture's keys
    assert authenticator(method).verify(packet) is Verdict.OK


def test_resigning_a_captured_packet_reproduces_heartbeats_bytes() -> None:
    auth = authenticator("sha1")
    for p in packets("sha1")[:20]:
        msg = decode(p)
        assert auth.sign_and_encode(msg) == p


def test_unknown_key_is_nokey_and_missing_signature_is_bad() -> None:
    p = packets("sha1")[0]
    other = Authenticator("sha1", 7, b"other")
    assert other.verify(p) is Verdict.NOKEY
    msg, _ = decode_packet(p)
    msg.remove("auth")
    with pytest.raises(AuthError):
        authenticator("sha1").decode_and_verify(encode(msg))


def test_non_ascii_bytes_in_the_auth_field_are_a_bad_signature() -> None:
    """A forged in-message signature with bytes that are not text: BAD, not a crash."""
    a = Authenticator("sha1", 1, b"key")
    signed, _ = a.sign(Message.from_pairs([("t", "status"), ("src", "f801")]))
    signed.set("auth", "1 \udc80" + (signed.get("auth") or "")[3:])
    body = encode(signed)
    outer = digest("sha1", b"key", body)  # the packet's own signature is right
    packet = encode(signed, f"1 {outer}".encode())
    assert b"\x80" in packet
    with pytest.raises(AuthError) as exc:
        a.decode_and_verify(packet)
    assert exc.value.verdict == Verdict.BAD


def test_decode_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["decode", "--json", "--authkeys", str(CAPTURES / "seed-md5.authkeys"),
               str(CAPTURES / "seed-md5.pcap")])
    assert rc == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(recs) == len(packets("md5"))
    first = recs[0]
    assert {"time", "src", "dst", "type", "from", "seq", "generation", "fields", "auth"} <= \
        set(first)
    assert first["type"] == "status" and first["from"] in ("f801", "f802")
    assert isinstance(first["seq"], int)
    assert {r["auth"] for r in recs} == {"ok"}


def test_decode_cli_without_key_says_nokey(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", str(CAPTURES / "seed-crc.pcap")]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all("auth nokey" in line for line in out)


def test_decode_cli_rejects_a_non_pcap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "x.pcap"
    f.write_bytes(b"not a capture")
    assert main(["decode", str(f)]) == 1
    assert "not a pcap capture" in capsys.readouterr().err


ALL = [p for m in METHODS for p in packets(m)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_only_raise_wireerror(data: bytes) -> None:
    with contextlib.suppress(WireError):
        decode_packet(data)
    assert authenticator("sha1").verify(data) in (Verdict.BAD, Verdict.NOKEY, Verdict.OK)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ALL), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                      max_size=6), st.integers(0, 400))
def test_mutated_captured_packets_only_raise_wireerror(
    p: bytes, edits: list[tuple[int, int]], cut: int
) -> None:
    b = bytearray(p)
    for pos, val in edits:
        if pos < len(b):
            b[pos] = val
    data = bytes(b[: len(b) - cut]) if cut else bytes(b)
    with contextlib.suppress(WireError):
        decode_packet(data)
    for m in METHODS:
        assert authenticator(m).verify(data) in (Verdict.OK, Verdict.BAD, Verdict.NOKEY)
