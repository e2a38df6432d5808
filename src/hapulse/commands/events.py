"""`hapulse events [--json] [--no-history | --since AGO]`: the node's transitions as they happen.

Text: one `Event.text` line per event (`2026-11-26 13:43:57 node f801 active -> dead`);
`--json`: one `Event.as_dict()` per line (`at` is Unix time). The recent events come
first (the daemon keeps the last 200), then each new one until Ctrl-C, SIGTERM, or
the daemon stops (said on stderr, exit 3 as `hapulse status` when none runs; 0 after
Ctrl-C or SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from hapulse.cli import UserError
from hapulse.events import Event, EventKind
from hapulse.paths import DEFAULT_RUN_DIR

HELP = "stream the node's transitions (nodes, links, groups...) as they happen (--json)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", default=DEFAULT_RUN_DIR, type=Path,
                   help="the daemon's run dir (default /run/hapulse)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    history = p.add_mutually_exclusive_group()
    history.add_argument("--no-history", action="store_true",
                         help="only new events, not the recent ones the daemon keeps")
    history.add_argument("--since", metavar="AGO", type=_ago,
                         help="recent events no older than AGO: seconds, or 30s, 10m, 2h")
    p.add_argument("--timeout", type=float, default=5.0,
                   help="seconds to wait for the daemon to answer (default 5)")


def _ago(text: str) -> float:
    from hapulse.config.settings import _duration

    secs = _duration(text.strip())
    if secs is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a time: give seconds or 30s, 10m, 2h")
    return secs


class Stopped(Exception):
    """SIGTERM: leave the way Ctrl-C does."""


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise Stopped

    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only (a test calling run() in a thread)
        return
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def subscribe(run_dir: Path, tick: float | None, timeout: float,
              **args: Any) -> Iterator[dict[str, Any] | None]:
    """The daemon's event stream (None every `tick` s without an event), errors as UserError."""
    from hapulse.runtime import ControlError, ControlNotRunning, control_stream

    try:
        yield from control_stream(run_dir, "events", tick=tick, timeout=timeout, **args)
    except ControlError as exc:  # LSB: 3 not running; 4 (no rights) or 1 when we cannot tell
        code = 3 if isinstance(exc, ControlNotRunning) else exc.exit_code
        raise UserError(str(exc), code=code) from exc


def event_text(item: dict[str, Any]) -> str:
    """An as_dict() line as `Event.text`; a kind this hapulse does not know, as it comes."""
    try:
        return Event(float(item["at"]), EventKind(item["kind"]), str(item["subject"]),
                     str(item["state"]), str(item.get("old", "")),
                     str(item.get("detail", ""))).text
    except (KeyError, TypeError, ValueError):
        return json.dumps(item)


def run(args: argparse.Namespace) -> int:
    request: dict[str, Any] = {"history": not args.no_history}
    if args.since is not None:
        request["since"] = time.time() - args.since
    try:
        with stop_on_sigterm():
            for item in subscribe(args.run_dir, None, args.timeout, **request):
                if item is None:
                    continue
                print(json.dumps(item) if args.json else event_text(item), flush=True)
    except (KeyboardInterrupt, Stopped):
        return 0
    print("hapulse events: the daemon closed the stream (hapulse stopped)", file=sys.stderr)
    return 3
