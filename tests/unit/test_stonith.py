"""STONITH: ha.cf's stonith/stonith_host lines, and resets through the real stonith tool."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

from hapulse.resources.stonith import (
    STONITH_TOOL,
    FenceOutcome,
    StonithDevice,
    device_for,
    parse_stonith,
    parse_stonith_host,
    reset_node,
    stonith_argv,
)


def test_parse_stonith_type_and_config_file() -> None:
    assert parse_stonith(("baytech", "/etc/ha.d/conf/stonith.baytech")) == StonithDevice(
        "baytech", config_file="/etc/ha.d/conf/stonith.baytech")
    with pytest.raises(ValueError, match="No Stonith type given"):
        parse_stonith(())
    with pytest.raises(ValueError, match="no config file"):
        parse_stonith(("baytech",))


def test_parse_stonith_host_keeps_params_as_one_string() -> None:
    dev = parse_stonith_host(("F801", "external/ssh", "f802"))
    assert dev == StonithDevice("external/ssh", params="f802", host_from="f801")
    dev = parse_stonith_host(("*", "external/hapulse-lab", "f801,f802", "kill", "$1"))
    assert dev.params == "f801,f802 kill $1" and dev.host_from == "*"
    assert parse_stonith_host(("*", "meatware")).params == ""
    with pytest.raises(ValueError, match="hostname"):
        parse_stonith_host(())
    with pytest.raises(ValueError, match="No Stonith type given"):
        parse_stonith_host(("*",))


def test_device_for_picks_this_nodes_line_last_one_wins() -> None:
    lines = [("node", ("f801",)),
             ("stonith_host", ("f801", "external/ssh", "f802")),
             ("stonith_host", ("f802", "external/ssh", "f801"))]
    assert device_for(lines, "f801") == StonithDevice("external/ssh", "f802", host_from="f801")
    assert device_for(lines, "F802") == StonithDevice("external/ssh", "f801", host_from="f802")
    assert device_for(lines, "f803") is None
    assert device_for([*lines, ("stonith", ("meatware", "/etc/m"))], "f801") == StonithDevice(
        "meatware", config_file="/etc/m")
    assert device_for([("keepalive", ("1",))], "f801") is None


def test_stonith_argv() -> None:
    assert stonith_argv(StonithDevice("external/ssh", params="f802 f803"), "F802") == [
        STONITH_TOOL, "-t", "external/ssh", "-p", "f802 f803", "-T", "reset", "f802"]
    assert stonith_argv(StonithDevice("baytech", config_file="/c"), "f802", tool="st") == [
        "st", "-t", "baytech", "-F", "/c", "-T", "reset", "f802"]



class Logs(list[tuple[str, str]]):
    def __call__(self, level: str, text: str) -> None:
        self.append((level, text))


def _lab(command: str) -> StonithDevice:
    return StonithDevice("external/hapulse-lab", params=f"f801,f802 {command}")


def test_installed_plugin_answers_getconfignames(lab_plugin: Path) -> None:
    assert lab_plugin.stat().st_mode & 0o777 == 0o755
    out = os.popen(f"{STONITH_TOOL} -t external/hapulse-lab -n").read()
    assert out.split() == ["hostlist", "reset_command"]


def test_reset_through_the_real_tool_runs_the_plugin_command(lab_plugin: Path,
                                                            tmp_path: Path) -> None:
    marker = tmp_path / "cycled"
    logs = Logs()
    r = asyncio.run(reset_node(_lab(f'echo "$1" > {marker}'), "F801", logs))
    assert r.ok and r.outcome is FenceOutcome.RESET and r.exit_code == 0
    assert marker.read_text() == "f801\n"  # the node, lowercased as Heartbeat does
    assert logs[0] == ("info", "Resetting node f801 with [external/hapulse-lab]")
    assert logs[-1] == ("info", "node f801 now reset.")


def test_failing_plugin_gives_a_failed_result(lab_plugin: Path) -> None:
    logs = Logs()
    r = asyncio.run(reset_node(_lab("exit 1"), "f801", logs))
    assert not r.ok and r.outcome is FenceOutcome.FAILED and r.exit_code == 5  # S_RESETFAIL
    assert logs[-1] == ("error", "Host f801 not reset!")
    r = asyncio.run(reset_node(_lab("exit 0"), "f803", Logs()))  # not in the hostlist
    assert not r.ok


def test_hanging_plugin_times_out_and_is_killed(lab_plugin: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    logs = Logs()
    r = asyncio.run(reset_node(_lab(f"echo $$ > {pidfile}; exec sleep 30"), "f801", logs,
                               timeout=1.0))
    assert r.outcome is FenceOutcome.TIMEOUT and r.exit_code is None and r.seconds < 10
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5  # killed: gone, or a zombie waiting for init to reap it
    while _state(pid) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _state(pid) in (None, "Z")
    assert logs[-1] == ("error", "Host f801 not reset!")


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def test_missing_tool_is_a_failed_result_not_an_exception() -> None:
    r = asyncio.run(reset_node(_lab("true"), "f801", Logs(), tool="/nonexistent/stonith"))
    assert r.outcome is FenceOutcome.FAILED and "cannot run" in r.output


def test_plugin_source_is_a_shell_script() -> None:
    src = Path(__file__).resolve().parents[2] / "src/hapulse/data/stonith/hapulse-lab"
    assert src.read_text().startswith("#!/bin/sh")
    assert shutil.which("sh") is not None
