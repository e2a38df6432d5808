"""`hapulse status [--json]`: nodes, links and resource groups as this node sees them."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from hapulse.cli import UserError
from hapulse.paths import DEFAULT_RUN_DIR

HELP = "show nodes, links and resource groups (--json for scripts)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", default=DEFAULT_RUN_DIR, type=Path,
                   help="the daemon's run dir (default /run/hapulse)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.add_argument("--timeout", type=float, default=5.0)


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
