"""The status heartbeat's fast paths: a template to send it, a scanner to receive it (pure).

A status heartbeat is most of the traffic: one per keepalive per link from
every node. The general codec builds a :class:`Message` of twelve fields and
signs it twice; here the same bytes cost a fraction of that:

- **Sending** (:class:`StatusEncoder`): hapulse's heartbeat always has the
  same eleven fields in the same order (``t st dt protocol src srcuuid seq
  hg ts ld ttl``, then ``auth``). Only ``seq``, ``ts`` and ``ld`` change
  from one heartbeat to the next (``st``, ``dt`` and ``hg`` change on a
  state change, a reload or a restart: a new template). Both signatures
  cover the fields *in order*, and the first six are constant, so a
  template keeps the two digests' states fed with them (hashlib's
  ``copy()``) and each heartbeat writes and hashes only the rest. The bytes
  are exactly those of :meth:`Authenticator.sign_and_encode`'s general path
  (a property test compares them).
- **Receiving** (:func:`scan_status`): walks the netstrings without building
  fields, checks both signatures and returns a :class:`StatusHeartbeat` with
  what membership reads from one. It never raises and never rejects: for
  anything that is not a well-formed, correctly signed status heartbeat in
  the plain shape Heartbeat and hapulse send (string and binary fields only,
  each name's first occurrence of the expected type) it returns ``None``, and
  the caller takes the general path, which accepts or rejects with its
  reasons. So whatever it accepts, the general path accepts with the same
  values (a property test checks it on captured and mutated packets).

HMAC (RFC 2104) is computed by hand from hashlib objects: ``H(K^opad ||
H(K^ipad || data))``, the two pads hashed once per key, so a digest costs
two ``copy()``s instead of an HMAC set-up. Heartbeat's crc is zlib's CRC-32
on bit-reversed bytes (see :func:`crc32_heartbeat_fast`), so it too can
start from a fed state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from hapulse.wire.message import Field, FieldType, Message
from hapulse.wire.numbers import MAX_HEX_DIGITS, NUMERIC_FIELDS

__all__ = ["PrefixedDigest", "StatusEncoder", "StatusHeartbeat", "crc32_heartbeat_fast",
           "prefixed_digest", "scan_status"]

MAX_PACKET = 64 * 1024  # as the codec's bound
MAX_STATUS_FIELDS = 64  # a heartbeat has 12; anything longer goes the general way


# ---- digests that start from a fed state ---------------------------------------------
class PrefixedDigest(Protocol):
    """A signature method's state after some prefix of the signed text."""

    def hexdigest(self, rest: bytes) -> str:
        """The digest of prefix + rest, as Heartbeat prints it; the state is not changed."""
        ...

    def extended(self, more: bytes) -> PrefixedDigest:
        """A new state fed with `more` after the prefix."""
        ...


class _Hmac:
    """HMAC over hashlib: the inner hash fed with K^ipad (and a prefix), the outer with
    K^opad; each digest copies both."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, inner: hashlib._Hash, outer: hashlib._Hash) -> None:
        self._inner, self._outer = inner, outer

    @classmethod
    def keyed(cls, method: str, secret: bytes) -> _Hmac:
        probe = hashlib.new(method)
        block = probe.block_size
        key = hashlib.new(method, secret).digest() if len(secret) > block else secret
        key = key.ljust(block, b"\0")
        return cls(hashlib.new(method, bytes(b ^ 0x36 for b in key)),
                   hashlib.new(method, bytes(b ^ 0x5C for b in key)))

    def hexdigest(self, rest: bytes) -> str:
        inner = self._inner.copy()
        inner.update(rest)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def extended(self, more: bytes) -> _Hmac:
        inner = self._inner.copy()
        inner.update(more)
        return _Hmac(inner, self._outer)


# bit i of each byte moved to bit 7 - i
_REVERSED = bytes(int(f"{b:08b}"[::-1], 2) for b in range(256))


def _reverse32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little").translate(_REVERSED), "big")


class _Crc:
    """Heartbeat's CRC (polynomial 0x04C11DB7, most significant bit first, initial value
    0, complemented) is the bit-reversal of zlib's reflected CRC-32 over bit-reversed
    bytes: zlib's state starts at 0 when given 0xFFFFFFFF, and its final complement
    is Heartbeat's."""

    __slots__ = ("_state",)

    def __init__(self, state: int = 0xFFFFFFFF) -> None:
        self._state = state

    def hexdigest(self, rest: bytes) -> str:
        return f"{_reverse32(zlib.crc32(rest.translate(_REVERSED), self._state)):x}"

    def extended(self, more: bytes) -> _Crc:
        return _Crc(zlib.crc32(more.translate(_REVERSED), self._state))


