"""STONITH of a lab host through cluster-glue's tool and the external/hapulse-lab plugin."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hapulse.lab import Lab, wait_for
from hapulse.resources.stonith import (
    FenceOutcome,
    StonithDevice,
    reset_node,
)

pytestmark = pytest.mark.netns

# Power-cycles lab host $1: every process in its namespace killed, its links down, then up
# again (the "boot"). Runs as root from the plugin, in the test's namespace.
POWER_CYCLE = """#!/bin/sh
ns="{prefix}-$1"
for pid in $(ip netns pids "$ns"); do kill -9 "$pid"; done
links=$(ip -n "$ns" -o link show | awk -F': ' '{{print $2}}' | cut -d@ -f1 | grep -vx lo)
for l in $links; do ip -n "$ns" link set "$l" down; done
echo "$1" >> {log}
for l in $links; do ip -n "$ns" link set "$l" up; done
"""



def _answers(lab: Lab, address: str) -> bool:
    r = lab.hosts["client"].run(["ping", "-c", "1", "-W", "1", address], timeout=10)
    return r.returncode == 0


def test_reset_power_cycles_the_lab_host(seed: Lab, lab_plugin: Path) -> None:
    f801 = seed.hosts["f801"]
    script = seed.workdir / "power-cycle"
    cycled = seed.workdir / "cycled"
    script.write_text(POWER_CYCLE.format(prefix=seed.prefix, log=cycled))
    script.chmod(0o755)
    daemon = f801.popen(["sleep", "300"])  # stands for f801's cluster daemon
    assert _answers(seed, "192.168.1.110")
    logs: list[tuple[str, str]] = []
    device = StonithDevice("external/hapulse-lab", params=f"f801,f802 {script} \"$1\"")

    result = asyncio.run(reset_node(device, "f801", lambda lv, t: logs.append((lv, t)),
                                    timeout=30))

    assert result.ok and result.outcome is FenceOutcome.RESET, result
    assert cycled.read_text() == "f801\n"
    assert daemon.wait(timeout=5) == -9  # killed by the power cut
    assert f801.netns_pids() == []
    wait_for(lambda: _answers(seed, "192.168.1.110"), 10, what="f801 booted: answers again")
    assert logs[0] == ("info", "Resetting node f801 with [external/hapulse-lab]")
    assert logs[-1] == ("info", "node f801 now reset.")


def test_failing_plugin_leaves_the_host_running_and_fails(seed: Lab, lab_plugin: Path) -> None:
    f801 = seed.hosts["f801"]
    daemon = f801.popen(["sleep", "300"])
    logs: list[tuple[str, str]] = []
    device = StonithDevice("external/hapulse-lab", params="f801,f802 echo no power; exit 1")

    result = asyncio.run(reset_node(device, "f801", lambda lv, t: logs.append((lv, t)),
                                    timeout=30))

    assert not result.ok and result.outcome is FenceOutcome.FAILED and result.exit_code == 5
    assert daemon.poll() is None and daemon.pid in f801.netns_pids()  # still powered
    assert logs[-1] == ("error", "Host f801 not reset!")
    f801.kill(daemon)

