"""ha.cf's ``respawn USER PROGRAM [ARGS]``: keep a helper running, as Heartbeat 3.0.6 does.

Heartbeat runs the line's command as ``/bin/sh -c "exec PROGRAM ARGS"``
as USER (its uid, primary gid and supplementary groups), in its own
process group, stdin/stdout/stderr on /dev/null, after checking the
program is executable (never started otherwise: ``Cannot exec``). When it
exits Heartbeat logs the status and starts it again at once, except:

- exit code 100 means "do not respawn me";
- a run shorter than 30 s counts as short; the next start waits 1 s;
- after more than 10 short runs in a row Heartbeat logs
  ``Client PROGRAM "respawning too fast"`` and gives up for good.

On shutdown the program gets SIGTERM; hapulse adds SIGKILL to its process
group after ``stop_timeout`` seconds. :class:`RespawnPolicy` is the pure
back-off rule; :class:`Respawner` the asyncio supervisor:

    r = Respawner(parse_respawn(("hacluster", "/usr/lib/heartbeat/dopd")), log)
    await r.start(); r.status(); await r.stop()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shlex
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

NO_RESPAWN_EXIT = 100  # a helper exiting 100 asks not to be restarted
SHORT_RUN = 30.0  # seconds: a shorter run counts toward "respawning too fast"
MAX_SHORT_RUNS = 10  # more short runs in a row than this: give up
SHORT_RUN_DELAY = 1.0  # seconds before restarting after a short run
STOP_TIMEOUT = 5.0  # seconds between SIGTERM and SIGKILL on stop

LogFn = Callable[[str, str], None]  # (level, text)


@dataclass(frozen=True)
class RespawnSpec:
    user: str
    command: str  # PROGRAM [ARGS] as written in ha.cf

    @property
    def program(self) -> str:
        return shlex.split(self.command)[0]


def parse_respawn(args: Sequence[str]) -> RespawnSpec:
    """A ``respawn`` line's arguments (USER PROGRAM [ARGS]); ValueError names the problem."""
    if len(args) < 2:
        raise ValueError("respawn needs a user and a program: respawn USER PROGRAM [ARGS]")
    return RespawnSpec(args[0], " ".join(args[1:]))


class RespawnState(StrEnum):
    STOPPED = "stopped"  # not started, or stopped on shutdown
    RUNNING = "running"
    WAITING = "waiting"  # exited; restarts after the back-off delay
    EXITED = "exited"  # exited 100: not respawned, as asked
    GAVE_UP = "gave-up"  # respawning too fast
    FAILED = "failed"  # cannot be started (not executable, unknown user)


@dataclass(frozen=True)
class Restart:
    delay: float  # seconds to wait before starting it again


@dataclass(frozen=True)
class Stop:
    state: RespawnState  # EXITED or GAVE_UP
    reason: str


class RespawnPolicy:
    """Heartbeat's respawn rule (pure): each exit in, Restart or Stop out."""

    def __init__(self, short_run: float = SHORT_RUN, max_short_runs: int = MAX_SHORT_RUNS,
                 short_run_delay: float = SHORT_RUN_DELAY) -> None:
        self.short_run, self.max_short_runs = short_run, max_short_runs
        self.short_run_delay = short_run_delay
        self.short_runs = 0

    def exited(self, code: int | None, started: float, now: float) -> Restart | Stop:
        """`code` is the exit code, None when killed by a signal."""
        if code == NO_RESPAWN_EXIT:
            return Stop(RespawnState.EXITED, f"exit code {NO_RESPAWN_EXIT}: not respawned")
        self.short_runs = self.short_runs + 1 if now - started < self.short_run else 0
        if self.short_runs > self.max_short_runs:
            return Stop(RespawnState.GAVE_UP, "respawning too fast")
        return Restart(self.short_run_delay if self.short_runs else 0.0)


@dataclass(frozen=True)
class RespawnStatus:
    """A snapshot for ``hapulse status``."""

    command: str
    user: str
    state: RespawnState
    pid: int | None
    restarts: int
    last_exit: str | None  # "exit code 3", "signal 9"


@dataclass(frozen=True)
class _Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]


def _identity(user: str) -> _Identity:
    pw = pwd.getpwnam(user)  # KeyError for an unknown user
    return _Identity(pw.pw_uid, pw.pw_gid, tuple(os.getgrouplist(user, pw.pw_gid)))


