"""The monitors' checks (async edge): one check run, bounded by its timeout.

Each kind answers ok, failed or timeout (:class:`CheckResult`), and never
blocks the event loop:

- ``lsb``: ``SCRIPT [ARGS] status``, exit 0 running, 3 stopped, anything else
  failed; ``ocf``: ``AGENT monitor`` with OCF_ROOT and OCF_RESKEY_* as the
  resource's agent runs it (plus OCF_RESKEY_CRM_meta_interval/_timeout in ms,
  as Pacemaker sets them), exit 0 running, 7 not running, anything else
  failed; ``systemd``: ``systemctl is-active UNIT``. Each program runs as an
  asyncio subprocess in its own session; at the timeout its whole process
  group is killed (SIGKILL) and reaped, so a hung script leaves nothing behind
  (a child that makes its own session escapes, as with any process-group kill).
- ``ipaddr``: the native IPaddr's own netlink status (the address still here),
  in a worker thread.
- ``http``: a GET with asyncio streams (HTTP/1.0, ``Connection: close``); ok
  when the status is the one expected. An ``https`` URL is fetched with
  ``http.client`` in a worker thread, its socket bounded by the check's timeout:
  the daemon's ``asyncio`` runs without TLS (:mod:`hapulse.lean`).
  ``tcp``: a connect to host:port.

:func:`make_check` picks the check for a monitor: its ``kind``, or when none is
written the check of the resource's agent (as :func:`hapulse.resources.make_agent`
resolves it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from hapulse.config import ResourceSpec
from hapulse.config.settings import MonitorSettings
from hapulse.monitors.policy import FAILED, OK, TIMEOUT
from hapulse.resources.agent import LogFn
from hapulse.resources.ipaddr import IPaddr
from hapulse.resources.scripts import MissingAgent, ScriptAgent, make_agent

LSB_STOPPED = 3
OCF_NOT_RUNNING = 7


@dataclass(frozen=True)
class CheckResult:
    result: str  # ok, failed, timeout
    reason: str
    duration: float  # seconds


class Check(Protocol):
    """One kind of check; `run` may be cancelled at any await (the timeout)."""

    @property
    def what(self) -> str:
        """In words, for the log and status: `/etc/init.d/httpd status`."""
        ...

    async def run(self) -> tuple[bool, str]:
        """(running, why) — why in words when not running."""
        ...


async def run_check(check: Check, timeout: float) -> CheckResult:
    """Run `check`, cancelled at `timeout` seconds; never raises for a failed check."""
    start = time.monotonic()
    try:
        ok, reason = await asyncio.wait_for(check.run(), timeout)
    except TimeoutError:
        return CheckResult(TIMEOUT, f"{check.what}: no answer in {timeout:g} s: killed",
                           time.monotonic() - start)
    except Exception as exc:  # a check's bug is a failed check, not a dead daemon
        return CheckResult(FAILED, f"{check.what}: {exc!r}", time.monotonic() - start)
    return CheckResult(OK if ok else FAILED, reason, time.monotonic() - start)


class ProgramCheck:
    """A program whose exit code says: `running` (0) or `stopped` (3 LSB, 7 OCF)."""

    def __init__(self, argv: Sequence[str], env: Mapping[str, str] | None = None,
                 stopped: int | None = LSB_STOPPED) -> None:
        self.argv = list(argv)
        self.env = dict(env or {})
        self.stopped = stopped
        self.pid: int | None = None  # the last run's process (and process group)

    @property
    def what(self) -> str:
        return " ".join(self.argv)

    async def run(self) -> tuple[bool, str]:
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env={**os.environ, **self.env},
                start_new_session=True)
        except OSError as exc:
            return False, f"cannot run {self.argv[0]}: {exc.strerror}"
        self.pid = proc.pid
        try:
            out, _ = await proc.communicate()
        finally:
            if proc.returncode is None:  # cancelled (the timeout): the whole group goes
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        text = out.decode(errors="replace").strip()
        last = text.splitlines()[-1] if text else ""
        rc = proc.returncode
        if rc == 0:
            return True, last
        if rc == self.stopped:
            return False, f"not running (exit {rc}{': ' + last if last else ''})"
        return False, f"{self.what} exited {rc}{': ' + last if last else ''}"


class AddressCheck:
    """The native IPaddr's address still on this node (netlink, in a worker thread)."""

    def __init__(self, agent: IPaddr) -> None:
        self.agent = agent

    @property
    def what(self) -> str:
        return f"address {self.agent.address}"

    async def run(self) -> tuple[bool, str]:
        if self.agent.arg is None:
            return False, self.agent.problem
        res = await self.agent.status()
        return res.ok, "" if res.ok else f"{self.agent.address} is no longer on this node"


