"""The status heartbeat's fast paths against the general ones (hapulse.wire.fastpath).

Sending: the template writes exactly the general encoder's bytes. Receiving:
whatever the fast path accepts, the general path accepts with the same values
and the membership core does the same with it; what the general path rejects,
the fast path never accepts. Packets: hapulse's own heartbeats, Heartbeat
3.0.6's captured ones, and both mutated.
"""

from __future__ import annotations

from pathlib import Path

import dpkt
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from hapulse.actions import Send
from hapulse.config import parse_authkeys
from hapulse.lab.paths import captures_dir
from hapulse.membership import Membership, Timers
from hapulse.states import NodeState
from hapulse.wire.auth import Authenticator, crc32_heartbeat
from hapulse.wire.codec import decode_packet
from hapulse.wire.errors import WireError
from hapulse.wire.fastpath import StatusHeartbeat, crc32_heartbeat_fast
from hapulse.wire.message import Message

METHODS = ("sha1", "md5", "crc")
TIMERS = Timers(keepalive=1.0, deadtime=30.0, warntime=10.0, initdead=120.0)
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

hex_number = st.integers(min_value=0, max_value=2**64 - 1).map(lambda n: f"{n:x}")
secrets = st.binary(min_size=1, max_size=100)  # past the 64-byte HMAC block: hashed keys
authenticators = st.builds(Authenticator, st.sampled_from(METHODS),
                           st.integers(min_value=1, max_value=15), secrets)


def heartbeat(src: str, st_word: str, dt: str, uuid: bytes, seq: str, hg: str, ts: str,
              ld: str) -> Message:
    """A status heartbeat in hapulse's layout (Membership.heartbeat, stamped)."""
    return Message.from_pairs([("t", "status"), ("st", st_word), ("dt", dt), ("protocol", "1"),
                               ("src", src), ("srcuuid", uuid), ("seq", seq), ("hg", hg),
                               ("ts", ts), ("ld", ld), ("ttl", "3")])


# ---- sending ---------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(auth=authenticators, src=st.sampled_from(["f801", "f802", "node-ä", "x" * 40]),
       st_word=st.sampled_from(["init", "up", "active", "dead"]), dt=hex_number,
       uuid=st.binary(min_size=16, max_size=16), seqs=st.lists(hex_number, min_size=1,
                                                                max_size=4),
       hg=hex_number, ts=hex_number,
       ld=st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_the_template_writes_the_general_encoders_bytes(
        auth: Authenticator, src: str, st_word: str, dt: str, uuid: bytes, seqs: list[str],
        hg: str, ts: str, ld: str) -> None:
    for seq in seqs:  # the first builds the template, the next ones use it
        msg = heartbeat(src, st_word, dt, uuid, seq, hg, ts, ld)
        assert auth._encoder is None or auth._encoder.encode(msg) is not None
        assert auth.sign_and_encode(msg) == auth.sign_and_encode_general(msg)
    assert auth._encoder is not None and auth._encoder.encode(msg) is not None


@pytest.mark.parametrize("method", METHODS)
def test_the_membership_cores_heartbeats_take_the_template(method: str) -> None:
    auth = Authenticator(method, 3, b"secret")
    core = Membership("f801", ("f801", "f802"), ("eth1",), TIMERS, generation=7,
                      uuid=bytes(range(16)), now=100.0, clock_offset=1.8e9)
    for now in (100.0, 101.0, 102.0, 221.0, 222.0):  # the peer dead after initdead: active
        for a in core.tick(now):
            if isinstance(a, Send):
                assert auth.sign_and_encode(a.msg) == auth.sign_and_encode_general(a.msg)
    assert auth._encoder is not None and len(auth._encoder._templates) == 2  # up, active


def test_the_heartbeat_built_field_by_field_is_the_stamped_one() -> None:
    """Membership.heartbeat builds its Message directly: the same fields, types and
    values as stamping `t st dt protocol`, the same sequence number and history."""
    cores = [Membership("f801", ("f801", "f802"), ("eth1",), TIMERS, generation=11,
                        uuid=b"\xff" * 16, now=5.0, clock_offset=1.7e9) for _ in range(2)]
    for now in (5.0, 6.5, 130.0):
        cores[0].tick(now)
        cores[1].tick(now)  # the peer dead after initdead: st=active
        fast = cores[0].heartbeat(now)
        core = cores[1]
        stamped = core._stamp(Message.from_pairs([
            ("t", "status"), ("st", str(core.status)),
            ("dt", f"{int(core.timers.deadtime * 1000):x}"), ("protocol", "1")]), now)
        assert fast == stamped and fast.fields == stamped.fields
        assert cores[0].seq == core.seq and list(cores[0].history) == list(core.history)


