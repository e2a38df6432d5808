"""`hapulse status [--json | --watch]`: nodes, links and resource groups as this node sees them.

`--watch` redraws on every event (and every `--interval` seconds, for the ages);
see :func:`watch`."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from hapulse.cli import UserError
from hapulse.paths import DEFAULT_RUN_DIR

HELP = "show nodes, links and resource groups (--json for scripts)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", default=DEFAULT_RUN_DIR, type=Path,
                   help="the daemon's run dir (default /run/hapulse)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.add_argument("--timeout", type=float, default=5.0)
    p.add_argument("--watch", "-w", action="store_true",
                   help="redraw on every change, like crm_mon (Ctrl-C to leave)")
    p.add_argument("--interval", type=float, default=2.0,
                   help="--watch: seconds between redraws without an event (default 2)")


def render(st: dict[str, Any]) -> str:
    t = st.get("timers", {})
    lines = [
        f"hapulse on {st['node']} (pid {st['pid']}, up {st['uptime']:g} s): {st['hbstatus']}",
        f"timers: keepalive {t.get('keepalive'):g} s, warntime {t.get('warntime'):g} s, "
        f"deadtime {t.get('deadtime'):g} s, initdead {t.get('initdead'):g} s",
        "",
        f"{'NODE':<16} {'STATUS':<8} {'HEARD':>8}  LINKS",
    ]
    for n in st.get("nodes", []):
        ago = n.get("last_heard_ago")
        heard = "local" if n.get("local") else ("never" if ago is None else f"{ago:.1f}s")
        links = "  ".join(f"{k}:{v}" for k, v in n.get("links", {}).items())
        lines.append(f"{n['name']:<16} {n['status']:<8} {heard:>8}  {links}")
    groups = st.get("groups", [])
    if groups:
        lines += ["", f"{'GROUP':<24} {'PREFERRED':<10} {'HERE':<9} RESOURCES"]
        for g in groups:
            lines.append(f"{g['id']:<24} {g['preferred']:<10} {g['local_state']:<9} "
                         + " ".join(g["resources"]))
    lines += _monitors(st)
    lines += _guards(st)
    return "\n".join(lines)


def _monitors(st: dict[str, Any]) -> list[str]:
    """Each monitored resource's last result and when; each group's fail count here."""
    monitors = st.get("monitors") or []
    counts = {g: n for g, n in (st.get("fail_counts") or {}).items() if n}
    banned = st.get("banned") or []
    if not monitors and not counts and not banned:
        return []
    out = ["", f"{'MONITOR':<24} {'KIND':<8} {'EVERY':>6}  {'LAST':<15} {'WHEN':<19}  DETAIL"]
    for m in monitors:
        at = m.get("at")
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "never"
        last = m.get("last") or "-"
        if not m.get("active"):
            last += " (paused)" if m.get("last") else ""
            when = when if m.get("last") else "not running here"
        out.append(f"{m['resource']:<24} {m['kind']:<8} {m['interval']:>5g}s  {last:<15} "
                   f"{when:<19}  {m.get('reason') or ''}".rstrip())
    node = st.get("node", "")
    for g in sorted(set(counts) | set(banned)):
        ban = (f"; banned: {node} will not take it until `hapulse cleanup {g}`"
               if g in banned else "")
        out.append(f"fail count {g} on {node}: {counts.get(g, 0)}{ban}")
    return out


def _guards(st: dict[str, Any]) -> list[str]:
    """Split brains seen, fencing and respawned helpers, when there is anything to say."""
    out: list[str] = []
    brains = st.get("counters", {}).get("split_brains", 0)
    if brains:
        out.append(f"split brains repaired: {brains} (see the CRIT lines in the log)")
    fencing = st.get("fencing") or {}
    if fencing.get("device"):
        out.append(f"STONITH {fencing['device']}: reset {', '.join(fencing['fenced']) or 'none'}"
                   f"; {fencing['failures']} failed reset(s)")
        out += [f"  {r}" for r in fencing.get("results", [])]
    for r in st.get("respawn", []):
        out.append(f"respawn {r['command']} (as {r['user']}): {r['state']}, pid {r['pid']}, "
                   f"{r['restarts']} restart(s)")
    return ["", *out] if out else []


def run(args: argparse.Namespace) -> int:
    from hapulse.runtime import ControlError, ControlNotRunning, control_request

    if args.watch:
        return watch(args)
    try:
        st = control_request(args.run_dir, "status", timeout=args.timeout)
    except ControlError as exc:  # LSB: 3 not running; 4 (no rights) or 1 when we cannot tell
        code = 3 if isinstance(exc, ControlNotRunning) else exc.exit_code
        raise UserError(str(exc), code=code) from exc
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        print(render(st))
    return 0


# ---- --watch -----------------------------------------------------------------------------

CLEAR = "\x1b[H\x1b[2J"  # cursor home, clear the screen
SEPARATOR = "----- hapulse status --watch"


def watch_frame(text: str, tty: bool, at: float, cause: str | None = None) -> str:
    """One redraw: on a terminal, clear the screen first; in a pipe, a separator line
    (`----- hapulse status --watch HH:MM:SS [after: EVENT]`) so a reader can split them."""
    stamp = time.strftime("%H:%M:%S", time.localtime(at))
    after = f" after: {cause}" if cause else ""
    if tty:
        return f"{CLEAR}{stamp}{after}  (Ctrl-C to leave)\n\n{text}\n"
    return f"{SEPARATOR} {stamp}{after}\n{text}\n"


def watch(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Render the status at once, then again on each event the daemon streams and every
    `--interval` seconds when the text changed; until Ctrl-C, SIGTERM or the daemon goes."""
    from hapulse.commands.events import Stopped, event_text, stop_on_sigterm, subscribe
    from hapulse.runtime import ControlError, control_request

    if args.json:
        raise UserError("--watch draws text; `hapulse events --json` streams for programs")
    out = out or sys.stdout
    tty = out.isatty()
    last = ""
    try:
        with stop_on_sigterm():
            # events from the first render on: those before the stream is open come as history
            stream = subscribe(args.run_dir, max(args.interval, 0.1), args.timeout,
                               since=time.time())
            for item in itertools.chain([None], stream):
                try:
                    st = control_request(args.run_dir, "status", timeout=args.timeout)
                except ControlError:
                    break
                text = render(st)
                if item is None and text == last:
                    continue
                last = text
                out.write(watch_frame(text, tty, time.time(),
                                      None if item is None else event_text(item)))
                out.flush()
    except (KeyboardInterrupt, Stopped):
        return 0
    print("hapulse status --watch: the daemon went away (hapulse stopped)", file=sys.stderr)
    return 3
