"""`ts` on the wire is Unix time in hex, as Heartbeat 3.0.6 writes it.

A Heartbeat node and a hapulse node in one cluster; a capture of the
heartbeat link, decoded and verified with the seed's key: both daemons'
`ts` agree with the capture's own clock and with each other.
"""

from __future__ import annotations

import io
import re
import subprocess

import dpkt
import pytest

from hapulse.config import load_config_or_raise
from hapulse.lab import Lab, wait_for
from hapulse.lab.ha_d import with_timers
from hapulse.lab.heartbeat import HeartbeatNode
from hapulse.lab.nodes import HapulseNode, seed_files
from hapulse.wire.auth import Authenticator

pytestmark = [pytest.mark.netns, pytest.mark.interop]



def test_ts_is_unix_time_in_hex_like_heartbeats(seed: Lab) -> None:
    hb_files, hp_files = seed_files("f801"), seed_files("f802")
    hb_files["ha.cf"] = with_timers(hb_files["ha.cf"], "500ms", "2", "5", "10")
    hp_files["ha.cf"] = with_timers(hp_files["ha.cf"], "500ms", "2", "5", "10")
    hb = HeartbeatNode(seed.hosts["f801"], ha_cf=hb_files["ha.cf"],
                       authkeys=hb_files["authkeys"], haresources=hb_files["haresources"])
    hp = HapulseNode(seed.hosts["f802"], hp_files)
    hb.start()
    hp.start()
    wait_for(lambda: hp.node_status("f801") == "active"
             and hb.cl_status("nodestatus", "f802").stdout.strip() == "active", 60,
             interval=0.5, what="both sides active")
    cap = subprocess.run(seed.hosts["f802"].argv(
        ["timeout", "20", "tcpdump", "-i", "eth2", "-U", "-c", "16", "-w", "-",
         "udp port 694"]), capture_output=True, timeout=30)
    assert cap.returncode == 0, cap.stderr
    auth = Authenticator.from_authkeys(load_config_or_raise(hp.confdir, "f802").authkeys)
    skew: dict[str, list[float]] = {"f801": [], "f802": []}
    for when, frame in dpkt.pcap.Reader(io.BytesIO(cap.stdout)):
        msg = auth.decode_and_verify(dpkt.ethernet.Ethernet(frame).data.data.data)
        ts, src = msg.get("ts"), msg.get("src")
        assert ts is not None and re.fullmatch(r"[0-9a-f]+", ts), ts  # lower-case hex
        assert src in skew
        skew[src].append(int(ts, 16) - float(when))
    # Heartbeat's (f801) and hapulse's (f802) both within seconds of the capture clock: ts
    # is truncated to whole seconds, and a loaded machine delays the capture (a monotonic
    # clock would be ~1.8e9 s off)
    assert skew["f801"] and skew["f802"], skew
    assert all(-5.0 <= s <= 1.0 for s in skew["f801"] + skew["f802"]), skew
