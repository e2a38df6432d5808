"""Notify hooks: a script run on every cluster transition (keepalived's `notify`).

With ``[hooks] notify = "/etc/ha.d/notify.sh"`` in hapulse.toml, the daemon runs
the script once per :class:`~hapulse.events.Event`, as::

    notify.sh KIND SUBJECT STATE [OLD]

(`OLD` only when the event has one: node and link changes), e.g.
``notify.sh node f801 dead active`` or ``notify.sh group 192.168.1.118 acquired``,
with these environment variables added to the daemon's own (less systemd's
NOTIFY_SOCKET and WATCHDOG_*):

    HAPULSE_EVENT_KIND     node, link, group, split_brain, fence, monitor
    HAPULSE_EVENT_SUBJECT  the node, NODE:LINK, group id, resource
    HAPULSE_EVENT_STATE    the new state
    HAPULSE_EVENT_OLD      the old state, or empty
    HAPULSE_EVENT_DETAIL   words about it (a duration, the peer...), or empty
    HAPULSE_EVENT_AT       Unix time of the event, in seconds (3 decimals)
    HAPULSE_EVENT_TEXT     the event as `hapulse events` prints it
    HAPULSE_NODE           this node's name

Rules, so a script can never hurt the heartbeat:

- One script at a time, in event order, from a queue of :data:`QUEUE_SIZE`
  events; when it is full a new event is dropped, counted, and a warning
  logged (at most once per :data:`DROP_LOG_EVERY` seconds).
- Each run gets its own session (process group) and stdin from /dev/null. At
  `timeout` (hapulse.toml, default 10 s) the group gets SIGTERM, and SIGKILL
  :data:`KILL_GRACE` seconds later if the script is still there.
- Its exit code, duration and any kill are logged; stdout and stderr (one
  pipe) are logged line by line, at most :data:`OUTPUT_LIMIT` bytes.
- A missing or non-executable script is one error in the log naming
  hapulse.toml and the path, logged again only when the problem changes
  (or `[hooks]` is reloaded), never once per event.
- Everything runs as tasks on the event loop: the subscriber only queues.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass

from hapulse.config.settings import HooksSettings
from hapulse.events import Event

log = logging.getLogger("hapulse")

QUEUE_SIZE = 100
KILL_GRACE = 2.0  # seconds from SIGTERM to SIGKILL
OUTPUT_LIMIT = 4096  # bytes of a script's output that reach the log
OUTPUT_LINES = 20
DROP_LOG_EVERY = 10.0  # seconds
_DROPPED_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def hook_argv(script: str, event: Event) -> list[str]:
    """`SCRIPT KIND SUBJECT STATE [OLD]`."""
    return [script, str(event.kind), event.subject, event.state, *([event.old] if event.old
                                                                   else [])]


def hook_env(event: Event, node: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with the HAPULSE_* variables."""
    env = {k: v for k, v in (os.environ if base is None else base).items()
           if k not in _DROPPED_ENV}
    env.update({
        "HAPULSE_EVENT_KIND": str(event.kind),
        "HAPULSE_EVENT_SUBJECT": event.subject,
        "HAPULSE_EVENT_STATE": event.state,
        "HAPULSE_EVENT_OLD": event.old,
        "HAPULSE_EVENT_DETAIL": event.detail,
        "HAPULSE_EVENT_AT": f"{event.at:.3f}",
        "HAPULSE_EVENT_TEXT": event.text,
        "HAPULSE_NODE": node,
    })
    return env


def script_problem(path: str) -> str | None:
    """Why `path` cannot be run as the notify script, or None when it can."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "does not exist"
    except OSError as exc:
        return f"cannot be read: {exc.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if not os.access(path, os.X_OK):
        return f"is not executable (chmod +x {path})"
    return None


@dataclass
class HookCounters:
    ran: int = 0  # runs that exited by themselves
    failed: int = 0  # ... with a non-zero exit code
    killed: int = 0  # runs killed at the timeout
    dropped: int = 0  # events dropped: the queue was full
    skipped: int = 0  # events not run: the script is missing or not executable


class _Output:
    """A script's stdout+stderr: the first `limit` bytes kept, the rest counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.extra = 0

    async def read(self, stream: asyncio.StreamReader) -> None:
        while chunk := await stream.read(65536):  # ends at EOF (or when cancelled)
            room = self.limit - len(self.data)
            self.data += chunk[:max(room, 0)]
            self.extra += max(len(chunk) - max(room, 0), 0)

    def lines(self, most: int) -> list[str]:
        text = self.data.decode("utf-8", "replace").splitlines()
        out = [line for line in text if line.strip()][:most]
        hidden = len([line for line in text if line.strip()]) - len(out)
        if hidden > 0 or self.extra:
            out.append(f"({hidden} more line(s) and {self.extra} more byte(s) not logged)")
        return out