def test_other_messages_take_the_general_path() -> None:
    auth = Authenticator("sha1", 1, b"k")
    ack = Message.from_pairs([("t", "NS_ackmsg"), ("dest", "f802"), ("ackseq", "a"),
                              ("src", "f801"), ("hg", "1"), ("ts", "2"), ("ttl", "3")])
    assert auth.sign_and_encode(ack) == auth.sign_and_encode_general(ack)
    assert auth._encoder is not None and auth._encoder.encode(ack) is None
    shuffled = heartbeat("f801", "up", "1", b"u" * 16, "1", "1", "1", "ld")
    shuffled.fields.reverse()
    assert auth._encoder.encode(shuffled) is None
    assert auth.sign_and_encode(shuffled) == auth.sign_and_encode_general(shuffled)


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_the_zlib_crc_is_heartbeats_crc(data: bytes) -> None:
    assert crc32_heartbeat_fast(data) == crc32_heartbeat(data)


# ---- receiving: the packets ----------------------------------------------------------
def captured(method: str) -> tuple[Authenticator, list[bytes]]:
    found = captures_dir()
    if found is None:
        pytest.skip("needs the shared folder's Heartbeat captures")
    keys, diags = parse_authkeys((found / f"seed-{method}.authkeys").read_text(), mode=0o600)
    assert keys is not None, diags
    out = []
    with open(found / f"seed-{method}.pcap", "rb") as f:
        for _ts, buf in dpkt.pcap.Reader(f):
            out.append(bytes(dpkt.ethernet.Ethernet(buf).data.data.data))
    return Authenticator.from_authkeys(keys), out


def own(method: str, n: int = 30) -> tuple[Authenticator, list[bytes]]:
    """f802's heartbeats (up, then active) and acknowledgements, signed by hapulse."""
    auth = Authenticator(method, 2, b"HI!")
    sender = Membership("f802", ("f801", "f802"), ("eth1",), TIMERS, generation=9,
                        uuid=b"\x00,:=%\n" + bytes(10), now=0.0, clock_offset=1.8e9)
    hearer = Membership("f801", ("f801", "f802"), ("eth1",), TIMERS, generation=3,
                        uuid=bytes(16), now=0.0, clock_offset=1.8e9)
    out = []
    for i in range(n):
        for a in sender.tick(float(i)) + hearer.tick(float(i)):
            assert isinstance(a, Send)
            packet = auth.sign_and_encode(a.msg)
            out.append(packet)
            if a.msg["src"] == "f801":
                sender.receive(auth.decode_and_verify(packet), "eth1", float(i))
    return auth, out


def general(auth: Authenticator, packet: bytes) -> Message | None:
    try:
        return auth.decode_and_verify(packet)
    except WireError:
        return None


def assert_same_reading(hb: StatusHeartbeat, msg: Message) -> None:
    """The fast path's fields are what Membership.receive reads from the Message."""
    assert msg.get("t") == "status"
    assert (hb.src, hb.st, hb.seq, hb.hg, hb.ts, hb.uuid) == (
        msg.get("src"), msg.get("st"), msg.get_int("seq"), msg.get_int("hg"),
        msg.get_int("ts") or 0, msg.get_bytes("srcuuid"))


