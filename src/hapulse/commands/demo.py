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
                   help="a folder with f801/ha.d and f802/ha.d (ha.cf, authkeys, haresources) "
                        "to run instead of the seed's (default: the shared folder's seed/ "
                        "beside a checkout, else the copy installed with hapulse)")


def run(args: argparse.Namespace) -> int:
    from hapulse.lab.demo import main

    return main(args.fast, args.seed)
