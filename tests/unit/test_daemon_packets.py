"""The daemon's receive edge: whatever a packet does to the decoder, the node lives."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from factories import solo_daemon

from hapulse.wire.auth import Authenticator
from hapulse.wire.message import Message


class BrokenDecoder(Authenticator):
    def decode_and_verify(self, packet: bytes) -> Message:
        raise UnicodeError("a decoder bug")


def test_a_decoder_bug_drops_the_packet_and_says_so(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    d = solo_daemon(tmp_path)
    d.auth = BrokenDecoder("sha1", 1, b"k")
    with caplog.at_level(logging.ERROR):
        d._on_packet(b"###\n%%%\n", "10.0.0.9:694", "eth1")
    counters: dict[str, Any] = d.status()["counters"]  # type: ignore[assignment]
    assert counters["rejected_by_reason"]["decoder_bug"] == 1
    assert counters["rejected"] == 1
    assert "10.0.0.9:694 on eth1 dropped" in caplog.text and "a decoder bug" in caplog.text


def test_a_daemon_is_whole_before_it_runs(tmp_path: Path) -> None:
    """Every collaborator is built in __init__: status answers with no loop running."""
    st: dict[str, Any] = solo_daemon(tmp_path).status()
    assert st["generation"] == 3
    assert [n["name"] for n in st["nodes"]] == ["solo", "peer"]
    assert st["nodes"][1]["status"] == "init"
    assert (st["timers"]["keepalive"], st["timers"]["deadtime"]) == (1.0, 10.0)


def test_a_signed_absurd_field_is_rejected_and_the_peer_stays(tmp_path: Path) -> None:
    """A key holder's message with a 5,000-digit `seq` is a rejected message (bad_field),
    never an exception that wedges the peer: its next messages are taken as usual."""
    d = solo_daemon(tmp_path)
    auth = Authenticator("sha1", 1, b"k")

    def heartbeat(seq: str) -> bytes:
        return auth.sign_and_encode(Message.from_pairs([
            ("t", "status"), ("st", "active"), ("src", "peer"), ("seq", seq), ("hg", "1"),
            ("ts", "6b060ff7")]))

    d._on_packet(heartbeat("1" * 5000), "10.0.0.9:694", "lo")
    st: dict[str, Any] = d.status()
    assert st["counters"]["rejected_by_reason"]["bad_field"] == 1
    assert st["nodes"][1]["status"] == "init"
    d._on_packet(heartbeat("2"), "10.0.0.9:694", "lo")
    after: dict[str, Any] = d.status()
    assert after["nodes"][1]["name"] == "peer" and after["nodes"][1]["status"] == "active"
