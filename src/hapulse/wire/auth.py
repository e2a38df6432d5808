"""Message signatures exactly as Heartbeat 3.0.6 computes them (pure).

A packet carries two signatures, both ``KEYID HEXDIGEST``:

- the ``auth`` field inside the message: the digest of the other fields in
  order, each written ``NAME=VALUE\\n`` (binary fields ``(1)NAME=BASE64\\n``);
- the trailing netstring: the digest of the bytes from ``###\\n`` through
  ``%%%\\n`` inclusive.

sha1 and md5 are HMACs keyed with the authkeys secret. crc is the 32-bit
CRC with polynomial 0x04C11DB7, most significant bit first, initial value
0, result complemented, printed as unpadded lowercase hex; it has no
secret and authenticates nothing. Verified on the captures in
``shared/heartbeat/capture``. Digests are compared in constant time.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from hapulse.wire.codec import decode_packet, encode, encode_body
from hapulse.wire.errors import RejectReason, WireError
from hapulse.wire.fastpath import (
    Heads,
    PrefixedDigest,
    StatusEncoder,
    StatusHeartbeat,
    crc32_heartbeat_fast,
    scan_status,
)
from hapulse.wire.message import FieldType, Message
from hapulse.wire.rejects import RejectBudget

if TYPE_CHECKING:  # the wire does not import the config layer at run time
    from hapulse.config.model import AuthKeys


def _isnum(text: str) -> bool:
    """ASCII digits only (str.isdigit() also accepts `²`, which int() refuses)."""
    return text.isascii() and text.isdigit()


class Verdict(Enum):
    OK = "ok"
    BAD = "BAD"
    NOKEY = "nokey"


class AuthError(WireError):
    """A message whose signature is missing, unknown or wrong."""

    def __init__(self, verdict: Verdict, text: str,
                 reason: RejectReason | None = None) -> None:
        if reason is None:
            reason = RejectReason.NO_KEY if verdict is Verdict.NOKEY \
                else RejectReason.BAD_SIGNATURE
        super().__init__(text, reason)
        self.verdict = verdict


def _crc_table() -> list[int]:
    table = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04C11DB7) if c & 0x80000000 else (c << 1)
        table.append(c & 0xFFFFFFFF)
    return table


_CRC_TABLE = _crc_table()


def crc32_heartbeat(data: bytes) -> int:
    """Heartbeat's crc, byte by byte: the definition (the signatures use
    :func:`~hapulse.wire.fastpath.crc32_heartbeat_fast`, the same number computed by zlib)."""
    c = 0
    for b in data:
        c = ((c << 8) & 0xFFFFFFFF) ^ _CRC_TABLE[((c >> 24) ^ b) & 0xFF]
    return ~c & 0xFFFFFFFF


def digest(method: str, secret: bytes, data: bytes) -> str:
    if method == "sha1" or method == "md5":
        return hmac.digest(secret, data, method).hex()  # OpenSSL's one-shot HMAC
    if method == "crc":
        return f"{crc32_heartbeat_fast(data):x}"
    raise ValueError(f"unknown auth method {method!r}")


def inner_text(msg: Message) -> bytes:
    """The text the in-message ``auth`` field signs."""
    parts = []
    for f in msg:
        name, value = f.name, f.value
        if name == "auth":
            continue
        if isinstance(value, str):
            if f.type == FieldType.STRING:
                parts.append(f"{name}={value}\n")
        elif isinstance(value, bytes):
            parts.append(f"({int(f.type)}){name}={base64.b64encode(value).decode()}\n")
    return "".join(parts).encode("utf-8", "surrogateescape")


@dataclass
class Authenticator:
    """Signs with one key and verifies with every key of an authkeys file."""

    method: str
    key_id: int
    secret: bytes
    keys: Mapping[int, tuple[str, bytes]] = field(default_factory=dict)
    # the status heartbeat's fast paths (hapulse.wire.fastpath), built lazily for these keys
    _encoder: StatusEncoder | None = field(default=None, init=False, repr=False,
                                           compare=False)
    _keyed: dict[int, PrefixedDigest] = field(default_factory=dict, init=False, repr=False,
                                              compare=False)
    _heads: Heads = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.keys:
            self.keys = {self.key_id: (self.method, self.secret)}

    @classmethod
    def from_authkeys(cls, authkeys: AuthKeys) -> Authenticator:
        return cls(authkeys.method, authkeys.key_id, authkeys.secret, dict(authkeys.keys))

    def sign(self, msg: Message) -> tuple[Message, bytes]:
        signed = msg.copy()
        signed.remove("auth")
        inner = digest(self.method, self.secret, inner_text(signed))
        signed.append("auth", f"{self.key_id} {inner}")
        outer = digest(self.method, self.secret, encode_body(signed))
        return signed, f"{self.key_id} {outer}".encode()

    def sign_and_encode(self, msg: Message) -> bytes:
        """The signed packet; a status heartbeat of hapulse's layout is written from a
        template (the same bytes, a fraction of the work)."""
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = StatusEncoder(self.method, self.key_id, self.secret)
        packet = encoder.encode(msg)
        if packet is not None:
            return packet
        return self.sign_and_encode_general(msg)

    def sign_and_encode_general(self, msg: Message) -> bytes:
        """The general path: any message, through :class:`Message` and the codec."""
        signed, trailer = self.sign(msg)
        return encode(signed, trailer)

    def _check(self, value: str | bytes | None, data: bytes, what: str) -> None:
        if value is None:
            raise AuthError(Verdict.BAD, f"no {what} signature", RejectReason.UNSIGNED)
        text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
        kid_s, _, hexdigest = text.partition(" ")
        if not _isnum(kid_s) or not hexdigest:
            raise AuthError(Verdict.BAD, f"malformed {what} signature {text[:40]!r}")
        key = self.keys.get(int(kid_s))
        if key is None:
            raise AuthError(Verdict.NOKEY, f"{what} signature uses key {kid_s}, not in authkeys")
        method, secret = key
        want = digest(method, secret, data)
        # a forged field may hold any bytes (surrogates after decoding): never raise on them
        if not hmac.compare_digest(want.encode(), hexdigest.lower().encode("ascii", "replace")):
            raise AuthError(Verdict.BAD, f"{what} signature does not match (key {kid_s} {method})")

    def decode_and_verify(self, packet: bytes) -> Message:
        """Decode and check both signatures; raise WireError or AuthError."""
        msg, trailer = decode_packet(packet)
        if trailer is not None:
            end = packet.rfind(b"%%%\n") + 4
            self._check(trailer, packet[:end], "packet")
        f = msg.field("auth")
        self._check(f.value if f is not None and isinstance(f.value, str) else None,
                    inner_text(msg), "message")
        return msg

    def verify_status(self, packet: bytes) -> StatusHeartbeat | None:
        """A correctly signed status heartbeat's fields, without building a Message; None
        for anything else (then :meth:`decode_and_verify` accepts it or says why not).
        Whatever this accepts, decode_and_verify accepts with the same values."""
        return scan_status(packet, self.keys, self._keyed, self._heads)

    def verify(self, packet: bytes) -> Verdict:
        try:
            self.decode_and_verify(packet)
        except AuthError as exc:
            return exc.verdict
        except WireError:
            return Verdict.BAD
        return Verdict.OK


class RejectLimiter(RejectBudget):
    """Deprecated: the daemon's old per-source limiter, now one global budget.

    Kept until the daemon calls :meth:`RejectBudget.note` with each packet's
    reason; ``should_log`` counts every packet as ``malformed``.
    """

    def should_log(self, source: str, now: float) -> bool:
        return self.note(source, RejectReason.MALFORMED, now)