def status_packets(method: str) -> tuple[Authenticator, list[bytes]]:
    auth, pkts = captured(method)
    return auth, [p for p in pkts if decode_packet(p)[0].get("t") == "status"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("source", [captured, own])
def test_every_status_heartbeat_is_read_fast_and_the_same(method: str, source: object) -> None:
    assert callable(source)
    auth, packets = source(method)
    fast = 0
    for p in packets:
        msg = general(auth, p)
        assert msg is not None
        hb = auth.verify_status(p)
        if msg.get("t") != "status":
            assert hb is None
            continue
        assert hb is not None, p
        assert_same_reading(hb, msg)
        fast += 1
    assert fast > 10
    assert auth._heads  # the tail-only path was taken


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("source", [captured, own])
def test_both_paths_drive_membership_the_same(method: str, source: object) -> None:
    """Two cores hear the same packets, one through the fast path where it applies:
    the same actions, packet after packet, and the same view at the end."""
    assert callable(source)
    auth, packets = source(method)
    now = 0.0

    def core() -> Membership:
        return Membership("f801", ("f801", "f802"), ("eth1",), TIMERS, generation=5,
                          uuid=bytes(16), now=now, clock_offset=1.8e9)

    fast_core, slow_core = core(), core()
    for i, p in enumerate(packets * 2):  # the second round: replays, refreshing nobody
        now = i * 0.5
        msg = general(auth, p)
        assert msg is not None
        hb = auth.verify_status(p)
        slow = slow_core.receive(msg, "eth1", now)
        fast = fast_core.receive_status(hb, "eth1", now) if hb is not None \
            else fast_core.receive(msg, "eth1", now)
        assert fast == slow, (i, p)
        assert fast_core.tick(now + 0.25) == slow_core.tick(now + 0.25)
    assert fast_core.view(now) == slow_core.view(now)
    assert fast_core.peer_status("f802") is not NodeState.INIT


# ---- receiving: mutated packets ------------------------------------------------------
def pools() -> list[tuple[Authenticator, list[bytes]]]:
    out = [own(m, 6) for m in METHODS]
    if captures_dir() is not None:
        out += [status_packets(m) for m in METHODS]
    return out


POOLS = pools()
FIELD_BYTES = [b",", b":", b"=", b"(", b")", b"0", b"1", b"9", b"a", b"F", b"%%%\n", b" ",
               b"\xff", b"\x00", b"seq", b"10:(0)seq=1,", b"8:(0)t=st,", b"(1)", b"12"]


@st.composite
def mutations(draw: st.DrawFn) -> tuple[Authenticator, bytes, bytes]:
    """(authenticator, an accepted packet, the packet mutated one to three times)."""
    auth, packets = draw(st.sampled_from(POOLS))
    packet = draw(st.sampled_from(packets))
    mutated = bytearray(packet)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        at = draw(st.integers(min_value=0, max_value=len(mutated)))
        how = draw(st.sampled_from(["flip", "insert", "delete", "replace", "truncate"]))
        if how == "flip" and at < len(mutated):
            mutated[at] ^= 1 << draw(st.integers(min_value=0, max_value=7))
        elif how == "insert":
            mutated[at:at] = draw(st.sampled_from(FIELD_BYTES) | st.binary(max_size=4))
        elif how == "delete":
            del mutated[at:at + draw(st.integers(min_value=1, max_value=12))]
        elif how == "replace":
            piece = draw(st.sampled_from(FIELD_BYTES))
            mutated[at:at + len(piece)] = piece
        else:
            del mutated[at:]
    return auth, packet, bytes(mutated)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations())
def test_a_mutated_packet_is_accepted_fast_only_if_the_general_path_accepts_it(
        case: tuple[Authenticator, bytes, bytes]) -> None:
    auth, original, mutated = case
    assume(mutated != original)
    fresh = Authenticator(auth.method, auth.key_id, auth.secret, dict(auth.keys))
    for cold in (True, False):  # a cold cache (the whole scan), then after the original
        if not cold:
            assert fresh.verify_status(original) is not None
        hb = fresh.verify_status(mutated)
        msg = general(fresh, mutated)
        if msg is None:
            assert hb is None, mutated
        elif hb is not None:
            assert_same_reading(hb, msg)


def test_a_forged_heartbeat_with_a_known_head_is_not_accepted() -> None:
    auth, packets = own("sha1", 6)
    heartbeats = [p for p in packets if b"t=status" in p]
    assert auth.verify_status(heartbeats[-1]) is not None
    forged = heartbeats[-1].replace(b"(0)seq=", b"(0)seq=1", 1).replace(b"8:(0)seq", b"9:(0)seq")
    assert auth.verify_status(forged) is None
    with pytest.raises(WireError):
        auth.decode_and_verify(forged)
    other_key = Authenticator("sha1", 2, b"not HI!")
    assert other_key.verify_status(heartbeats[-1]) is None
