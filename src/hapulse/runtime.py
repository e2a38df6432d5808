"""The daemon's runtime plumbing: state dir, pid lock, control socket.

- :class:`StateDir` keeps the node's uuid (created once) and its generation
  (bumped and fsynced at every start, so peers recognise a restart).
- :class:`PidLock` is a pid file held with ``flock``: a second daemon on the
  same run dir is refused with the running pid named.
- :class:`ControlServer` is a unix socket (mode 0600) in the run dir that
  speaks JSON lines; peers other than root are refused (SO_PEERCRED). Its
  limits (:class:`ControlLimits`) hold against hostile or broken clients.
  :func:`control_request` is the CLI's synchronous client. A handler may
  answer with a :class:`Stream` (``hapulse events``): the connection stays
  open and gets one JSON line per item; :func:`control_stream` reads it.

Every I/O error on the state or run directory becomes a
:class:`StateDirError`: one line naming the path, the errno in words and
the fix, and exit code :data:`EXIT_STATE_DIR`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import inspect
import json
import logging
import os
import socket
import struct
import time
import uuid as uuidlib
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOCKET_NAME = "hapulse.sock"
PID_NAME = "hapulse.pid"
GENERATION_NAME = "hb_generation"
UUID_NAME = "hb_uuid"

EXIT_FAILURE = 1
EXIT_NO_RIGHTS = 4  # LSB: "user had insufficient privilege"
EXIT_STATE_DIR = 74  # sysexits.h EX_IOERR: the state or run directory cannot be used

_log = logging.getLogger("hapulse")


class RuntimeErrorWithHint(Exception):
    """A runtime problem the user can fix; the message says how. Printed without traceback."""

    exit_code = EXIT_FAILURE


class StateDirError(RuntimeErrorWithHint):
    """The state or run directory cannot be read or written (or holds a corrupt file)."""

    exit_code = EXIT_STATE_DIR


class ControlError(RuntimeErrorWithHint):
    """The CLI could not get an answer from the daemon."""


class ControlNotRunning(ControlError):
    """No daemon behind the run dir's control socket."""


class ControlPermissionError(ControlError):
    """The control socket refused us: not root."""

    exit_code = EXIT_NO_RIGHTS


# ---- I/O errors, in words --------------------------------------------------------------


def _fix(code: int | None, directory: Path, option: str) -> str:
    if code == errno.EROFS:
        return (f"{directory} is on a read-only file system: remount it read-write, "
                f"or give {option} DIR on a writable one")
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"the file system holding {directory} is full: free some space (df -h {directory})"
    if code in (errno.EACCES, errno.EPERM):
        return (f"run hapulse as root, with {directory} owned by root and writable "
                f"(chown root {directory}; chmod 700 {directory})")
    if code in (errno.ENOTDIR, errno.EEXIST, errno.EISDIR):
        return f"a file is in the way: move it, or give {option} DIR"
    if code == errno.EIO:
        return "the disk reports an I/O error: check the kernel log (dmesg) and the disk"
    return f"check {directory}, or give {option} DIR"


def describe_os_error(exc: OSError, doing: str, directory: Path, option: str,
                      file: Path | None = None) -> str:
    """`PATH: cannot DOING: STRERROR (ENAME); FIX` for an OSError on a state or run dir.

    PATH is the one the error names, else `file` (a write() error names none), else
    `directory`."""
    path = exc.filename if exc.filename is not None else (file or directory)
    if exc.errno is None:  # e.g. "AF_UNIX path too long"
        words = str(exc)
        fix = f"give {option} a shorter path" if "too long" in words else _fix(None, directory,
                                                                              option)
    else:
        words = f"{os.strerror(exc.errno)} ({errno.errorcode.get(exc.errno, exc.errno)})"
        fix = _fix(exc.errno, directory, option)
    return f"{path}: cannot {doing}: {words}; {fix}"


