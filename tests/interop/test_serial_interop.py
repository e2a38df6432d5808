"""A mixed cluster whose only medium is a serial line: Heartbeat 3.0.6 f801, hapulse f802.

The line is a pty pair made by ``socat -d -d pty,raw,echo=0 pty,raw,echo=0``
(socat's ``-r``/``-R`` record each direction). Both sides must see each other
active (``cl_status nodestatus`` on Heartbeat's side, ``hapulse status`` on
ours) with the serial link up, a kill must be declared after deadtime on
each side, and every byte either daemon wrote must be Heartbeat's classic
framing, each frame verifying with the cluster's key.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from factories import TEST_AUTHKEYS, ha_cf, ha_d_files, lab_prefix

from hapulse.lab import Lab, wait_for
from hapulse.lab.heartbeat import HeartbeatNode
from hapulse.lab.nodes import HapulseNode
from hapulse.transports.serial import FrameReader
from hapulse.wire.auth import Authenticator

pytestmark = [pytest.mark.netns, pytest.mark.interop]

KEEPALIVE, DEADTIME, INITDEAD = 0.5, 3.0, 10.0
TIMERS = {"keepalive": "0.5", "warntime": "1.5", "deadtime": "3", "initdead": "10"}
SLACK = 4.0  # seconds: a shared 2-core VM, cl_status and `hapulse status` round trips
KEY = Authenticator("sha1", 1, b"test")  # factories.TEST_AUTHKEYS


@dataclass
class Line:
    """The pty pair: f801's device, f802's device, and what each side wrote."""

    proc: subprocess.Popen[bytes]
    f801: str
    f802: str
    from_f801: Path
    from_f802: Path


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    if shutil.which("socat") is None:
        pytest.skip("needs socat")
    log, left, right = tmp_path / "socat.log", tmp_path / "f801.bin", tmp_path / "f802.bin"
    with open(log, "wb") as err:
        proc = subprocess.Popen(["socat", "-d", "-d", "-r", str(left), "-R", str(right),
                                 "pty,raw,echo=0", "pty,raw,echo=0"],
                                stdin=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        def ptys() -> list[str] | None:
            found = [ln.split()[-1] for ln in log.read_text().splitlines() if "PTY is" in ln]
            return found if len(found) == 2 else None

        a, b = wait_for(ptys, 10, what="socat's pty pair")
        yield Line(proc, a, b, left, right)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    built = Lab(lab_prefix(request.node.name))
    try:
        built.add_host("f801")
        built.add_host("f802")
        yield built
    finally:
        built.close()
        shutil.rmtree(built.workdir, ignore_errors=True)


def serial_ha_cf(tty: str, *extra: str) -> str:
    return ha_cf(*extra, "baud 19200", f"serial {tty}", nodes=("f801", "f802"), udpport=None,
                 **TIMERS)


def start_pair(lab: Lab, line: Line) -> tuple[HeartbeatNode, HapulseNode]:
    hb = HeartbeatNode(lab.hosts["f801"], ha_cf=serial_ha_cf(line.f801, "logfile /var/log/ha-log"),
                       authkeys=TEST_AUTHKEYS, haresources="")
    # Heartbeat locks the line with a UUCP lock file in /var/lock (= /run/lock)
    (hb.run_dir / "lock").mkdir(exist_ok=True)
    hp = HapulseNode(lab.hosts["f802"], ha_d_files(serial_ha_cf(line.f802)))
    hb.start()
    hp.start()
    return hb, hp


def hb_sees(hb: HeartbeatNode, status: str) -> bool:
    return hb.cl_status("nodestatus", "f802").stdout.strip() == status


def explain(hb: HeartbeatNode, hp: HapulseNode) -> str:
    logs = [p.read_text(errors="replace")[-3000:] for p in sorted(hb.log_dir.rglob("*"))
            if p.is_file()]
    return "\n".join(["--- heartbeat f801", *logs, "--- hapulse f802", hp.log_text()[-3000:]])


def frames_of(path: Path) -> tuple[list[bytes], FrameReader]:
    reader = FrameReader()
    return reader.feed(path.read_bytes()), reader


def both_active(hb: HeartbeatNode, hp: HapulseNode) -> None:
    try:
        wait_for(lambda: hb_sees(hb, "active") and hp.node_status("f801") == "active",
                 INITDEAD + SLACK, interval=0.25, what="both sides active over the serial line")
    except TimeoutError as exc:
        raise AssertionError(explain(hb, hp)) from exc


@pytest.mark.parametrize("victim", ["hapulse", "heartbeat"])
def test_serial_only_mixed_cluster(lab: Lab, line: Line, victim: str) -> None:
    hb, hp = start_pair(lab, line)
    both_active(hb, hp)
    # the link, as each side names it: its own end of the line
    r = hb.cl_status("hblinkstatus", "f802", line.f801)
    assert (r.stdout.strip(), r.returncode) == ("up", 0), explain(hb, hp)
    assert hp.node("f801")["links"] == {line.f802: "up"}  # type: ignore[index]

    # both directions carry Heartbeat's classic framing only, every frame signed
    for path, src in ((line.from_f801, "f801"), (line.from_f802, "f802")):
        frames, reader = frames_of(path)
        assert frames and reader.stats.total() == 0, f"{src} wrote bytes outside frames"
        assert b"".join(frames) == path.read_bytes()[:sum(map(len, frames))]
        assert {KEY.decode_and_verify(f)["src"] for f in frames} == {src}

    if victim == "hapulse":
        lab.hosts["f802"].kill_all()
        killed = time.monotonic()
        wait_for(lambda: hb_sees(hb, "dead"), DEADTIME + SLACK, interval=0.1,
                 what="Heartbeat to declare hapulse f802 dead")
    else:
        lab.hosts["f801"].kill_all()
        killed = time.monotonic()
        wait_for(lambda: hp.node_status("f801") == "dead", DEADTIME + SLACK, interval=0.1,
                 what="hapulse to declare Heartbeat f801 dead")
    took = time.monotonic() - killed
    # not before deadtime (less the keepalive the last heartbeat may be old), within it + slack
    assert DEADTIME - KEEPALIVE - 0.25 <= took <= DEADTIME + SLACK, took