def crc32_heartbeat_fast(data: bytes) -> int:
    """Heartbeat's crc of `data` (the same number as auth.crc32_heartbeat), in C."""
    return _reverse32(zlib.crc32(data.translate(_REVERSED), 0xFFFFFFFF))


def prefixed_digest(method: str, secret: bytes, prefix: bytes = b"") -> PrefixedDigest:
    """The state of `method` keyed with `secret` after `prefix`; ValueError if unknown."""
    state: PrefixedDigest
    if method in ("sha1", "md5"):
        state = _Hmac.keyed(method, secret)
    elif method == "crc":
        state = _Crc()
    else:
        raise ValueError(f"unknown auth method {method!r}")
    return state.extended(prefix) if prefix else state


def _netstring(data: bytes) -> bytes:
    return b"%d:%b," % (len(data), data)


def _raw(value: str) -> bytes:
    return value.encode("utf-8", "surrogateescape")  # as the codec writes strings


# ---- sending -------------------------------------------------------------------------
# hapulse's status heartbeat (Membership.heartbeat, stamped), field by field
_LAYOUT = ["t", "st", "dt", "protocol", "src", "srcuuid", "seq", "hg", "ts", "ld", "ttl"]
_S, _B = FieldType.STRING, FieldType.BINARY
_TYPES = [_S, _S, _S, _S, _S, _B, _S, _S, _S, _S, _S]
_TEMPLATES_KEPT = 16  # a node has one or two at a time (st up, then active)


@dataclass(frozen=True, slots=True)
class _Template:
    """The constant parts of one node's status heartbeats, pre-encoded and pre-hashed."""

    head: bytes  # ###\n and the first six fields' netstrings
    inner: PrefixedDigest  # the auth field's digest after the first six fields' lines
    outer: PrefixedDigest  # the packet's digest after `head`
    hg_netstring: bytes
    hg_line: bytes
    ttl_netstring: bytes
    ttl_line: bytes


