"""`hapulse check`: validate ha.cf, authkeys and haresources.

Every problem is printed, all at once, as ``FILE:LINE: error: message`` or
``FILE:LINE: warning: message`` on stderr; the exit code is 0 when the
configuration is usable (warnings allowed) and 1 when not. ``--json``
prints the effective configuration on stdout.

Beyond the files themselves, it warns about a haresources resource whose
script this node cannot find (the paths searched named): such a group
starts nowhere, and would go unnoticed until a failover.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hapulse.paths import DEFAULT_CONFDIR

if TYPE_CHECKING:
    from hapulse.config import Config, Diagnostic

HELP = "validate ha.cf, authkeys and haresources; --json prints the effective configuration"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-c", "--confdir", default=DEFAULT_CONFDIR, type=Path,
                   help="directory with ha.cf, authkeys, haresources (default /etc/ha.d)")
    p.add_argument("--node", help="this node's name (default: uname -n)")
    p.add_argument("--json", action="store_true", help="print the effective configuration")


def config_as_json(config: Config) -> dict[str, object]:
    h = config.hacf
    return {
        "node": config.node,
        "keepalive": h.keepalive,
        "warntime": h.warntime,
        "deadtime": h.deadtime,
        "initdead": h.initdead,
        "udpport": h.udpport,
        "auto_failback": h.auto_failback,
        "media": [
            {
                "kind": m.kind,
                "interface": m.interface,
                "addresses": [m.address] if m.address else [],
                **({"port": m.port} if m.port is not None else {}),
                **({"ttl": m.ttl, "loop": m.loop} if m.kind == "mcast" else {}),
                **({"device": m.device, "baud": m.baud} if m.kind == "serial" else {}),
                "line": m.line,
            }
            for m in h.media
        ],
        "nodes": list(h.nodes),
        "auth": {"key": config.authkeys.key_id, "method": config.authkeys.method},
        "groups": [
            {
                "id": g.id,
                "node": g.node,
                "line": g.line,
                "resources": [{"agent": r.agent, "args": list(r.args), "text": r.text}
                              for r in g.resources],
            }
            for g in config.groups
        ],
    }


def script_warnings(config: Config) -> list[Diagnostic]:
    """A warning for each resource whose agent cannot be found on this node."""
    from hapulse.config import Diagnostic
    from hapulse.resources.lookup import missing_agent

    out = []
    for g in config.groups:
        for r in g.resources:
            why = missing_agent(r, config.confdir)
            if why is not None:
                out.append(Diagnostic(str(config.confdir / "haresources"), g.line, "warning",
                                      f"{why} (it will not start on {config.node})",
                                      "missing-script"))
    return out


def run(args: argparse.Namespace) -> int:
    from hapulse.config import load_config

    config, diags = load_config(args.confdir, args.node)
    if config is not None:
        diags = [*diags, *script_warnings(config)]
    for d in diags:
        print(str(d), file=sys.stderr)
    if config is None:
        n = sum(1 for d in diags if d.severity == "error")
        print(f"hapulse: {args.confdir}: {n} error(s); the configuration is not usable",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(config_as_json(config), indent=2))
    else:
        w = sum(1 for d in diags if d.severity == "warning")
        print(f"{args.confdir}: configuration OK for node {config.node}"
              + (f" ({w} warning(s))" if w else ""))
    return 0
