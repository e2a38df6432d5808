"""`hapulse export pacemaker|corosync`: hand a Heartbeat cluster over to Pacemaker + Corosync.

`hapulse export pacemaker [-c DIR] [--node NAME] [--format crm|pcs|cib] [-o FILE]
[--corosync FILE]` writes the resource configuration (and, with --corosync, the
matching corosync.conf); `hapulse export corosync [-o FILE]` writes corosync.conf
alone. Gaps and notes head each output as comments and go to stderr; the exit
code is 0 when everything was carried over, 2 when it was exported with gaps,
1 when the configuration is not usable. What the local machine shows (its
interfaces, /etc/init.d, systemd units) is read only when the export runs on
one of the cluster's nodes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hapulse.cli import UserError
from hapulse.paths import DEFAULT_CONFDIR

if TYPE_CHECKING:
    from hapulse.config import Config, Diagnostic

HELP = "export the cluster to Pacemaker 2.1 + Corosync 3 (crm, pcs or CIB; corosync.conf)"
EXIT_GAPS = 2


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="target", metavar="TARGET")
    sub.required = True
    pm = sub.add_parser("pacemaker", help="the resource configuration (and --corosync FILE)")
    cs = sub.add_parser("corosync", help="corosync.conf")
    for q in (pm, cs):
        q.add_argument("-c", "--confdir", default=DEFAULT_CONFDIR, type=Path,
                       help="directory with ha.cf, authkeys, haresources (default /etc/ha.d)")
        q.add_argument("--node", help="this node's name (default: uname -n, else ha.cf's first)")
        q.add_argument("-o", "--output", type=Path, help="write here instead of stdout")
        q.add_argument("--nic", action="append", default=[], metavar="NODE=IFACE",
                       help="the interface NODE puts floating addresses on (repeatable)")
        q.add_argument("--addr", action="append", default=[], metavar="NODE=ADDR",
                       help="NODE's address on a heartbeat link (repeatable)")
        q.add_argument("--cluster-name", default="hapulse", help="Corosync's cluster_name")
    pm.add_argument("--format", choices=("crm", "pcs", "cib"), default="crm")
    pm.add_argument("--corosync", type=Path, metavar="FILE",
                    help="also write the matching corosync.conf to FILE")


def _pairs(values: list[str], flag: str) -> tuple[tuple[str, str], ...]:
    out = []
    for v in values:
        node, eq, value = v.partition("=")
        if not eq or not node or not value:
            raise UserError(f"{flag} {v}: write {flag} NODE=VALUE")
        out.append((node.lower(), value))
    return tuple(out)


def _interfaces() -> tuple[tuple[str, str, int], ...]:
    try:
        r = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True,
                           timeout=10, check=False)
        data = json.loads(r.stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return ()
    return tuple((link["ifname"], a["local"], int(a["prefixlen"])) for link in data
                 for a in link.get("addr_info", ()) if a.get("family") == "inet")


def _names(*dirs: str, suffix: str = "") -> frozenset[str]:
    out: set[str] = set()
    for d in dirs:
        try:
            out.update(n.removesuffix(suffix) for n in os.listdir(d) if n.endswith(suffix))
        except OSError:
            continue
    return frozenset(out)


def _load(confdir: Path, node: str | None) -> tuple[Config | None, list[Diagnostic], bool]:
    from hapulse.config import load_config, local_node_name, parse_hacf

    config, diags = load_config(confdir, node)
    if config is None and node is None and any(d.code == "local-node-unknown" for d in diags):
        text = (confdir / "ha.cf").read_text(errors="replace")
        nodes = parse_hacf(text, str(confdir / "ha.cf"), resolve=lambda h: None)[0].nodes
        if nodes:  # not run on a node: take the first, and nothing from this machine
            return load_config(confdir, nodes[0])[0], [], False
    # this machine's interfaces and scripts are the node's only when the export runs on it
    return config, diags, config is not None and config.node == local_node_name().lower()


def run(args: argparse.Namespace) -> int:
    from hapulse.export import RENDERERS, Machine, build_cluster, build_totem, render_corosync

    config, diags, on_node = _load(args.confdir, args.node)
    for d in diags:
        print(d, file=sys.stderr)
    if config is None:
        raise UserError(f"{args.confdir}: the configuration is not usable (see above); fix it, "
                        "`hapulse check` shows the same")
    machine = Machine(local=config.node if on_node else None,
                      interfaces=_interfaces() if on_node else (),
                      nics=_pairs(args.nic, "--nic"), addresses=_pairs(args.addr, "--addr"),
                      init_scripts=_names("/etc/init.d") if on_node else None,
                      units=_names("/etc/systemd/system", "/lib/systemd/system",
                                   suffix=".service") if on_node else None)
    totem = build_totem(config, machine, args.cluster_name)
    outputs: list[tuple[Path | None, str]] = []
    notes = list(totem.notes)
    if args.target == "pacemaker":
        cluster = build_cluster(config, machine)
        notes = list(cluster.notes)
        outputs.append((args.output, RENDERERS[args.format](cluster)))
        if args.corosync:
            outputs.append((args.corosync, render_corosync(totem)))
            notes += totem.notes
    else:
        outputs.append((args.output, render_corosync(totem)))
    for path, text in outputs:
        if path is None:
            sys.stdout.write(text)
        else:
            try:
                path.write_text(text)
            except OSError as exc:
                raise UserError(f"{path}: cannot write: {exc.strerror}") from None
    for n in notes:
        print(f"hapulse export: {n}", file=sys.stderr)
    return EXIT_GAPS if any(n.kind == "gap" for n in notes) else 0