class Respawner:
    """Runs one ``respawn`` program as its user and keeps it running until :meth:`stop`."""

    def __init__(self, spec: RespawnSpec, log: LogFn, *, policy: RespawnPolicy | None = None,
                 stop_timeout: float = STOP_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self._log = log
        self.policy = policy or RespawnPolicy()
        self.stop_timeout = stop_timeout
        self._clock = clock
        self._state = RespawnState.STOPPED
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._restarts = 0
        self._last_exit: str | None = None

    def status(self) -> RespawnStatus:
        pid = self._proc.pid if self._proc and self._proc.returncode is None else None
        return RespawnStatus(self.spec.command, self.spec.user, self._state, pid,
                             self._restarts, self._last_exit)

    async def start(self) -> None:
        """Start the program (returns once it is started, or known not to start)."""
        if self._task is not None:
            return
        self._stopping = False
        started = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._supervise(started))
        await started

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout``; never respawned again."""
        self._stopping = True
        proc = self._proc
        if proc is not None and proc.returncode is None:
            self._signal(proc, signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(proc.wait()), self.stop_timeout)
            except TimeoutError:
                self._log("warning", f"Client {self.spec.command} (pid={proc.pid}) did not stop "
                                     f"in {self.stop_timeout:g} s: killing it")
                self._signal(proc, signal.SIGKILL)
        if self._task is not None:
            task, self._task = self._task, None
            if self._state is not RespawnState.RUNNING:
                task.cancel()  # between runs (or never started): nothing to reap
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._state in (RespawnState.RUNNING, RespawnState.WAITING):
            self._state = RespawnState.STOPPED

    @staticmethod
    def _signal(proc: asyncio.subprocess.Process, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)

    async def _supervise(self, started: asyncio.Future[None]) -> None:
        try:
            while not self._stopping:
                begun = self._clock()
                if not await self._spawn():
                    return
                if not started.done():
                    started.set_result(None)
                assert self._proc is not None
                rc = await self._proc.wait()
                outcome = self._exited(self._proc.pid, rc, begun)
                if outcome is None:
                    return
                self._state = RespawnState.WAITING
                if outcome.delay > 0:
                    await asyncio.sleep(outcome.delay)
                self._restarts += 1
        finally:
            if not started.done():
                started.set_result(None)

    async def _spawn(self) -> bool:
        cmd = self.spec.command
        try:
            ident = _identity(self.spec.user)
        except KeyError:
            self._log("error", f"Cannot setup child process {cmd}: unknown user "
                               f"{self.spec.user}")
            self._state = RespawnState.FAILED
            return False
        if not os.access(self.spec.program, os.X_OK):
            self._log("error", f"Cannot exec {cmd}: {self.spec.program} is not executable")
            self._state = RespawnState.FAILED
            return False
        try:
            self._proc = await asyncio.create_subprocess_exec(
                "/bin/sh", "-c", f"exec {cmd}", stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                user=ident.uid, group=ident.gid, extra_groups=list(ident.groups),
                start_new_session=True, cwd="/")
        except OSError as e:
            self._log("error", f"Cannot exec {cmd}: {e}")
            self._state = RespawnState.FAILED
            return False
        self._state = RespawnState.RUNNING
        self._log("info", f'Starting "{cmd}" as uid {ident.uid}  gid {ident.gid} '
                          f"(pid {self._proc.pid})")
        return True

    def _exited(self, pid: int, rc: int, begun: float) -> Restart | None:
        cmd = self.spec.command
        level = "info" if self._stopping else "error"
        if rc < 0:
            self._last_exit = f"signal {-rc}"
            self._log(level, f"Client {cmd} (pid={pid}) killed by signal {-rc}.")
        else:
            self._last_exit = f"exit code {rc}"
            self._log("info" if rc == 0 else level,
                      f"Client {cmd} exited with return code {rc}.")
        if self._stopping:
            self._state = RespawnState.STOPPED
            return None
        decision = self.policy.exited(None if rc < 0 else rc, begun, self._clock())
        if isinstance(decision, Stop):
            self._state = decision.state
            if decision.state is RespawnState.GAVE_UP:
                self._log("error", f'Client {cmd} "respawning too fast"')
            else:
                self._log("info", f"Client {cmd}: {decision.reason}")
            return None
        self._log("error", f'Respawning client "{cmd}":')
        return decision

