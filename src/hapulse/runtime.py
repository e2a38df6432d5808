"""The daemon's runtime plumbing: state dir, pid lock, control socket.

- :class:`StateDir` keeps the node's uuid (created once) and its generation
  (bumped and fsynced at every start, so peers recognise a restart).
- :class:`PidLock` is a pid file held with ``flock``: a second daemon on the
  same run dir is refused with the running pid named.
- :class:`ControlServer` is a unix socket (mode 0600) in the run dir that
  speaks JSON lines; peers other than root are refused (SO_PEERCRED).
  :func:`control_request` is the CLI's synchronous client.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import socket
import struct
import uuid as uuidlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOCKET_NAME = "hapulse.sock"
PID_NAME = "hapulse.pid"

_log = logging.getLogger("hapulse")


class RuntimeErrorWithHint(Exception):
    """A runtime problem the user can fix; the message says how."""


class ControlError(RuntimeErrorWithHint):
    pass


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)

    def uuid(self) -> bytes:
        f = self.path / "hb_uuid"
        if f.exists():
            data = f.read_bytes()
            if len(data) == 16:
                return data
        value = uuidlib.uuid4().bytes
        _atomic_write(f, value)
        return value

    def bump_generation(self) -> int:
        f = self.path / "hb_generation"
        try:
            gen = int(f.read_text().strip() or "0")
        except (FileNotFoundError, ValueError):
            gen = 0
        gen += 1
        _atomic_write(f, f"{gen}\n".encode())
        return gen


class PidLock:
    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / PID_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise RuntimeErrorWithHint(
                f"another hapulse (pid {other}) already runs with run dir {self.path.parent}; "
                "stop it first (`hapulse stop`) or give another --run-dir"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None


Handler = Callable[..., Any]


def peer_uid(sock: socket.socket) -> int:
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class ControlServer:
    def __init__(self, run_dir: Path, handlers: dict[str, Handler],
                 allowed_uids: tuple[int, ...] = (0,)) -> None:
        self.path = Path(run_dir) / SOCKET_NAME
        self.handlers = handlers
        self.allowed_uids = allowed_uids
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            sock = writer.get_extra_info("socket")
            uid = peer_uid(sock) if sock is not None else -1
            if uid not in self.allowed_uids:
                _log.warning("control socket: refused a request from uid %s (root only)", uid)
                writer.write(b'{"ok": false, "error": "permission denied: root only"}\n')
                await writer.drain()
                return
            line = await asyncio.wait_for(reader.readline(), timeout=10)
            try:
                req = json.loads(line or b"{}")
                cmd = req.pop("cmd")
                handler = self.handlers[cmd]
            except (ValueError, KeyError, AttributeError, TypeError):
                reply: Any = {"ok": False, "error": f"bad request {line[:80]!r}"}
            else:
                _log.debug("control request `%s` from uid %s", cmd, uid)
                try:
                    reply = handler(**req)
                    if asyncio.iscoroutine(reply):
                        reply = await reply
                except Exception as exc:  # a handler bug is reported, not fatal
                    reply = {"ok": False, "error": f"{cmd} failed: {exc}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()


def control_request(run_dir: Path, cmd: str, timeout: float = 10.0, **args: Any) -> dict[str, Any]:
    path = Path(run_dir) / SOCKET_NAME
    if not path.exists():
        raise ControlError(f"hapulse is not running (no control socket at {path})")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(path))
            s.sendall(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
            buf = b""
            while not buf.endswith(b"\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
    except PermissionError as exc:
        raise ControlError(f"{path}: permission denied (the control socket is root only)") \
            from exc
    except (ConnectionRefusedError, FileNotFoundError) as exc:
        raise ControlError(f"hapulse is not running (stale control socket at {path})") from exc
    except TimeoutError as exc:
        raise ControlError(f"hapulse did not answer within {timeout:g} s ({path})") from exc
    try:
        reply = json.loads(buf or b"{}")
    except ValueError as exc:
        raise ControlError(f"garbled answer from hapulse: {buf[:80]!r}") from exc
    if not isinstance(reply, dict):
        raise ControlError(f"unexpected answer from hapulse: {reply!r}")
    return reply