@contextlib.contextmanager
def _io(doing: str, directory: Path, option: str, file: Path | None = None) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StateDirError(describe_os_error(exc, doing, directory, option, file)) from None


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


class StateDir:
    """The node's persistent state: uuid and generation. Raises StateDirError, never OSError."""

    OPTION = "--state-dir"

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with _io("create the state directory", self.path, self.OPTION):
            self.path.mkdir(parents=True, exist_ok=True)

    def uuid(self) -> bytes:
        """This node's uuid, created (16 random bytes) at the first start."""
        f = self.path / UUID_NAME
        with _io("read the node's uuid", self.path, self.OPTION):
            try:
                data = f.read_bytes()
            except FileNotFoundError:
                data = b""
        if len(data) == 16:
            return data
        value = uuidlib.uuid4().bytes
        with _io("write the node's uuid", self.path, self.OPTION, f):
            _atomic_write(f, value)
        return value

    def generation(self) -> int:
        """The generation of the last start (0 before the first); StateDirError if corrupt."""
        f = self.path / GENERATION_NAME
        with _io("read the generation file", self.path, self.OPTION):
            try:
                raw = f.read_bytes()
            except FileNotFoundError:
                return 0
        text = raw.decode("ascii", "replace").strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 18):
            raise StateDirError(
                f"{f}: the generation file is corrupt ({raw[:24]!r}; expected a decimal "
                "number); hapulse will not guess one, since peers drop a node whose generation "
                "went back. Recovery: write a number larger than any this node used, e.g. "
                f"`date +%s > {f}`, then start again")
        return int(text)

    def bump_generation(self) -> int:
        """generation() + 1, written and fsynced before it is returned. The first start
        (no file: a new node, a wiped disk, a node moved from Heartbeat) takes the Unix
        time, as Heartbeat's `hbgenmethod time` does: peers remember the generation they
        last saw (Heartbeat's is often a timestamp) and drop an older one as a replay."""
        last = self.generation()
        gen = last + 1 if last else max(1, int(time.time()))
        with _io("write the generation file", self.path, self.OPTION,
                 self.path / GENERATION_NAME):
            _atomic_write(self.path / GENERATION_NAME, f"{gen}\n".encode())
        return gen


class PidLock:
    OPTION = "--run-dir"

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / PID_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        run_dir = self.path.parent
        with _io("create the run directory", run_dir, self.OPTION):
            run_dir.mkdir(parents=True, exist_ok=True)
        with _io("open the pid file", run_dir, self.OPTION):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RuntimeErrorWithHint(
                f"another hapulse (pid {other}) already runs with run dir {run_dir}; "
                "stop it first (`hapulse stop`) or give another --run-dir"
            ) from None
        try:
            with _io("write the pid file", run_dir, self.OPTION, self.path):
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
        except StateDirError:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


# ---- the control socket ----------------------------------------------------------------

Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class ControlLimits:
    """What one client may take: request size, connections open at once, idle seconds.

    Streams count among the connections, at most `max_streams` of them (the rest stay
    for one-shot requests); a stream client more than `stream_backlog` lines behind is
    dropped with a notice, and one that reads nothing for `idle_timeout` is cut off."""

    max_request: int = 64 * 1024
    max_connections: int = 64
    idle_timeout: float = 5.0
    max_streams: int = 16
    stream_backlog: int = 1000


Item = Mapping[str, Any]  # one line of a stream (JSON)


@dataclass(frozen=True)
class Stream:
    """A handler's answer that keeps the connection open.

    `header` (``{"ok": true, ...}``) and each of `history` are written at once, then
    every item given to the callback that `subscribe` registers, one JSON line each,
    until the client leaves, falls behind, or the server closes. `subscribe` returns
    the unsubscribe; the callback never blocks (it only queues)."""

    header: Item
    history: Sequence[Item]
    subscribe: Callable[[Callable[[Item], None]], Callable[[], None]]