class StatusEncoder:
    """Signs and encodes hapulse's status heartbeats from templates; byte for byte what
    :meth:`Authenticator.sign_and_encode`'s general path writes."""

    def __init__(self, method: str, key_id: int, secret: bytes) -> None:
        self.key_id = key_id
        self._keyed = prefixed_digest(method, secret)
        self._templates: dict[tuple[str | bytes | Message | list[str], ...], _Template] = {}

    def encode(self, msg: Message) -> bytes | None:
        """The signed packet, or None if `msg` is not a status heartbeat of the layout."""
        fields = msg.fields
        if len(fields) != 11 or [f.name for f in fields] != _LAYOUT \
                or [f.type for f in fields] != _TYPES:
            return None
        t, st, dt, protocol, src, uuid, seq, hg, ts, ld, ttl = (f.value for f in fields)
        if not (isinstance(seq, str) and isinstance(ts, str) and isinstance(ld, str)):
            return None
        key = (t, st, dt, protocol, src, uuid, hg, ttl)
        template = self._templates.get(key)
        if template is None:
            template = self._template(fields)
            if template is None:
                return None
            if len(self._templates) >= _TEMPLATES_KEPT:
                self._templates.clear()
            self._templates[key] = template
        seq_b, ts_b, ld_b = _raw(seq), _raw(ts), _raw(ld)
        inner = template.inner.hexdigest(b"seq=%b\n%bts=%b\nld=%b\n%b" % (
            seq_b, template.hg_line, ts_b, ld_b, template.ttl_line))
        auth = b"%d %s" % (self.key_id, inner.encode())
        rest = b"%d:(0)seq=%b,%b%d:(0)ts=%b,%d:(0)ld=%b,%b%d:(0)auth=%b,%%%%%%\n" % (
            7 + len(seq_b), seq_b, template.hg_netstring, 6 + len(ts_b), ts_b,
            6 + len(ld_b), ld_b, template.ttl_netstring, 8 + len(auth), auth)
        trailer = b"%d %s" % (self.key_id, template.outer.hexdigest(rest).encode())
        return b"%b%b%d:%b," % (template.head, rest, len(trailer), trailer)

    def _template(self, fields: list[Field]) -> _Template | None:
        values = [f.value for f in fields]
        strings = [v for i, v in enumerate(values) if i != 5]
        uuid = values[5]
        if not all(isinstance(v, str) for v in strings) or not isinstance(uuid, bytes):
            return None
        t, st, dt, protocol, src, _, _, hg, _, _, ttl = (
            _raw(v) if isinstance(v, str) else b"" for v in values)
        names = (b"t", b"st", b"dt", b"protocol", b"src")
        lines = b"".join(b"%b=%b\n" % nv for nv in zip(names, (t, st, dt, protocol, src),
                                                         strict=True))
        lines += b"(1)srcuuid=%b\n" % base64.b64encode(uuid)
        head = b"###\n" + b"".join(_netstring(b"(0)%b=%b" % nv) for nv in zip(
            names, (t, st, dt, protocol, src), strict=True)) \
            + _netstring(b"(1)srcuuid=" + uuid)
        return _Template(head=head, inner=self._keyed.extended(lines),
                         outer=self._keyed.extended(head),
                         hg_netstring=_netstring(b"(0)hg=" + hg), hg_line=b"hg=%b\n" % hg,
                         ttl_netstring=_netstring(b"(0)ttl=" + ttl),
                         ttl_line=b"ttl=%b\n" % ttl)


# ---- receiving -----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class StatusHeartbeat:
    """What membership reads from a verified status heartbeat, each field as
    :class:`Message` would give it (``get``, ``get_int``, ``get_bytes``: the first
    field of that name)."""

    src: str
    st: str | None
    seq: int | None
    hg: int | None
    ts: int  # 0 when absent, as membership reads it
    uuid: bytes | None


_HEX_DIGITS = b"0123456789abcdefABCDEF"
_NUMERIC = frozenset(n.encode() for n in NUMERIC_FIELDS)
# the fields read from a status heartbeat, by the type their first occurrence must have
_WANTED = {b"t": 0, b"st": 0, b"src": 0, b"seq": 0, b"hg": 0, b"ts": 0, b"srcuuid": 1,
           b"auth": 0}
_NO_KEY: tuple[str, bytes] = ("", b"")


def _signature_ok(text: bytes, data: bytes, keys: Mapping[int, tuple[str, bytes]],
                  keyed: dict[int, PrefixedDigest]) -> bool:
    """`KEYID HEX` is a correct signature of `data` by one of `keys`."""
    kid, _, given = text.partition(b" ")
    if not kid.isdigit() or not given:  # bytes.isdigit: ASCII digits only
        return False
    key_id = int(kid)
    state = keyed.get(key_id)
    if state is None:
        method, secret = keys.get(key_id, _NO_KEY)
        if not method:
            return False
        try:
            state = keyed[key_id] = prefixed_digest(method, secret)
        except ValueError:
            return False
    return hmac.compare_digest(state.hexdigest(data).encode(), given.lower())