class HttpCheck:
    """GET `url`: ok when the answer's status is `expect`."""

    def __init__(self, url: str, expect: int = 200, timeout: float = 10.0) -> None:
        self.url = url
        self.expect = expect
        self.timeout = timeout

    @property
    def what(self) -> str:
        return f"GET {self.url}"

    async def run(self) -> tuple[bool, str]:
        u = urlsplit(self.url)
        host = u.hostname or ""
        tls = u.scheme == "https"
        port = u.port or (443 if tls else 80)
        path = (u.path or "/") + (f"?{u.query}" if u.query else "")
        if tls:
            return await asyncio.to_thread(self._get_tls, host, port, path)
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            return False, f"{self.what}: {exc.strerror or exc}"
        try:
            hostport = f"[{host}]" if ":" in host else host
            if u.port:
                hostport += f":{u.port}"
            writer.write(f"GET {path} HTTP/1.0\r\nHost: {hostport}\r\n"
                         "User-Agent: hapulse-monitor\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            line = (await reader.readline()).decode("latin-1").strip()
        except OSError as exc:
            return False, f"{self.what}: {exc.strerror or exc}"
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        words = line.split()
        if len(words) < 2 or not words[0].startswith("HTTP/") or not words[1].isdigit():
            return False, f"{self.what}: not an HTTP answer: {line[:80]!r}"
        return self._judge(int(words[1]))

    def _judge(self, status: int) -> tuple[bool, str]:
        if status != self.expect:
            return False, f"{self.what}: status {status}, expected {self.expect}"
        return True, f"status {status}"

    def _get_tls(self, host: str, port: int, path: str) -> tuple[bool, str]:
        """The https GET, blocking (a worker thread): OpenSSL is loaded on the first."""
        import http.client
        import ssl

        conn = http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                           context=ssl.create_default_context())
        try:
            conn.request("GET", path, headers={"User-Agent": "hapulse-monitor",
                                               "Connection": "close"})
            status = conn.getresponse().status
        except (OSError, http.client.HTTPException) as exc:
            return False, f"{self.what}: {getattr(exc, 'strerror', None) or exc}"
        finally:
            conn.close()
        return self._judge(status)


class TcpCheck:
    """A connect to host:port."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    @property
    def what(self) -> str:
        return f"connect {self.host}:{self.port}"

    async def run(self) -> tuple[bool, str]:
        try:
            _, writer = await asyncio.open_connection(self.host, self.port)
        except OSError as exc:
            return False, f"{self.what}: {exc.strerror or exc}"
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True, "connected"


class BrokenCheck:
    """A monitor that cannot check its resource (no agent, a wrong kind): always failed."""

    def __init__(self, why: str) -> None:
        self.why = why

    @property
    def what(self) -> str:
        return "no check"

    async def run(self) -> tuple[bool, str]:
        return False, self.why


def make_check(m: MonitorSettings, spec: ResourceSpec, confdir: Path, log: LogFn,
               script_dirs: Sequence[Path] | None = None) -> Check:
    """The check for monitor `m` of the haresources resource `spec`."""
    if m.kind == "http":
        assert m.url is not None  # the settings' parser requires it
        return HttpCheck(m.url, m.expect, m.timeout)
    if m.kind == "tcp":
        assert m.host is not None and m.port is not None
        return TcpCheck(m.host, m.port)
    agent = make_agent(spec, confdir, log, script_dirs)
    kind = m.kind or (
        "ipaddr" if isinstance(agent, IPaddr) else
        agent.kind if isinstance(agent, ScriptAgent) and agent.kind in ("ocf", "systemd")
        else "lsb")
    if kind == "ipaddr":
        if isinstance(agent, IPaddr):
            return AddressCheck(agent)
        return BrokenCheck(f"kind ipaddr: {spec.text} is not an IPaddr resource")
    if kind == "systemd":
        if isinstance(agent, ScriptAgent) and agent.kind == "systemd":
            return ProgramCheck(agent.argv_for("status"), stopped=None)
        unit = spec.agent if "." in spec.agent else f"{spec.agent}.service"
        return ProgramCheck(["systemctl", "is-active", unit], stopped=None)
    if isinstance(agent, MissingAgent):
        return BrokenCheck(agent.why)
    if not isinstance(agent, ScriptAgent):
        return BrokenCheck(f"kind {kind}: {spec.text} is not a script resource")
    if kind == "ocf":
        env = {**(agent.env or {}),
               "OCF_RESKEY_CRM_meta_interval": str(int(m.interval * 1000)),
               "OCF_RESKEY_CRM_meta_timeout": str(int(m.timeout * 1000))}
        return ProgramCheck(agent.argv_for("monitor"), env, stopped=OCF_NOT_RUNNING)
    return ProgramCheck(agent.argv_for("status"), agent.env, stopped=LSB_STOPPED)
