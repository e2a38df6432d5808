"""`hapulse demo`: the seed's two-node cluster, live, in network namespaces (root)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "run the seed's two-node web cluster in network namespaces and narrate a failover"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fast", action="store_true",
                   help="sub-second timers (keepalive 100ms, warntime 300ms, deadtime 500ms, "
                        "initdead 2): the same story in seconds; default: the seed's timers")
    p.add_argument("--seed", type=Path, default=None,
                   help="the seed's folder with f801/ha.d and f802/ha.d (default: ../shared/seed)")


def run(args: argparse.Namespace) -> int:
    from hapulse.lab.demo import main

    return main(args.fast, args.seed)
