"""`hapulse cleanup GROUP`: forget a group's fail count and lift this node's ban.

A resource monitor that gave up on a group here (its restarts spent, or a
restart that failed) moved the group to the peer and banned this node from
it; the node takes the group again by no rule (auto_failback, a hand-over,
a dead peer) until this command runs on it. Pacemaker's ``crm_resource
--cleanup``, for a haresources group (its id: the text of its first
resource, as ``hapulse status`` lists it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hapulse.cli import UserError
from hapulse.commands.daemonctl import _request
from hapulse.paths import DEFAULT_RUN_DIR

HELP = "clear a resource group's fail count and ban on this node (after a monitor moved it)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("group", help="the group's id, as `hapulse status` lists it (the text of "
                                 "its first resource in haresources, e.g. 192.168.1.118)")
    p.add_argument("--run-dir", default=DEFAULT_RUN_DIR, type=Path)
    p.add_argument("--timeout", type=float, default=10.0)


def run(args: argparse.Namespace) -> int:
    reply = _request(args, "cleanup", group=args.group)
    if not reply.get("ok"):
        raise UserError(str(reply.get("error", "cleanup refused")))
    banned = " and lifted this node's ban" if reply.get("was_banned") else ""
    print(f"cleanup {args.group}: cleared fail count {reply.get('fail_count', 0)}{banned}")
    return 0
