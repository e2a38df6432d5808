"""Numeric fields of received messages, parsed with a bound.

Heartbeat writes numbers as unpadded lowercase hex (``seq``, ``hg``, ``ts``,
``dt``, ``ackseq``, ``firstseq``, ``lastseq``, ``ttl``), at most 64 bits
wide. A received value must be 1 to 16 hex digits: anything else (a sign,
spaces, ``0x``, underscores, or 5,000 digits a peer's bug or a key holder
wrote) makes the whole message a :class:`WireError` with reason
``bad_field``, before any core sees it. Python's ``int()`` accepts all of
these and more, and an unbounded number wedges the sequence window of the
peer that sent it.
"""

from __future__ import annotations

from collections.abc import Iterable

from hapulse.wire.errors import RejectReason, WireError

MAX_HEX_DIGITS = 16
NUMERIC_FIELDS = frozenset({"seq", "hg", "ts", "dt", "ackseq", "firstseq", "lastseq", "ttl"})
_HEX = frozenset("0123456789abcdefABCDEF")


def is_hex_number(text: str) -> bool:
    """1 to MAX_HEX_DIGITS hex digits, nothing else."""
    return 0 < len(text) <= MAX_HEX_DIGITS and _HEX.issuperset(text)


def bad_number(name: str, text: str) -> WireError:
    """The error for a numeric field `name` whose value `text` is not a bounded hex number."""
    shown = repr(text[:24]) + ("..." if len(text) > 24 else "")
    if len(text) > MAX_HEX_DIGITS:
        what = f"{len(text)} characters, more than the {MAX_HEX_DIGITS} hex digits of 64 bits"
    else:
        what = "not a hex number"
    return WireError(f"field {name}={shown}: {what}", RejectReason.BAD_FIELD)


def check_numeric_fields(fields: Iterable[tuple[str, object]]) -> None:
    """Raise WireError(bad_field) if a standard numeric field is not a bounded hex number."""
    for name, value in fields:
        if name in NUMERIC_FIELDS:
            if not isinstance(value, str):
                raise WireError(f"field {name}: a number sent as binary", RejectReason.BAD_FIELD)
            if not is_hex_number(value):
                raise bad_number(name, value)
