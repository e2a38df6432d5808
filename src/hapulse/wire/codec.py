"""Heartbeat message bytes <-> :class:`Message` (pure).

Heartbeat 3.0.6 sends the *netstring* form::

    ###\\n
    11:(0)t=status,8:(0)st=up, ... 50:(0)auth=2 424d...,
    %%%\\n
    42:2 576e...,                      <- the signature netstring

Each field is ``LEN:(TYPE)NAME=VALUE,`` where LEN counts the bytes of
``(TYPE)NAME=VALUE``. Type 0 is a string, 1 raw binary; the other
cluster-glue types (2 nested message, 3 list, 4/5 compressed) are kept as
raw bytes with their type so that a packet re-encodes to the same bytes.
The older *classic* form (``>>>\\n`` NAME=VALUE lines ``<<<\\n``) is decoded
too. Every malformed input raises :class:`WireError`, nothing else; the
standard numeric fields (seq, hg, ts ...) must be bounded hex numbers
(:mod:`hapulse.wire.numbers`), so no core ever reads an absurd one.
"""

from __future__ import annotations

import base64
import binascii

from hapulse.wire.errors import RejectReason, WireError
from hapulse.wire.message import Field, FieldType, Message
from hapulse.wire.numbers import check_numeric_fields

__all__ = ["WireError", "decode", "decode_packet", "encode", "encode_body"]

NETSTRING_START = b"###\n"
NETSTRING_END = b"%%%\n"
CLASSIC_START = b">>>\n"
CLASSIC_END = b"<<<\n"
MAX_PACKET = 64 * 1024
MAX_FIELDS = 1024


def _netstring(data: bytes) -> bytes:
    return b"%d:%b," % (len(data), data)


def _read_netstring(buf: bytes, pos: int) -> tuple[bytes, int]:
    colon = buf.find(b":", pos, pos + 12)
    if colon < 0:
        raise WireError(f"bad netstring length at byte {pos}")
    digits = buf[pos:colon]
    if not digits.isdigit():
        raise WireError(f"bad netstring length {digits[:12]!r} at byte {pos}")
    n = int(digits)
    start = colon + 1
    end = start + n
    if end >= len(buf) or buf[end : end + 1] != b",":
        raise WireError(f"netstring at byte {pos} overruns the packet or lacks its comma")
    return buf[start:end], end + 1


# "(N)" for each field type, by the type's number
_TYPE_PREFIX = tuple(b"(%d)" % t for t in FieldType)
_TYPE_BY_DIGIT = {str(int(t)).encode(): t for t in FieldType}


def _field_bytes(f: Field) -> bytes:
    value = f.value
    if f.type == FieldType.STRING:
        assert isinstance(value, str)
        raw = value.encode("utf-8", "surrogateescape")
    elif isinstance(value, bytes):
        raw = value
    elif isinstance(value, Message):
        raw = encode(value)
    else:
        raise WireError(f"field {f.name!r}: cannot encode a {type(value).__name__}")
    return _TYPE_PREFIX[f.type] + f.name.encode("utf-8", "surrogateescape") + b"=" + raw


def encode_body(msg: Message) -> bytes:
    """The signed part: ``###\\n`` + fields + ``%%%\\n``."""
    return NETSTRING_START + b"".join(_netstring(_field_bytes(f)) for f in msg) + NETSTRING_END


def encode(msg: Message, signature: bytes | None = None) -> bytes:
    """Netstring form; ``signature`` (``KEYID HEX``) becomes the trailing netstring."""
    body = encode_body(msg)
    return body + _netstring(signature) if signature is not None else body


def decode_packet(packet: bytes) -> tuple[Message, bytes | None]:
    """Decode a packet; return the message and its signature trailer (None if absent)."""
    if not isinstance(packet, bytes | bytearray | memoryview):
        raise WireError("not bytes")
    packet = bytes(packet)
    if len(packet) > MAX_PACKET:
        raise WireError(f"packet of {len(packet)} bytes is over {MAX_PACKET}",
                        RejectReason.TOO_BIG)
    if packet.startswith(NETSTRING_START):
        return _decode_netstring(packet)
    if packet.startswith(CLASSIC_START):
        return _decode_classic(packet), None
    raise WireError("not a Heartbeat message (no ###/>>> start marker)")


def decode(packet: bytes) -> Message:
    return decode_packet(packet)[0]


def _decode_netstring(packet: bytes) -> tuple[Message, bytes | None]:
    pos = len(NETSTRING_START)
    fields: list[Field] = []
    size = len(packet)
    while True:
        if packet.startswith(NETSTRING_END, pos):
            pos += len(NETSTRING_END)
            break
        if pos >= size:
            raise WireError("message ends without its %%% end marker")
        if len(fields) >= MAX_FIELDS:
            raise WireError(f"more than {MAX_FIELDS} fields", RejectReason.TOO_BIG)
        item, pos = _read_netstring(packet, pos)
        fields.append(_parse_field(item))
    signature: bytes | None = None
    if pos < size:
        signature, pos = _read_netstring(packet, pos)
        if pos != size:
            raise WireError(f"{size - pos} stray bytes after the signature")
    check_numeric_fields((f.name, f.value) for f in fields)
    return Message(fields), signature


def _parse_field(item: bytes) -> Field:
    close = item.find(b")", 0, 4)
    if not item.startswith(b"(") or close < 0:
        raise WireError(f"field without a (TYPE) prefix: {item[:20]!r}")
    digits = item[1:close]
    ftype = _TYPE_BY_DIGIT.get(digits)
    if ftype is None:
        if not digits.isdigit() or int(digits) >= len(_TYPE_PREFIX):
            raise WireError(f"unknown field type {digits!r}")
        ftype = FieldType(int(digits))  # "(00)": odd but valid
    eq = item.find(b"=", close)
    if eq < 0:
        raise WireError(f"field without `=`: {item[:20]!r}")
    if eq == close + 1:
        raise WireError("field with an empty name")
    name = item[close + 1 : eq].decode("utf-8", "surrogateescape")
    if ftype is FieldType.STRING:
        return Field(name, ftype, item[eq + 1 :].decode("utf-8", "surrogateescape"))
    return Field(name, ftype, item[eq + 1 :])


def _decode_classic(packet: bytes) -> Message:
    end = packet.find(CLASSIC_END)
    if end < 0:
        raise WireError("classic message ends without its <<< end marker")
    fields: list[Field] = []
    for line in packet[len(CLASSIC_START) : end].split(b"\n"):
        if not line:
            continue
        eq = line.find(b"=")
        if eq <= 0:
            raise WireError(f"classic line without NAME=: {line[:20]!r}")
        name, value = line[:eq], line[eq + 1 :]
        if name.startswith(b"(1)"):
            try:
                fields.append(Field(name[3:].decode("utf-8", "surrogateescape"),
                                    FieldType.BINARY, base64.b64decode(value, validate=True)))
            except binascii.Error as exc:
                raise WireError(f"bad base64 in field {name!r}") from exc
            continue
        fields.append(Field(name.decode("utf-8", "surrogateescape"), FieldType.STRING,
                            value.decode("utf-8", "surrogateescape")))
    if len(fields) > MAX_FIELDS:
        raise WireError(f"more than {MAX_FIELDS} fields", RejectReason.TOO_BIG)
    check_numeric_fields((f.name, f.value) for f in fields)
    return Message(fields)