class BadRequest(ValueError):
    """A control request that cannot be served; its text is the error reply."""


def parse_request(line: bytes, handlers: dict[str, Handler]) -> tuple[str, dict[str, Any]]:
    """`{"cmd": NAME, ARG: VALUE...}` -> (NAME, args), or BadRequest saying what is wrong."""
    try:
        req = json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are both
        raise BadRequest(f"not JSON: {line[:60]!r}; send one line such as "
                         '{"cmd": "status"}') from None
    if not isinstance(req, dict):
        raise BadRequest('a request is a JSON object such as {"cmd": "status"}')
    cmd = req.pop("cmd", None)
    if not isinstance(cmd, str):
        raise BadRequest('the request has no "cmd" string')
    handler = handlers.get(cmd)
    if handler is None:
        raise BadRequest(f"unknown command {cmd[:40]!r}; known: {', '.join(sorted(handlers))}")
    try:
        inspect.signature(handler).bind(**req)
    except TypeError as exc:
        raise BadRequest(f"bad arguments for {cmd}: {exc}") from None
    except ValueError:  # no signature to check (a builtin): the call will say
        pass
    return cmd, req


def _reply(ok: bool, error: str, kind: str) -> bytes:
    return json.dumps({"ok": ok, "error": error, "error_kind": kind}).encode() + b"\n"


