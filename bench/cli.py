"""hapulse beside Heartbeat 3.0.6 and keepalived, on the lab's seed topology, in one run.

    bash bench/run.sh [--reps 5] [--idle 120] [--soak 600] [--sizes 2,4,8,16,32,64,100]
                      [--scale-idle 30] [--hold-idle 300] [--hold-start 32] [--hold-trials 5]
                      [--parts gaps,scale,hold,soak] [--quick] [--out FILE]

Every system serves 192.168.1.118 from f801 with f802 as the backup. A client probes it
every millisecond (hapulse.lab.udpprobe: a UDP echo on every node answering with its
name, a datagram a millisecond from the client); with the seed's group (address, then
httpd) an HTTP poller also times the web server. Measured, per system and settings: the
time from the kill to the first answer from f802 and the client's gap (f801's last
answer to f802's first) when f801's processes are all killed and when its links go down
(median, min, max over --reps, to the millisecond), the failback gap when f801 returns,
the idle cost (CPU seconds, resident memory, packets per second) and false failovers
during an idle run; for hapulse also a planned switchover (`hapulse standby`), N nodes
(2 to 100, Heartbeat's MAXNODE) on one switch at keepalive 1 s (CPU, memory, death
detection), the largest N that holds at keepalive 250 ms with no false death in
--hold-idle seconds idle, and a soak under full CPU load with 5% loss on the heartbeat
link. Results print as a table and go to --out (docs/benchmarks.md). Traffic stays
inside the namespaces it creates.
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

from bench.cluster import REALTIME
from bench.log import log
from bench.report import NOTES, report, write
from bench.results import Results
from bench.scenarios import gaps, hold_search, scaling, soak
from hapulse.lab.heartbeat import available as heartbeat_available

ROOT = Path(__file__).resolve().parents[1]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--idle", type=float, default=120.0, help="idle window, s (fast settings)")
    p.add_argument("--soak", type=float, default=600.0, help="soak seconds (0: skip)")
    p.add_argument("--sizes", default="2,4,8,16,32,64,100",
                   help="N nodes at keepalive 1 s (at most 100)")
    p.add_argument("--scale-idle", type=float, default=30.0,
                   help="idle window per size of the N-node table, s")
    p.add_argument("--hold-idle", type=float, default=300.0,
                   help="idle window per size tried at keepalive 250 ms, s")
    p.add_argument("--hold-start", type=int, default=32, help="first size tried at 250 ms")
    p.add_argument("--hold-trials", type=int, default=5, help="sizes tried at 250 ms, at most")
    p.add_argument("--scale-realtime", action="store_true",
                   help="N nodes with `realtime on` (SCHED_FIFO daemons; default off)")
    p.add_argument("--systems", default="hapulse,heartbeat,keepalived")
    p.add_argument("--settings", default="fast,seed")
    p.add_argument("--parts", default="gaps,scale,hold,soak",
                   help="what to run: gaps (the three systems), scale (N nodes at 1 s), "
                   "hold (the largest N at 250 ms), soak")
    p.add_argument("--quick", action="store_true",
                   help="1 rep, 10 s idle, no soak, sizes 2,8 with 10 s idle, "
                   "sizes 16 and 32 at 250 ms with 20 s idle")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = p.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    if args.quick:
        args.reps, args.idle, args.soak, args.sizes = 1, 10.0, 0.0, "2,8"
        args.scale_idle, args.hold_idle, args.hold_start, args.hold_trials = 10.0, 20.0, 16, 2
    args.parts = {x for x in args.parts.split(",") if x}
    unknown = args.parts - {"gaps", "scale", "hold", "soak"}
    if unknown:
        p.error(f"unknown --parts: {', '.join(sorted(unknown))}")
    sizes = [int(x) for x in args.sizes.split(",") if x]
    if any(not 2 <= n <= 100 for n in sizes):
        p.error("--sizes: 2 to 100 nodes (Heartbeat's MAXNODE)")
    args.size_list = sizes
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
    REALTIME["realtime"] = args.scale_realtime
    started = time.time()
    res = Results()
    systems = [s for s in args.systems.split(",") if s]
    if "heartbeat" in systems and not heartbeat_available():
        systems.remove("heartbeat")
        res.notes.append("Heartbeat is not installed here; its column is empty.")
    try:
        if "gaps" in args.parts:
            for setting in [x for x in args.settings.split(",") if x]:
                for kind in systems:
                    group = "ip" if setting == "fast" else ("seed" if kind != "keepalived"
                                                             else "ip")
                    try:
                        gaps(res, kind, setting, group, args.reps,
                             args.idle if setting == "fast" else 0.0,
                             standby=(kind == "hapulse"))
                    except (TimeoutError, RuntimeError) as exc:
                        res.notes.append(f"{kind} at {setting} settings: {exc}")
                        log(f"{kind} {setting}: FAILED: {exc}")
        if "scale" in args.parts:
            scaling(res, args.size_list, args.scale_idle)
        if "hold" in args.parts:
            hold_search(res, args.hold_start, args.hold_idle, args.hold_trials)
        if "soak" in args.parts and args.soak > 0:
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
