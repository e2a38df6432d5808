"""`hapulse standby` and `hapulse takeover`: hb_standby and hb_takeover.

``standby [all|local|foreign]`` gives resource groups away to the peer:
``local`` the groups this node is preferred for, ``foreign`` the ones it
holds for others, ``all`` both. ``takeover [all|local|foreign]`` asks for
them back. The same words and meanings as Heartbeat's hb_standby and
hb_takeover.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hapulse.cli import UserError
from hapulse.commands.daemonctl import _request
from hapulse.paths import DEFAULT_RUN_DIR

HELP = "give resource groups to the peer (standby) or take them (takeover)"
WHICH = ("all", "local", "foreign", "failback")  # Heartbeat's four words


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("which", nargs="?", default="all", choices=WHICH,
                   help="which groups, as hb_standby/hb_takeover: all (default), local "
                        "(preferred here), foreign, failback (= foreign)")
    p.add_argument("--run-dir", default=DEFAULT_RUN_DIR, type=Path)
    p.add_argument("--timeout", type=float, default=10.0)


def _go(args: argparse.Namespace, cmd: str) -> int:
    reply = _request(args, cmd, which=args.which)
    if not reply.get("ok"):
        raise UserError(str(reply.get("error", f"{cmd} refused")))
    print(f"{cmd} {args.which}: requested")
    return 0


def run_standby(args: argparse.Namespace) -> int:
    return _go(args, "standby")


def run_takeover(args: argparse.Namespace) -> int:
    return _go(args, "takeover")


def run(args: argparse.Namespace) -> int:  # pragma: no cover
    return _go(args, args._name)