class ControlServer:
    """JSON-lines control socket: one request, one reply, then the connection closes."""

    def __init__(self, run_dir: Path, handlers: dict[str, Handler],
                 allowed_uids: tuple[int, ...] = (0,),
                 limits: ControlLimits | None = None) -> None:
        self.path = Path(run_dir) / SOCKET_NAME
        self.handlers = handlers
        self.allowed_uids = allowed_uids
        self.limits = limits or ControlLimits()
        self._server: asyncio.AbstractServer | None = None
        # open connections, oldest first -> True while it has not sent its request
        self._open: dict[asyncio.StreamWriter, bool] = {}
        self._streams: set[asyncio.StreamWriter] = set()
        self.counters = dict.fromkeys(("served", "bad_requests", "refused_uid", "evicted",
                                       "busy", "too_big", "timeouts", "streams",
                                       "streams_dropped"), 0)
        self._refusal_logged = -1e9

    async def start(self) -> None:
        run_dir = self.path.parent
        with _io("create the control socket", run_dir, PidLock.OPTION):
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            old = os.umask(0o177)
            try:
                self._server = await asyncio.start_unix_server(
                    self._serve, path=str(self.path), limit=self.limits.max_request)
            finally:
                os.umask(old)
            os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._open):
                writer.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _make_room(self) -> bool:
        """At the limit, close the oldest connection still silent; False if all are busy."""
        if len(self._open) < self.limits.max_connections:
            return True
        victim = next((w for w, waiting in self._open.items() if waiting), None)
        if victim is None:
            return False
        self.counters["evicted"] += 1
        del self._open[victim]
        with contextlib.suppress(Exception):
            victim.write(_reply(False, f"closed: {self.limits.max_connections} control "
                                "connections open and this one sent no request", "busy"))
            victim.close()
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if not self._make_room():
                self.counters["busy"] += 1
                writer.write(_reply(False, "busy: too many control requests at once; "
                                    "try again", "busy"))
                return
            self._open[writer] = True
            reply = await self._answer(reader, writer)
            if isinstance(reply, Stream):
                await self._stream(reader, writer, reply)
            elif reply is not None and writer in self._open:
                writer.write(reply)
                await asyncio.wait_for(writer.drain(), self.limits.idle_timeout)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            pass  # a client that went away or stopped reading
        except Exception as exc:  # never a traceback from asyncio: say it once, go on
            _log.error("control socket: a connection failed: %r (a hapulse bug)", exc)
        finally:
            self._open.pop(writer, None)
            with contextlib.suppress(Exception):
                writer.close()

    async def _answer(self, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter) -> bytes | Stream | None:
        sock = writer.get_extra_info("socket")
        uid = peer_uid(sock) if sock is not None else -1
        if uid not in self.allowed_uids:
            self.counters["refused_uid"] += 1
            now = time.monotonic()
            if now - self._refusal_logged >= 10.0:
                self._refusal_logged = now
                _log.warning("control socket: refused a request from uid %s (root only; "
                             "%d refused so far)", uid, self.counters["refused_uid"])
            return _reply(False, "permission denied: the control socket is root only",
                          "permission")
        limits = self.limits
        try:
            line = await asyncio.wait_for(reader.readuntil(b"\n"), limits.idle_timeout)
        except asyncio.LimitOverrunError:
            self.counters["too_big"] += 1
            return _reply(False, f"request over {limits.max_request} bytes; a control "
                          "request is one short JSON line", "too_big")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial.strip():
                return None  # connected and left
            line = exc.partial  # the last request of a client that shut its side down
        except TimeoutError:
            self.counters["timeouts"] += 1
            return _reply(False, f"no complete request within {limits.idle_timeout:g} s",
                          "timeout")
        if writer not in self._open:
            return None  # evicted meanwhile
        self._open[writer] = False
        try:
            cmd, args = parse_request(line, self.handlers)
        except BadRequest as exc:
            self.counters["bad_requests"] += 1
            return _reply(False, str(exc), "bad_request")
        _log.debug("control request `%s` from uid %s", cmd, uid)
        try:
            result = self.handlers[cmd](**args)
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, Stream):
                if len(self._streams) >= limits.max_streams:
                    self.counters["busy"] += 1
                    return _reply(False, f"busy: {limits.max_streams} streams open; "
                                  "try again later", "busy")
                self.counters["served"] += 1
                return result
            data = json.dumps(result).encode() + b"\n"
        except Exception as exc:  # a handler bug or a bad value: reported, not fatal
            _log.error("control command `%s` failed: %r", cmd, exc)
            return _reply(False, f"{cmd} failed: {exc}", "failed")
        self.counters["served"] += 1
        return data


    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      stream: Stream) -> None:
        """Serve `stream` on this connection until the client leaves, falls behind, or the
        server closes. The subscriber only queues; one task writes, one notices EOF."""
        limits = self.limits
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()  # None: dropped, say so
        behind = False

        def push(item: Item) -> None:
            nonlocal behind
            if behind:
                return
            if queue.qsize() >= limits.stream_backlog:
                behind = True
                self.counters["streams_dropped"] += 1
                _log.warning("control socket: a stream client fell %d lines behind; dropped "
                             "it", limits.stream_backlog)
                queue.put_nowait(None)
                return
            queue.put_nowait(json.dumps(item).encode() + b"\n")

        self.counters["streams"] += 1
        self._streams.add(writer)
        unsubscribe = stream.subscribe(push)
        try:
            writer.write(b"".join(json.dumps(i).encode() + b"\n"
                                  for i in (stream.header, *stream.history)))
            await asyncio.wait_for(writer.drain(), limits.idle_timeout)
            pump = asyncio.ensure_future(self._pump(queue, writer))
            gone = asyncio.ensure_future(reader.read(1))  # EOF: the client left
            try:
                await asyncio.wait({pump, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (pump, gone):
                    task.cancel()
                await asyncio.gather(pump, gone, return_exceptions=True)
        finally:
            unsubscribe()
            self._streams.discard(writer)
            if writer.transport.get_write_buffer_size():
                writer.transport.abort()  # a client not reading: no waiting for its buffer

    async def _pump(self, queue: asyncio.Queue[bytes | None],
                    writer: asyncio.StreamWriter) -> None:
        while True:  # ends when dropped, on a write error, or cancelled
            line = await queue.get()
            if line is None:
                line = _reply(False, f"dropped: this client fell {self.limits.stream_backlog} "
                              "lines behind; reconnect", "slow")
                writer.write(line)
                await asyncio.wait_for(writer.drain(), self.limits.idle_timeout)
                return
            writer.write(line)
            await asyncio.wait_for(writer.drain(), self.limits.idle_timeout)


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def _socket_path(run_dir: Path) -> tuple[Path, str]:
    """The control socket's path (and the words for a refusal), if it is there."""
    path = Path(run_dir) / SOCKET_NAME
    denied = (f"{path}: permission denied: the control socket is root only; "
              "run this command as root (with sudo)")
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ControlNotRunning(f"hapulse is not running (no control socket at {path})") \
            from None
    except PermissionError:
        raise ControlPermissionError(denied) from None
    except OSError as exc:
        raise ControlError(f"{path}: {exc.strerror}") from None
    return path, denied


def control_stream(run_dir: Path, cmd: str, tick: float | None = None, timeout: float = 10.0,
                   **args: Any) -> Generator[dict[str, Any] | None, None, None]:
    """A streaming request: yields each item the daemon sends, and None when `tick` seconds
    pass without one; returns when the daemon closes the stream (it stopped). Raises
    ControlNotRunning / ControlPermissionError / ControlError as control_request does,
    ControlError too when the daemon drops this client (it read too slowly)."""
    path, denied = _socket_path(run_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        except PermissionError:
            raise ControlPermissionError(denied) from None
        except (ConnectionRefusedError, FileNotFoundError):
            raise ControlNotRunning(f"hapulse is not running (stale control socket at "
                                    f"{path})") from None
        except OSError as exc:
            raise ControlError(f"{path}: {exc.strerror or exc}") from None
        buf = b""
        header: dict[str, Any] | None = None
        while True:  # one recv per pass; ends at EOF or an error
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    item = json.loads(line)
                except ValueError:
                    raise ControlError(f"garbled line from hapulse: {line[:80]!r}") from None
                if not isinstance(item, dict):
                    raise ControlError(f"unexpected line from hapulse: {item!r}")
                if item.get("ok") is False:
                    if item.get("error_kind") == "permission":
                        raise ControlPermissionError(denied)
                    raise ControlError(f"hapulse: {item.get('error')}")
                if header is None:
                    header = item
                    s.settimeout(tick)
                else:
                    yield item
            if len(buf) > 64 * 1024 * 1024:
                raise ControlError("hapulse sent a line over 64 MiB")
            try:
                chunk = s.recv(65536)
            except TimeoutError:
                if header is None:
                    raise ControlError(f"hapulse did not answer within {timeout:g} s "
                                       f"({path})") from None
                yield None
                continue
            except OSError:
                return  # reset: the daemon went away
            if not chunk:
                return
            buf += chunk


def control_request(run_dir: Path, cmd: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
    """One request to the daemon; ControlNotRunning / ControlPermissionError / ControlError."""
    path, denied = _socket_path(run_dir)
    buf = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                # a refusal may be sent and the socket closed before our request is read
                s.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            while not buf.endswith(b"\n") and len(buf) < 64 * 1024 * 1024:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except PermissionError:
        raise ControlPermissionError(denied) from None
    except (ConnectionRefusedError, FileNotFoundError):
        raise ControlNotRunning(f"hapulse is not running (stale control socket at {path})") \
            from None
    except TimeoutError:
        raise ControlError(f"hapulse did not answer within {timeout:g} s ({path})") from None
    except OSError as exc:
        if not buf:
            raise ControlError(f"{path}: {exc.strerror or exc}") from None
    try:
        reply = json.loads(buf or b"{}")
    except ValueError:
        raise ControlError(f"garbled answer from hapulse: {buf[:80]!r}") from None
    if not isinstance(reply, dict):
        raise ControlError(f"unexpected answer from hapulse: {reply!r}")
    if reply.get("error_kind") == "permission":
        raise ControlPermissionError(denied)
    return reply
