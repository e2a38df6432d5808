"""STONITH through cluster-glue's ``stonith`` tool, from Heartbeat's ha.cf directives.

ha.cf declares the device one of two ways (Heartbeat 3.0.6, config.c):

- ``stonith TYPE CONFIGFILE``: the device's parameters are in CONFIGFILE
  (``stonith -F``), for every node;
- ``stonith_host HOSTFROM TYPE PARAMS...``: the parameters inline
  (``stonith -p``, the last parameter taking the rest of the line), used
  only on the node named HOSTFROM, or on every node when it is ``*``.

Heartbeat keeps one device (the last usable line); :func:`device_for` does
the same. A reset runs ``stonith -t TYPE {-p PARAMS | -F FILE} -T reset
NODE`` with a timeout, in its own process group (killed whole on timeout),
and logs Heartbeat's lines: ``Resetting node f801 with [TYPE]``, then
``node f801 now reset.`` or ``Host f801 not reset!`` (``Device TYPE cannot
reset host f801.`` when the device does not control it). Retrying every 5 s
and refusing the takeover until a reset succeeds is the policy's job
(Heartbeat: ``STONITH of f801 failed.  Retrying...``; see :data:`RETRY_INTERVAL`).

cluster-glue finds external plugins (scripts) only in
:data:`EXTERNAL_PLUGIN_DIR`; :func:`install_external_plugin` puts hapulse's
lab plugin (``external/hapulse-lab``, in ``hapulse/data/stonith``) there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

STONITH_TOOL = "/usr/sbin/stonith"
EXTERNAL_PLUGIN_DIR = Path("/usr/lib/stonith/plugins/external")
PLUGIN_SOURCE_DIR = Path(__file__).resolve().parent.parent / "data" / "stonith"
RESET_TIMEOUT = 60.0  # seconds a reset may take before it counts as failed
RETRY_INTERVAL = 5.0  # Heartbeat retries a failed STONITH every 5 s
S_BADHOST = 4  # cluster-glue's exit code: the device does not control that host

LogFn = Callable[[str, str], None]  # (level, text)


@dataclass(frozen=True)
class StonithDevice:
    """One STONITH device as ha.cf declares it."""

    type: str  # cluster-glue plugin: "external/ssh", "meatware", "external/hapulse-lab"
    params: str | None = None  # stonith_host's PARAMS, given as `-p`
    config_file: str | None = None  # stonith's CONFIGFILE, given as `-F`
    host_from: str = "*"  # the node this line is for (stonith_host), "*" for every node


def parse_stonith(args: Sequence[str]) -> StonithDevice:
    """``stonith TYPE CONFIGFILE``'s arguments; ValueError in Heartbeat's words."""
    if not args:
        raise ValueError("No Stonith type given")
    if len(args) < 2:
        raise ValueError(f"stonith {args[0]}: no config file given (stonith TYPE CONFIGFILE)")
    return StonithDevice(args[0], config_file=" ".join(args[1:]))


def parse_stonith_host(args: Sequence[str]) -> StonithDevice:
    """``stonith_host HOSTFROM TYPE PARAMS...``'s arguments; ValueError in Heartbeat's words."""
    if not args:
        raise ValueError("No Stonith hostname argument given")
    if len(args) < 2:
        raise ValueError("No Stonith type given")
    return StonithDevice(args[1], params=" ".join(args[2:]), host_from=args[0].lower())


def device_for(directives: Iterable[tuple[str, Sequence[str]]], local: str) -> StonithDevice | None:
    """The device this node uses: the last ``stonith`` or matching ``stonith_host`` line.

    `directives` are ha.cf's (name, args) pairs in file order; other names are ignored.
    """
    found: StonithDevice | None = None
    for name, args in directives:
        if name == "stonith":
            found = parse_stonith(args)
        elif name == "stonith_host":
            dev = parse_stonith_host(args)
            if dev.host_from in ("*", local.lower()):
                found = dev
    return found


def stonith_argv(device: StonithDevice, node: str, tool: str = STONITH_TOOL) -> list[str]:
    """The command line that resets `node` through `device`."""
    argv = [tool, "-t", device.type]
    if device.config_file is not None:
        argv += ["-F", device.config_file]
    else:
        argv += ["-p", device.params or ""]
    return [*argv, "-T", "reset", node.lower()]


class FenceOutcome(StrEnum):
    RESET = "reset"  # the device reports the node reset
    BAD_HOST = "badhost"  # the device does not control that node
    FAILED = "failed"  # the reset failed (or the tool could not run)
    TIMEOUT = "timeout"  # no answer within the timeout; the tool was killed


@dataclass(frozen=True)
class FenceResult:
    node: str
    device: str  # the plugin type
    outcome: FenceOutcome
    exit_code: int | None  # the tool's, None on timeout or when it could not start
    seconds: float
    output: str  # what the tool printed (stdout and stderr), for the log and status

    @property
    def ok(self) -> bool:
        return self.outcome is FenceOutcome.RESET


async def reset_node(device: StonithDevice, node: str, log: LogFn,
                     timeout: float = RESET_TIMEOUT, tool: str = STONITH_TOOL,
                     clock: Callable[[], float] = time.monotonic) -> FenceResult:
    """Reset `node` through `device` with cluster-glue's tool; never raises for a failure."""
    node = node.lower()
    log("info", f"Resetting node {node} with [{device.type}]")
    start = clock()
    code: int | None = None
    output = ""
    try:
        proc = await asyncio.create_subprocess_exec(
            *stonith_argv(device, node, tool), stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            start_new_session=True)
    except OSError as e:
        outcome, output = FenceOutcome.FAILED, f"cannot run {tool}: {e}"
    else:
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
            code, output = proc.returncode, out.decode(errors="replace").strip()
            outcome = (FenceOutcome.RESET if code == 0 else
                       FenceOutcome.BAD_HOST if code == S_BADHOST else FenceOutcome.FAILED)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            outcome, output = FenceOutcome.TIMEOUT, f"no result in {timeout:g} s: killed"
    result = FenceResult(node, device.type, outcome, code, clock() - start, output)
    for line in output.splitlines():
        log("info", f"stonith: {line}")
    if outcome is FenceOutcome.RESET:
        log("info", f"node {node} now reset.")
    elif outcome is FenceOutcome.BAD_HOST:
        log("error", f"Device {device.type} cannot reset host {node}.")
    else:
        log("error", f"Host {node} not reset!")
    return result


def install_external_plugin(name: str = "hapulse-lab",
                            plugin_dir: Path = EXTERNAL_PLUGIN_DIR) -> Path:
    """Copy one of hapulse's external plugins where cluster-glue looks (mode 755); root only."""
    source = PLUGIN_SOURCE_DIR / name
    if not source.is_file():
        raise FileNotFoundError(f"no hapulse STONITH plugin named {name} in {PLUGIN_SOURCE_DIR}")
    plugin_dir.mkdir(parents=True, exist_ok=True)
    target = plugin_dir / name
    tmp = target.with_name(f".{name}.tmp")
    shutil.copyfile(source, tmp)
    tmp.chmod(0o755)
    tmp.replace(target)
    return target
