"""The Heartbeat message: an ordered list of typed fields.

This module holds only the data type; the byte codec lives in
:mod:`hapulse.wire.codec` and signatures in :mod:`hapulse.wire.auth`.
Field order is kept exactly as received so that a decoded packet
re-encodes to the same bytes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum

from hapulse.wire.numbers import MAX_HEX_DIGITS, bad_number

# 2**64 in decimal has 20 digits: the bound for numbers in other bases
MAX_DECIMAL_DIGITS = 20


class FieldType(IntEnum):
    """cluster-glue's field types (the ``(N)`` prefix on the wire)."""

    STRING = 0
    BINARY = 1
    STRUCT = 2  # a nested message
    LIST = 3
    COMPRESS = 4
    UNCOMPRESS = 5


@dataclass(slots=True)
class Field:
    name: str
    type: FieldType
    value: str | bytes | Message | list[str]


class Message:
    """An ordered multimap of fields, most of them strings.

    ``msg["t"]`` reads a string field (KeyError when absent);
    ``msg.get("seq")`` returns None when absent; ``msg.set(name, value)``
    replaces the first field of that name or appends a new one.
    """

    __slots__ = ("fields",)

    def __init__(self, fields: Iterable[Field] = ()) -> None:
        self.fields: list[Field] = list(fields)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str | bytes]]) -> Message:
        out = cls()
        for name, value in pairs:
            out.append(name, value)
        return out

    def append(self, name: str, value: str | bytes | Message | list[str]) -> None:
        self.fields.append(Field(name, _type_of(value), value))

    def set(self, name: str, value: str | bytes | Message | list[str]) -> None:
        for f in self.fields:
            if f.name == name:
                f.value = value
                f.type = _type_of(value)
                return
        self.append(name, value)

    def remove(self, name: str) -> None:
        self.fields = [f for f in self.fields if f.name != name]

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name:
                return f
        return None

    def get(self, name: str, default: str | None = None) -> str | None:
        f = self.field(name)
        if f is None or not isinstance(f.value, str):
            return default
        return f.value

    def get_bytes(self, name: str) -> bytes | None:
        f = self.field(name)
        if f is None:
            return None
        if isinstance(f.value, bytes):
            return f.value
        if isinstance(f.value, str):
            return f.value.encode()
        return None

    def get_int(self, name: str, base: int = 16) -> int | None:
        """A numeric field (Heartbeat writes seq, hg, ts, dt ... in hex).

        None when absent or not a number; a value longer than a 64-bit number
        can be (16 hex digits) raises WireError (reason ``bad_field``): the
        message is to be rejected, not read as a huge number.
        """
        v = self.get(name)
        if v is None:
            return None
        if len(v) > (MAX_HEX_DIGITS if base == 16 else MAX_DECIMAL_DIGITS):
            raise bad_number(name, v)
        try:
            return int(v, base)
        except ValueError:
            return None

    def __getitem__(self, name: str) -> str:
        v = self.get(name)
        if v is None:
            raise KeyError(name)
        return v

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.fields)

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __len__(self) -> int:
        return len(self.fields)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and self.fields == other.fields

    def __repr__(self) -> str:
        inner = ", ".join(f"{f.name}={f.value!r}" for f in self.fields)
        return f"Message({inner})"

    def copy(self, without: Collection[str] = ()) -> Message:
        """A copy whose fields can be changed alone; fields named in `without` left out."""
        return Message(Field(f.name, f.type, f.value) for f in self.fields
                       if f.name not in without)


def _type_of(value: object) -> FieldType:
    if isinstance(value, str):
        return FieldType.STRING
    if isinstance(value, bytes):
        return FieldType.BINARY
    if isinstance(value, Message):
        return FieldType.STRUCT
    if isinstance(value, list):
        return FieldType.LIST
    raise TypeError(f"unsupported field value {value!r}")
