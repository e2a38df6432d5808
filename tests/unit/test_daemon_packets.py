"""The daemon's receive edge: whatever a packet does to the decoder, the node lives."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from hapulse.config import load_config_or_raise
from hapulse.daemon import Daemon, DaemonOptions
from hapulse.wire.auth import Authenticator


class BrokenDecoder(Authenticator):
    def decode_and_verify(self, packet: bytes) -> object:  # type: ignore[override]
        raise UnicodeError("a decoder bug")


def test_a_decoder_bug_drops_the_packet_and_says_so(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "ha.cf").write_text("keepalive 1\ndeadtime 10\nucast lo 127.0.0.2\n"
                                    "node solo\nnode peer\nauto_failback on\n")
    (tmp_path / "authkeys").write_text("auth 1\n1 sha1 k\n")
    (tmp_path / "authkeys").chmod(0o600)
    (tmp_path / "haresources").write_text("")
    d = Daemon(load_config_or_raise(tmp_path, node="solo"), DaemonOptions(tmp_path, "solo"))
    d.auth = BrokenDecoder("sha1", 1, b"k")
    d._reject_limiter = None
    with caplog.at_level(logging.ERROR):
        d._on_packet(b"###\n%%%\n", "10.0.0.9:694", "eth1")
    assert d.counters.rejected == 1
    assert "10.0.0.9:694 on eth1 dropped" in caplog.text and "a decoder bug" in caplog.text
