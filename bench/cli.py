"""hapulse beside Heartbeat 3.0.6 and keepalived, on the lab's seed topology, in one run.

    bash bench/run.sh [--reps 5] [--idle 120] [--soak 600] [--sizes 2,4,8,16,32] [--quick]

Every system serves http://192.168.1.118/ from f801 with f802 as the
backup; a client polls it every 20 ms. Measured, per system and settings:
the kill-to-served gap when f801's processes are all killed and when its
links go down (median, min, max over --reps), the failback gap when f801
returns, the idle cost (CPU seconds, resident memory, packets per second)
and false failovers during an idle run; for hapulse also a planned
switchover (`hapulse standby`), 2..32-node scaling, and a soak under full
CPU load with 5% loss on the heartbeat link. Results print as a table and
go to docs/benchmarks.md. Traffic stays inside the namespaces it creates.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from bench.log import log
from bench.report import NOTES, report, write
from bench.results import Results
from bench.scenarios import gaps, scaling, soak
from hapulse.lab.heartbeat import available as heartbeat_available

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--idle", type=float, default=120.0, help="idle window, s (fast settings)")
    p.add_argument("--soak", type=float, default=600.0, help="soak seconds (0: skip)")
    p.add_argument("--sizes", default="2,4,8,16,32")
    p.add_argument("--systems", default="hapulse,heartbeat,keepalived")
    p.add_argument("--settings", default="fast,seed")
    p.add_argument("--quick", action="store_true", help="1 rep, 10 s idle, no soak, sizes 2,4")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = p.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.reps, args.idle, args.soak, args.sizes = 1, 10.0, 0.0, "2,4"
    return args


def _stop_on_signals() -> None:
    """Ctrl-C or a kill ends the run through the labs' clean-up (even when started
    in the background, where a shell ignores SIGINT)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_term(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: run as root (network namespaces)", file=sys.stderr)
        return 1
    _stop_on_signals()
    started = time.time()
    res = Results()
    systems = [s for s in args.systems.split(",") if s]
    if "heartbeat" in systems and not heartbeat_available():
        systems.remove("heartbeat")
        res.notes.append("Heartbeat is not installed here; its column is empty.")
    for setting in args.settings.split(","):
        for kind in systems:
            group = "ip" if setting == "fast" else ("seed" if kind != "keepalived" else "ip")
            try:
                gaps(res, kind, setting, group, args.reps,
                     args.idle if setting == "fast" else 0.0,
                     standby=(kind == "hapulse"))
            except (TimeoutError, RuntimeError) as exc:
                res.notes.append(f"{kind} at {setting} settings: {exc}")
                log(f"{kind} {setting}: FAILED: {exc}")
    try:
        if args.sizes:
            for n in [int(x) for x in args.sizes.split(",")]:
                try:
                    scaling(res, [n], 20.0)
                except (TimeoutError, RuntimeError) as exc:
                    res.notes.append(f"scaling, {n} nodes: {exc}")
                    log(f"scaling {n}: FAILED: {exc}")
        if args.soak > 0:
            try:
                soak(res, args.soak)
            except (TimeoutError, RuntimeError, OSError) as exc:
                res.notes.append(f"soak: {exc}")
                log(f"soak: FAILED: {exc}")
    finally:
        # whatever happened, what was measured is reported
        res.notes += NOTES
        text = report(res, args, started)
        print(text)
        write(args.out, text)
        log(f"written to {args.out}")
    return 0