class HookRunner:
    """Runs `[hooks] notify` for each event it is given; subscribe :meth:`notify` to the bus."""

    def __init__(self, node: str, settings: HooksSettings, source: str, *,
                 queue_size: int = QUEUE_SIZE, kill_grace: float = KILL_GRACE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.node = node
        self.settings = settings
        self.source = source  # hapulse.toml's path, for the log lines
        self.kill_grace = kill_grace
        self.clock = clock
        self.counters = HookCounters()
        self._queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=queue_size)
        self._worker: asyncio.Task[None] | None = None
        self._problem: tuple[str, str] | None = None  # (path, why) last logged
        self._drop_logged = -1e9
        self._drops_unlogged = 0
        self.running: int | None = None  # the pid of the script running now
        self._check()

    # ---- configuration -----------------------------------------------------
    def configure(self, settings: HooksSettings, source: str | None = None) -> None:
        """A reload: the next run uses `settings`; a problem with the script is logged anew."""
        self.settings = settings
        if source:
            self.source = source
        self._problem = None
        self._check()

    def _check(self) -> bool:
        """Whether the script can run; a problem is logged when it differs from the last."""
        path = self.settings.notify
        if path is None:
            return False
        why = script_problem(path)
        if why is None:
            if self._problem is not None:
                log.info("notify hook %s can be run now", path)
            self._problem = None
            return True
        if self._problem != (path, why):
            self._problem = (path, why)
            log.error("%s: [hooks] notify = \"%s\": the script %s; no notify hook runs until "
                      "it is fixed", self.source, path, why)
        return False

    # ---- the subscriber ----------------------------------------------------
    def notify(self, event: Event) -> None:
        """Queue `event` for the script (never blocks; drops when the queue is full)."""
        if self.settings.notify is None:
            return
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self.counters.dropped += 1
            self._drops_unlogged += 1
            now = self.clock()
            if now - self._drop_logged >= DROP_LOG_EVERY:
                log.warning("notify hook queue full (%d events waiting): %d event(s) dropped "
                            "since the last warning, %d in all (latest: %s); the script is "
                            "slower than the cluster changes", self._queue.qsize(),
                            self._drops_unlogged, self.counters.dropped, event.text)
                self._drop_logged = now
                self._drops_unlogged = 0

    @property
    def waiting(self) -> int:
        return self._queue.qsize()

    # ---- lifecycle ---------------------------------------------------------
    def start(self) -> None:
        """Start the worker (on the running loop)."""
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def close(self, grace: float = 0.0) -> None:
        """Let the queued events run for up to `grace` seconds, then stop (the script running
        then is killed)."""
        if self._worker is None:
            return
        if grace > 0 and self.settings.notify is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), grace)
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        self._worker = None
        if self._queue.qsize():
            log.warning("%d notify hook run(s) not done: hapulse is stopping",
                        self._queue.qsize())

    async def _work(self) -> None:
        while True:  # one event at a time, until cancelled by close()
            event = await self._queue.get()
            try:
                await self.run(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not stop the hooks that follow
                log.exception("notify hook for %s failed (a hapulse bug)", event.text)
            finally:
                self._queue.task_done()

    # ---- one run -----------------------------------------------------------
    async def run(self, event: Event) -> None:
        """Run the script for `event` and wait for it (at most timeout + kill grace)."""
        settings = self.settings
        path = settings.notify
        if path is None:
            return
        if not self._check():
            self.counters.skipped += 1
            return
        argv = hook_argv(path, event)
        started = self.clock()
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT, env=hook_env(event, self.node),
                start_new_session=True, cwd="/")
        except OSError as exc:  # e.g. a bad #! line
            self.counters.skipped += 1
            log.error("%s: [hooks] notify = \"%s\": cannot run it: %s", self.source, path,
                      exc.strerror or exc)
            return
        self.running = proc.pid
        output = _Output(OUTPUT_LIMIT)
        assert proc.stdout is not None
        reader = asyncio.ensure_future(output.read(proc.stdout))
        killed: str | None = None
        try:
            try:
                await asyncio.wait_for(proc.wait(), settings.timeout)
            except TimeoutError:
                killed = await self._kill(proc)
            # a child left in the background may hold the pipe: do not wait for it
            await asyncio.wait({reader}, timeout=0.5)
        finally:
            reader.cancel()
            if proc.returncode is None:  # cancelled (hapulse stopping) while it ran
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
            self.running = None
        took = self.clock() - started
        what = " ".join(argv[1:])
        if killed is not None:
            self.counters.killed += 1
            log.error("notify hook %s %s: killed (%s) after its timeout of %g s; ran %.3f s",
                      path, what, killed, settings.timeout, took)
        else:
            self.counters.ran += 1
            code = proc.returncode
            if code != 0:
                self.counters.failed += 1
            log.log(logging.INFO if code == 0 else logging.WARNING,
                    "notify hook %s %s: exited %s in %.3f s", path, what, code, took)
        for line in output.lines(OUTPUT_LINES):
            log.info("notify hook output: %s", line)

    async def _kill(self, proc: asyncio.subprocess.Process) -> str:
        """SIGTERM to the script's process group, SIGKILL after the grace; the last sent."""
        sent = "SIGTERM"
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), self.kill_grace)
        except TimeoutError:
            sent = "SIGKILL"
        # the group's other members (a `sleep` the script waits on) go too
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(proc.wait(), 5.0)
        return sent
