"""Agents that run programs: resource.d scripts, LSB init scripts, OCF agents, systemd units.

:func:`make_agent` picks the agent for one haresources word, in Heartbeat's
order (see the package's docstring). Every program runs from an argv list
with a timeout; its output goes to the log, one line each.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from hapulse.config import ResourceSpec
from hapulse.resources.agent import Agent, LogFn, Result
from hapulse.resources.ipaddr import IPaddr

DEFAULT_TIMEOUT = 60.0
OCF_ROOT = Path("/usr/lib/ocf")


class ScriptAgent:
    """A Heartbeat resource.d script, an LSB init script, an OCF agent or a systemd unit."""

    def __init__(self, text: str, argv_for: Callable[[str], list[str]], log: LogFn,
                 env: dict[str, str] | None = None, kind: str = "script",
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        self.text = text
        self.argv_for = argv_for
        self.log = log
        self.env = env
        self.kind = kind
        self.timeout = timeout

    async def _run(self, action: str) -> tuple[int, str]:
        argv = self.argv_for(action)
        self.log("info", f"Running {' '.join(argv)}")
        env = {**os.environ, **(self.env or {})}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=env, start_new_session=True)
        except OSError as exc:
            return 127, f"cannot run {argv[0]}: {exc.strerror}"
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            await proc.wait()
            return 124, f"timed out after {self.timeout:g} s"
        text = out.decode(errors="replace").strip()
        for line in text.splitlines()[-20:]:
            self.log("info", f"{self.text}: {line}")
        return int(proc.returncode or 0), text.splitlines()[-1] if text else ""

    async def start(self) -> Result:
        rc, last = await self._run("start")
        return Result(rc == 0, "" if rc == 0 else f"start exited {rc}: {last}", self.text)

    async def stop(self) -> Result:
        rc, last = await self._run("stop")
        return Result(rc == 0, "" if rc == 0 else f"stop exited {rc}: {last}", self.text)

    async def status(self) -> Result:
        rc, last = await self._run("monitor" if self.kind == "ocf" else "status")
        return Result(rc == 0, last, self.text)


class MissingAgent:
    def __init__(self, text: str, why: str) -> None:
        self.text = text
        self.why = why

    async def start(self) -> Result:
        return Result(False, self.why, self.text)

    async def stop(self) -> Result:
        return Result(True, "", self.text)  # nothing can be running

    async def status(self) -> Result:
        return Result(False, self.why, self.text)


def make_agent(spec: ResourceSpec, confdir: Path, log: LogFn,
               script_dirs: Sequence[Path] | None = None) -> Agent:
    agent, args, text = spec.agent, tuple(spec.args), spec.text
    if agent.startswith("resource.d/"):
        # `resource.d/NAME`: this script, even where hapulse has a native agent
        # (say, resource-agents' IPaddr wrapper instead of the native IPaddr)
        path = confdir / agent
        if os.access(path, os.X_OK) and path.is_file():
            return ScriptAgent(text, _script_argv(path, args), log)
        return MissingAgent(text, f"no script {path} for resource `{text}`; install it there, "
                                  "executable, or drop the `resource.d/` prefix")
    if agent.lower() in ("ipaddr", "ipaddr2") and args and "=" not in args[0]:
        return IPaddr(args[0], log, text=text)
    if agent.lower() in ("ipaddr", "ipaddr2") and args:
        params = dict(a.split("=", 1) for a in args if "=" in a)
        return IPaddr.from_params(params, log, text=text)  # broadcast, iflabel too
    if agent.startswith("ocf:"):
        parts = agent.split(":")
        if len(parts) != 3:
            return MissingAgent(text, f"`{agent}`: write ocf:PROVIDER:TYPE")
        path = OCF_ROOT / "resource.d" / parts[1] / parts[2]
        if not os.access(path, os.X_OK):
            return MissingAgent(text, f"OCF agent {path} not found or not executable; install "
                                      "it (resource-agents) or fix the name")
        env = {"OCF_ROOT": str(OCF_ROOT), "OCF_RESOURCE_INSTANCE": text.replace(":", "_")}
        for a in args:
            k, _, v = a.partition("=")
            env[f"OCF_RESKEY_{k}"] = v
        return ScriptAgent(text, lambda action: [str(path), action], log, env, kind="ocf")
    dirs = list(script_dirs) if script_dirs is not None else [confdir / "resource.d",
                                                               Path("/etc/init.d")]
    for d in dirs:
        path = d / agent
        if os.access(path, os.X_OK) and path.is_file():
            return ScriptAgent(text, _script_argv(path, args), log)
    if Path("/run/systemd/system").is_dir():
        unit = agent if "." in agent else f"{agent}.service"
        verbs = {"start": "start", "stop": "stop", "status": "is-active"}
        return ScriptAgent(text, lambda action: ["systemctl", verbs[action], unit], log,
                           kind="systemd")
    searched = ", ".join(str(d / agent) for d in dirs)
    return MissingAgent(text, f"no script for resource `{agent}`: looked for {searched} (and "
                              "no systemd); install it there, executable")


def _script_argv(path: Path, args: Sequence[str]) -> Callable[[str], list[str]]:
    def argv(action: str) -> list[str]:
        return [str(path), *args, action]

    return argv