# The fast receive: a status heartbeat starts with its type, as Heartbeat's and hapulse's
# do; the fields before `seq` (type, status, deadtime, protocol, src, srcuuid) are the same
# in every heartbeat of one sender until its state changes, so a packet whose bytes up to
# its `seq` netstring equal a head seen in an accepted packet starts from that head's
# parse and digest states, and only its tail is read (one regex, its lengths checked).
_STATUS_START = b"###\n11:(0)t=status,"
_TAIL = re.compile(
    rb"([0-9]{1,11}):\(0\)seq=([0-9a-fA-F]{1,16}),([0-9]{1,11}):\(0\)hg=([0-9a-fA-F]{1,16}),"
    rb"([0-9]{1,11}):\(0\)ts=([0-9a-fA-F]{1,16}),([0-9]{1,11}):\(0\)ld=([^,]*),"
    rb"([0-9]{1,11}):\(0\)ttl=([0-9a-fA-F]{1,16}),([0-9]{1,11}):\(0\)auth=([^,]*),"
    rb"%%%\n([0-9]{1,11}):([^,]*),\Z")
_TAIL_NAMES = frozenset((b"seq", b"hg", b"ts", b"auth"))  # read from the tail, not the head
_HEADS_KEPT = 64  # a sender has one or two at a time (st up, then active)


@dataclass(frozen=True, slots=True)
class _Head:
    """The parse and digest states after an accepted status heartbeat's head."""

    kid: bytes  # the key id both its signatures used
    inner: PrefixedDigest  # the auth field's digest after the head's lines
    outer: PrefixedDigest  # the packet's digest after the head's bytes
    src: str
    st: str | None
    uuid: bytes | None


Heads = dict[bytes, _Head]


def scan_status(packet: bytes, keys: Mapping[int, tuple[str, bytes]],
                keyed: dict[int, PrefixedDigest], heads: Heads) -> StatusHeartbeat | None:
    """A correctly signed status heartbeat's fields, or None: take the general path.

    `keys` are the authkeys (key id -> (method, secret)); `keyed` (their digest
    states) and `heads` (heads of accepted heartbeats) are caches the caller keeps
    with the keys, filled here.
    """
    if not packet.startswith(_STATUS_START) or len(packet) > MAX_PACKET:
        return None
    at = packet.find(b":(0)seq=", len(_STATUS_START))
    split = packet.rfind(b",", 0, at) + 1 if at > 0 else 0
    head = heads.get(packet[:split]) if split else None
    if head is None:
        return _scan_all(packet, keys, keyed, heads)
    m = _TAIL.match(packet, split)
    if m is None:
        return _scan_all(packet, keys, keyed, heads)
    (n_seq, seq, n_hg, hg, n_ts, ts, n_ld, ld, n_ttl, ttl, n_auth, auth, n_trailer,
     trailer) = m.groups()
    kid, _, given = auth.partition(b" ")
    kid2, _, given2 = trailer.partition(b" ")
    if kid != head.kid or kid2 != head.kid:
        return _scan_all(packet, keys, keyed, heads)
    if (int(n_seq) != 7 + len(seq) or int(n_hg) != 6 + len(hg) or int(n_ts) != 6 + len(ts)
            or int(n_ld) != 6 + len(ld) or int(n_ttl) != 7 + len(ttl)
            or int(n_auth) != 8 + len(auth) or int(n_trailer) != len(trailer)
            or not given or not given2 or b"%%%\n" in trailer):
        return None
    inner = head.inner.hexdigest(b"seq=%b\nhg=%b\nts=%b\nld=%b\nttl=%b\n" % (
        seq, hg, ts, ld, ttl))
    if not hmac.compare_digest(inner.encode(), given.lower()):
        return None
    outer = head.outer.hexdigest(packet[split:m.start(13)])
    if not hmac.compare_digest(outer.encode(), given2.lower()):
        return None
    return StatusHeartbeat(src=head.src, st=head.st, seq=int(seq, 16), hg=int(hg, 16),
                           ts=int(ts, 16), uuid=head.uuid)


