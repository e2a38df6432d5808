"""Heartbeat's classic text form, the one 3.0.6 writes on serial lines (pure).

One message is::

    >>>\\n
    t=status\\n                          a string field: NAME=VALUE
    (1)srcuuid=shXEMcnzRRSU0stzHhPH2A==\\n  a binary field: (1)NAME=BASE64(VALUE)
    ...
    auth=1 fc1ce4919f14b076c8787814324fc65bcb05c00c\\n
    <<<\\n

with no trailing signature: the ``auth`` field (``KEYID HEXDIGEST``, last)
is the only one, the digest of the other fields written exactly as they
are in the frame (``NAME=VALUE\\n``, binary ``(1)NAME=BASE64\\n``), which is
the same text it signs in the netstring form. So a message converts
between the two forms without its key: Heartbeat's serial plugin does
just that to every netstring packet it is handed (decode, re-sign with the
same key, write the classic form), and :func:`classic_from_packet` does
the same for hapulse's serial transport.

The decoder is the codec's (:func:`hapulse.wire.codec.decode_packet`
already reads this form); signatures are :mod:`hapulse.wire.auth`'s. Every
malformed input raises :class:`WireError` with its :class:`RejectReason`.
"""

from __future__ import annotations

import base64

from hapulse.wire.auth import Authenticator
from hapulse.wire.codec import CLASSIC_END, CLASSIC_START, MAX_PACKET, decode_packet
from hapulse.wire.errors import RejectReason, WireError
from hapulse.wire.message import Field, FieldType, Message

__all__ = ["classic_bytes", "classic_from_packet", "decode_classic", "encode_classic"]

# bytes no field of a classic frame can hold: its line and string ends (Heartbeat's
# reader also drops every CR: its tty is set to IGNCR)
_NOT_IN_VALUE = (b"\n", b"\r", b"\0")
_NOT_IN_NAME = (*_NOT_IN_VALUE, b"=")


def _check(what: str, raw: bytes, forbidden: tuple[bytes, ...]) -> None:
    for bad in forbidden:
        if bad in raw:
            raise WireError(f"{what} holds {bad!r}: not writable in the classic form",
                            RejectReason.BAD_FIELD)


def _line(f: Field) -> bytes:
    name = f.name.encode("utf-8", "surrogateescape")
    if not name or name.startswith(b"("):
        raise WireError(f"field name {f.name!r} is not writable in the classic form",
                        RejectReason.BAD_FIELD)
    _check(f"field name {f.name!r}", name, _NOT_IN_NAME)
    if f.type is FieldType.STRING and isinstance(f.value, str):
        value = f.value.encode("utf-8", "surrogateescape")
        _check(f"field {f.name!r}", value, _NOT_IN_VALUE)
        if value.endswith(b"<<<"):
            # hapulse.wire.codec would take the line for the frame's end (Heartbeat would not)
            raise WireError(f"field {f.name!r} ends in <<<: not writable in the classic form",
                            RejectReason.BAD_FIELD)
        return name + b"=" + value + b"\n"
    if f.type is FieldType.BINARY and isinstance(f.value, bytes):
        return b"(1)" + name + b"=" + base64.b64encode(f.value) + b"\n"
    # nested messages, lists, compressed fields: Heartbeat sends those in the
    # netstring form only; its serial reader cannot carry a multi-line field
    raise WireError(f"field {f.name!r} of type {int(f.type)} has no classic form",
                    RejectReason.BAD_FIELD)


def classic_bytes(msg: Message) -> bytes:
    """The frame of a message as it is (its ``auth`` field, if any, written unchanged)."""
    frame = CLASSIC_START + b"".join(_line(f) for f in msg) + CLASSIC_END
    if len(frame) > MAX_PACKET:
        raise WireError(f"classic frame of {len(frame)} bytes is over {MAX_PACKET}",
                        RejectReason.TOO_BIG)
    return frame


def encode_classic(msg: Message, auth: Authenticator) -> bytes:
    """Sign `msg` with `auth`'s key (the ``auth`` field, last) and write its frame."""
    for f in msg:  # refuse what the classic form cannot carry before signing it
        if f.name != "auth":
            _line(f)
    signed, _trailer = auth.sign(msg)
    return classic_bytes(signed)


def decode_classic(frame: bytes, auth: Authenticator) -> Message:
    """Decode one frame (``>>>\\n`` ... ``<<<\\n``, nothing after) and check its signature."""
    if not frame.startswith(CLASSIC_START):
        raise WireError("not a classic frame (no >>> start line)")
    if not frame.endswith(CLASSIC_END) or frame.find(CLASSIC_END) != len(frame) - 4:
        raise WireError("classic frame does not end at its <<< line")
    return auth.decode_and_verify(frame)


def classic_from_packet(packet: bytes) -> bytes:
    """The classic frame of a signed packet (either form), its ``auth`` field kept.

    No key is needed: the ``auth`` field signs the same text in both forms and
    the classic form has no other signature. The packet's trailing signature is
    not checked (the packet is our own, signed a moment ago); a packet without
    an ``auth`` field raises WireError (``unsigned``).
    """
    msg, _trailer = decode_packet(packet)
    auth_field = msg.field("auth")
    if auth_field is None or not isinstance(auth_field.value, str):
        raise WireError("packet has no auth field to carry", RejectReason.UNSIGNED)
    return classic_bytes(msg)
