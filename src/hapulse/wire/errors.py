"""Why a received packet is rejected: the reasons, and the decoder's one error type.

Every malformed input to the decoder raises :class:`WireError` (an
:class:`~hapulse.wire.auth.AuthError` for signatures), nothing else; each
carries a :class:`RejectReason`, the key under which the daemon counts the
packet and the word its log line uses.
"""

from __future__ import annotations

from enum import StrEnum


class RejectReason(StrEnum):
    """Why a packet was dropped; the value is the counter's name in `status`."""

    MALFORMED = "malformed"  # not a Heartbeat message: framing, netstrings, field syntax
    TOO_BIG = "too_big"  # over the decoder's size or field-count bounds
    BAD_FIELD = "bad_field"  # a well-formed message with an absurd value (a 5,000-digit seq)
    UNSIGNED = "unsigned"  # no signature where one is required
    BAD_SIGNATURE = "bad_signature"  # a signature that does not match (forged, wrong secret)
    NO_KEY = "no_key"  # signed with a key id that authkeys does not have
    UNKNOWN_NODE = "unknown_node"  # from a node not in ha.cf's node list
    DECODER_BUG = "decoder_bug"  # the decoder raised something else: a hapulse bug


class WireError(ValueError):
    """A packet that is not a well-formed Heartbeat message."""

    def __init__(self, text: str, reason: RejectReason = RejectReason.MALFORMED) -> None:
        super().__init__(text)
        self.reason = reason


def reason_of(exc: BaseException) -> RejectReason:
    """The reason to count a packet under, whatever the receive path caught."""
    if isinstance(exc, WireError):
        return exc.reason
    return RejectReason.DECODER_BUG