def _scan_all(packet: bytes, keys: Mapping[int, tuple[str, bytes]],
              keyed: dict[int, PrefixedDigest], heads: Heads) -> StatusHeartbeat | None:
    """The whole packet, netstring by netstring, as the codec reads it; on success its
    head (the fields before the first `seq`) is kept for :func:`scan_status`."""
    size = len(packet)
    find = packet.find
    pos = 4
    lines: list[bytes] = []  # the auth field's signed text, line by line
    first: dict[bytes, bytes] = {}  # name -> value, first occurrence of the wanted names
    head: tuple[int, int, dict[bytes, bytes]] | None = None  # (pos, lines, first) at `seq`
    while not packet.startswith(b"%%%\n", pos):
        colon = find(b":", pos, pos + 12)
        if colon < 0:
            return None
        digits = packet[pos:colon]
        if not digits.isdigit():
            return None
        start = colon + 1
        end = start + int(digits)
        if end >= size or packet[end] != 0x2C or len(lines) >= MAX_STATUS_FIELDS:  # b","
            return None
        item = packet[start:end]
        eq = item.find(b"=", 3)
        if eq <= 3 or item[0] != 0x28 or item[2] != 0x29:  # "(" and ")"
            return None
        kind = item[1] - 0x30  # the type digit; "(00)" and types 2-5 go the general way
        name = item[3:eq]
        value = item[eq + 1:]
        if name == b"seq" and head is None:
            head = (pos, len(lines), dict(first))
        pos = end + 1
        if kind == 0:
            if name != b"auth":
                lines.append(item[3:])
            if name in _NUMERIC and not (
                    0 < len(value) <= MAX_HEX_DIGITS and not value.translate(None, _HEX_DIGITS)):
                return None
        elif kind == 1:
            if name in _NUMERIC:
                return None
            if name != b"auth":
                lines.append(b"(1)%b=%b" % (name, base64.b64encode(value)))
        else:
            return None
        wanted = _WANTED.get(name)
        if wanted is not None and name not in first:
            if kind != wanted:
                return None
            first[name] = value
    if first.get(b"t") != b"status":
        return None
    body_end = pos + 4
    trailer: bytes | None = None
    if body_end < size:  # the packet's signature
        colon = find(b":", body_end, body_end + 12)
        if colon < 0:
            return None
        digits = packet[body_end:colon]
        if not digits.isdigit():
            return None
        end = colon + 1 + int(digits)
        if end + 1 != size or packet[end] != 0x2C:
            return None
        trailer = packet[colon + 1:end]
        if b"%%%\n" in trailer or not _signature_ok(trailer, packet[:body_end], keys, keyed):
            return None
    auth = first.get(b"auth")
    if auth is None or not _signature_ok(auth, b"".join(x + b"\n" for x in lines), keys, keyed):
        return None
    src = first.get(b"src")
    if src is None:
        return None
    seq, hg, ts, st = first.get(b"seq"), first.get(b"hg"), first.get(b"ts"), first.get(b"st")
    hb = StatusHeartbeat(
        src=src.decode("utf-8", "surrogateescape"),
        st=None if st is None else st.decode("utf-8", "surrogateescape"),
        seq=None if seq is None else int(seq, 16), hg=None if hg is None else int(hg, 16),
        ts=0 if ts is None else int(ts, 16), uuid=first.get(b"srcuuid"))
    if head is not None and trailer is not None:
        _keep_head(packet, head, lines, auth, trailer, hb, keyed, heads)
    return hb


def _keep_head(packet: bytes, head: tuple[int, int, dict[bytes, bytes]], lines: list[bytes],
               auth: bytes, trailer: bytes, hb: StatusHeartbeat,
               keyed: dict[int, PrefixedDigest], heads: Heads) -> None:
    """Keep an accepted heartbeat's head if its tail is the plain one the regex reads."""
    split, n_lines, first = head
    kid = auth.partition(b" ")[0]
    if (kid != trailer.partition(b" ")[0] or not _TAIL_NAMES.isdisjoint(first)
            or b"src" not in first or _TAIL.match(packet, split) is None):
        return
    state = keyed[int(kid)]  # filled by _signature_ok
    if len(heads) >= _HEADS_KEPT:
        heads.clear()
    heads[packet[:split]] = _Head(
        kid=kid, inner=state.extended(b"".join(x + b"\n" for x in lines[:n_lines])),
        outer=state.extended(packet[:split]), src=hb.src, st=hb.st, uuid=hb.uuid)
