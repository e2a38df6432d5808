"""`hapulse start | stop | restart | reload`: the daemon's lifecycle."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from hapulse.cli import UserError
from hapulse.paths import DEFAULT_CONFDIR, DEFAULT_RUN_DIR, DEFAULT_STATE_DIR

HELP = "start, stop, restart or reload the hapulse daemon"


def add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--confdir", default=DEFAULT_CONFDIR, type=Path,
                   help="directory with ha.cf, authkeys, haresources (default /etc/ha.d)")
    p.add_argument("--node", help="this node's name (default: uname -n)")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR, type=Path,
                   help="persistent state: uuid, generation (default /var/lib/hapulse)")
    p.add_argument("--run-dir", default=DEFAULT_RUN_DIR, type=Path,
                   help="pid file and control socket (default /run/hapulse)")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for the daemon to answer (default 30)")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)


def add_arguments_start(p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--foreground", "-f", action="store_true",
                   help="stay in the foreground (for systemd Type=notify and tests)")


add_arguments_restart = add_arguments_start


def _options(args: argparse.Namespace) -> object:
    from hapulse.daemon import DaemonOptions

    return DaemonOptions(
        confdir=args.confdir, node=args.node, state_dir=args.state_dir, run_dir=args.run_dir
    )


def _request(args: argparse.Namespace, cmd: str, **kw: object) -> dict[str, object]:
    from hapulse.runtime import ControlError, control_request

    try:
        return control_request(args.run_dir, cmd, timeout=args.timeout, **kw)
    except ControlError as exc:
        raise UserError(str(exc), code=exc.exit_code) from exc


def _running(args: argparse.Namespace, starting: bool = False) -> int | None:
    """The running daemon's pid; None when none runs. A daemon that is there but refuses
    us (not root) or does not answer is an error: never taken for "not running"."""
    from hapulse.runtime import ControlError, ControlNotRunning, control_request

    try:
        reply = control_request(args.run_dir, "ping", timeout=2.0)
    except ControlNotRunning:
        return None
    except ControlError as exc:
        if starting and "did not answer" in str(exc):
            return None  # still coming up
        raise UserError(f"cannot tell whether hapulse runs: {exc}", code=exc.exit_code) \
            from exc
    pid = reply.get("pid")
    return int(pid) if isinstance(pid, int) else None


def _start_error(exc: OSError, args: argparse.Namespace) -> UserError:
    """An OSError that escaped the daemon's start-up, in the words of the runtime's errors."""
    from hapulse.runtime import EXIT_STATE_DIR, describe_os_error

    name = str(exc.filename or "")
    if name.startswith(str(args.state_dir)):
        directory, option = args.state_dir, "--state-dir"
    elif name.startswith(str(args.run_dir)):
        directory, option = args.run_dir, "--run-dir"
    else:
        directory, option = Path(name or ".").parent, "--state-dir or --run-dir"
    return UserError(describe_os_error(exc, "start", directory, option), code=EXIT_STATE_DIR)


def run_start(args: argparse.Namespace) -> int:
    if args.foreground:  # the daemon: OpenSSL stays out unless a feature asks for it
        from hapulse.lean import without_openssl

        without_openssl()
    from hapulse.daemon import run_foreground

    pid = _running(args)
    if pid is not None:
        raise UserError(f"hapulse is already running (pid {pid}, run dir {args.run_dir})")
    if args.foreground:
        from hapulse.runtime import RuntimeErrorWithHint

        try:
            return run_foreground(_options(args))  # type: ignore[arg-type]
        except RuntimeErrorWithHint as exc:
            raise UserError(str(exc), code=exc.exit_code) from exc
        except OSError as exc:  # a path the daemon did not wrap: still one clear line
            raise _start_error(exc, args) from exc
    argv = [sys.executable, "-m", "hapulse", "start", "--foreground",
            "-c", str(args.confdir), "--state-dir", str(args.state_dir),
            "--run-dir", str(args.run_dir)]
    if args.node:
        argv += ["--node", args.node]
    try:
        args.run_dir.mkdir(parents=True, exist_ok=True)
        out = open(args.run_dir / "hapulse.out", "ab")  # noqa: SIM115 - handed to the child
    except OSError as exc:
        raise _start_error(exc, args) from exc
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                            start_new_session=True, close_fds=True)
    out.close()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (args.run_dir / "hapulse.out").read_text(errors="replace")[-2000:]
            raise UserError(f"hapulse did not start (exit {proc.returncode}):\n{tail}",
                            code=proc.returncode or 1)
        if _running(args, starting=True) is not None:
            print(f"hapulse started (pid {proc.pid})")
            return 0
        time.sleep(0.05)
    raise UserError(f"hapulse (pid {proc.pid}) did not answer within {args.timeout:g} s; "
                    f"see {args.run_dir / 'hapulse.out'}")


def run_stop(args: argparse.Namespace) -> int:
    pid = _running(args)
    if pid is None:
        print("hapulse is not running")
        return 0
    _request(args, "stop")
    deadline = time.monotonic() + args.timeout + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print(f"hapulse stopped (pid {pid})")
            return 0
        time.sleep(0.05)
    raise UserError(f"hapulse (pid {pid}) is still running after the stop request")


def run_restart(args: argparse.Namespace) -> int:
    run_stop(args)
    return run_start(args)


def run_reload(args: argparse.Namespace) -> int:
    reply = _request(args, "reload")
    for d in reply.get("diagnostics", []) or []:  # type: ignore[attr-defined]
        print(d)
    if not reply.get("ok"):
        why = reply.get("error")
        print(f"hapulse: reload refused{f': {why}' if why else ''}; the running "
              "configuration stays", file=sys.stderr)
        return 1
    print("configuration reloaded")
    return 0


def run(args: argparse.Namespace) -> int:  # pragma: no cover - dispatch uses run_<name>
    raise UserError("unknown lifecycle command")
