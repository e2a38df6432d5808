"""The demo's steps as a test: `hapulse demo --fast` runs the whole story and exits 0."""

from __future__ import annotations

import re
import subprocess

import pytest

from hapulse.lab.nodes import HAPULSE

pytestmark = pytest.mark.netns


@pytest.mark.parametrize("timers", ["--fast", "seed"])
def test_demo_tells_the_whole_story(timers: str) -> None:
    argv = [HAPULSE, "demo"] + ([timers] if timers == "--fast" else [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr
    steps = [
        r"Building the seed's topology",
        r"Installed the seed's files .* authkeys \(mode 600\)",
        r"Both nodes up",
        r"status from f80[12] seq \d+ gen \d+ auth ok",
        r'client: curl http://192\.168\.1\.118/ -> "f801"',
        r"Pulling f801's power",
        r"f802 log: .*Late heartbeat: Node f801",
        r"f802 log: .*node f801: is dead",
        r"f802 log: .*resource httpd started",
        r"client: served by f802 [\d.]+ s after f801 lost power; service gap [\d.]+ s",
        r"neighbour entry .* \(f802's eth1: moved by gratuitous ARP\)",
        r"f801 powers back on",
        r"client: served by f801 again .* failback service gap \d+ ms",
        r"cleaned up: namespaces",
    ]
    pos = 0
    for step in steps:
        m = re.compile(step).search(out, pos)
        assert m, f"step {step!r} missing (in order) from:\n{out[-3000:]}"
        pos = m.end()
    gap = float(re.search(r"served by f802 ([\d.]+) s after", out)[1])  # type: ignore[index]
    # the death is declared deadtime after the last heartbeat heard, which left up to a
    # keepalive before the power was pulled
    deadtime, keepalive = (0.5, 0.1) if timers == "--fast" else (30.0, 1.0)
    assert deadtime - keepalive - 0.1 <= gap <= deadtime + 2
    # nothing is left behind
    prefix = re.search(r"namespaces (hpdemo\d+)-\*", out)[1]  # type: ignore[index]
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in left


def test_ctrl_c_cleans_up() -> None:
    p = subprocess.Popen([HAPULSE, "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout is not None
        prefix = None
        for _, line in zip(range(200), p.stdout, strict=False):  # bounded
            m = re.search(r"network namespaces \((hpdemo\d+)-\*\)", line)
            prefix = prefix or (m[1] if m else None)
            if "Both nodes up" in line:
                break
        assert prefix is not None
        p.send_signal(2)  # SIGINT, as Ctrl-C
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert "interrupted; cleaned up" in err
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in left
