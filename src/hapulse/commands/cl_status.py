"""`hapulse cl_status`: Heartbeat's cl_status, same sub-commands, output and exit codes.

Scripts written for Heartbeat (monitoring checks, cron jobs) call
``cl_status nodestatus f802`` and test the exit code; they keep working
against hapulse with ``hapulse cl_status ...`` (or a ``cl_status`` symlink).
Exit codes follow Heartbeat 3.0.6: 0 ok, 1 "normal" failure (node or link
down, daemon stopped), 11 parameter error, 12 timeout, 13 unknown error
(also: not allowed to ask, i.e. not root, since the daemon may well run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from hapulse.paths import DEFAULT_RUN_DIR

HELP = "Heartbeat-compatible cluster status queries (hbstatus, nodestatus, ...)"

OK, NORMAL_FAIL, PARAMETER_ERROR, TIMEOUT, UNKNOWN_ERROR = 0, 1, 11, 12, 13

USAGE = """\
Usage: cl_status <sub-command> [<options>] [<parameters>]

Sub-commands:
clientstatus <node-name> <client-id> [<timeout>]
\tShow the status of heartbeat clients.
hblinkstatus <node-name> <link-name>
\tShow the status of a heartbeat link
hbstatus
\tIndicate if heartbeat is running on the local system.
listnodes [<option>]
\tList the nodes in the cluster.
listhblinks <node-name>
\tList the network interfaces used as hearbeat links.
nodestatus <node-name>
\tList the node status.
nodetype <node-name>
\tList the nodes of a given type.
rscstatus
\tShow the status of cluster resources.
hbparameter -p <parameter-name>
\tRetrieve the value of a cluster parameter.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", default=DEFAULT_RUN_DIR, type=Path,
                   help="the daemon's run dir (default /run/hapulse)")
    p.add_argument("words", nargs=argparse.REMAINDER,
                   help="sub-command and its options, as for Heartbeat's cl_status")


class NoRights(Exception):
    """The control socket refused us: cl_status cannot tell whether hapulse runs."""


def _query(run_dir: Path) -> dict[str, Any] | None:
    """The daemon's status; None when it does not run; NoRights when it refuses us."""
    from hapulse.runtime import ControlError, ControlPermissionError, control_request

    try:
        return control_request(run_dir, "status", timeout=5.0)
    except ControlPermissionError as exc:
        raise NoRights(str(exc)) from exc
    except ControlError:
        return None


def _node(status: dict[str, Any], name: str) -> dict[str, Any] | None:
    for n in status.get("nodes", []):
        if str(n.get("name", "")).lower() == name.lower():
            return dict(n)
    return None


def _split(words: list[str], flags: str) -> tuple[set[str], list[str], dict[str, str]]:
    """getopt-like: single-letter flags, `-p VALUE`, the rest positional."""
    seen: set[str] = set()
    values: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(words):
        w = words[i]
        if w.startswith("-") and len(w) >= 2:
            for j, ch in enumerate(w[1:]):
                if ch not in flags:
                    raise ValueError(f"Error: getopt returned character code {ch}.")
                if flags[flags.index(ch) + 1:flags.index(ch) + 2] == ":":
                    tail = w[2 + j:]
                    if tail:
                        values[ch] = tail
                    elif i + 1 < len(words):
                        i += 1
                        values[ch] = words[i]
                    break
                seen.add(ch)
        else:
            rest.append(w)
        i += 1
    return seen, rest, values


def run(args: argparse.Namespace) -> int:
    return cl_status(list(args.words), args.run_dir)


def cl_status(words: list[str], run_dir: Path) -> int:  # noqa: C901 - one branch per sub-command
    out = sys.stdout
    err = sys.stderr
    if not words or words[0] == "-h":
        out.write(USAGE)
        return OK
    cmd, rest_words = words[0], words[1:]
    optstrs = {
        "hbstatus": "mv", "listnodes": "mpnv", "nodestatus": "m", "nodeweight": "m",
        "nodesite": "m", "nodetype": "m", "listhblinks": "mv", "hblinkstatus": "m",
        "clientstatus": "m", "rscstatus": "m", "hbparameter": "mp:",
    }
    if cmd not in optstrs:
        print(f"cl_status: ERROR: {cmd}: invalid sub-command.", file=err)
        return PARAMETER_ERROR
    try:
        flags, pos, values = _split(rest_words, optstrs[cmd])
    except ValueError as exc:
        print(f"cl_status: ERROR: {exc}", file=err)
        return PARAMETER_ERROR
    human = "m" in flags
    try:
        status = _query(run_dir)
    except NoRights as exc:  # never "stopped" when we merely may not ask
        print("cl_status: ERROR: Cannot signon with heartbeat", file=err)
        print(f"cl_status: ERROR: REASON: {exc}", file=err)
        return UNKNOWN_ERROR
    if cmd == "hbstatus":
        if status is None:
            print("Heartbeat is stopped on this machine.", file=out)
            return NORMAL_FAIL
        print("Heartbeat is running on this machine.", file=out)
        if "v" in flags:
            _listnodes(status, verbose=True, human=human)
        return OK
    if status is None:
        print("cl_status: ERROR: Cannot signon with heartbeat", file=err)
        print(f"cl_status: ERROR: REASON: hapulse is not running (no control socket in {run_dir})",
              file=err)
        return NORMAL_FAIL
    if cmd == "listnodes":
        only_ping = "p" in flags and "n" not in flags
        only_normal = "n" in flags and "p" not in flags
        return _listnodes(status, verbose="v" in flags, human=human,
                          only_ping=only_ping, only_normal=only_normal)
    if cmd == "rscstatus":
        held = str(status.get("rscstatus", "none"))
        print(f"This node is holding {held} resources." if human else held, file=out)
        return OK
    if cmd == "hbparameter":
        name = values.get("p")
        if not name:
            print("cl_status: ERROR: parameter name required", file=err)
            return PARAMETER_ERROR
        value = status.get("parameters", {}).get(name)
        if value is None:
            print(f"cl_status: ERROR: Cannot get parameter {name}'s value", file=err)
            return NORMAL_FAIL
        print(f"Heartbeat parameter {name}'s value: {value}" if human else value, file=out)
        return OK
    # the remaining sub-commands name a node
    if not pos:
        print("Not enough parameters." if cmd == "nodestatus" else "No enough parameter.",
              file=err)
        return PARAMETER_ERROR
    name = pos[0]
    node = _node(status, name)
    if node is None:
        print("Error. May be due to incorrect node name", file=err)
        return PARAMETER_ERROR
    if cmd == "nodestatus":
        st = str(node.get("status"))
        print(f"The cluster node {name} is {st}" if human else st, file=out)
        return OK if st in ("active", "up", "ping") else NORMAL_FAIL
    if cmd == "nodetype":
        t = str(node.get("type", "normal"))
        print(f"The node {name}'s type: {t}" if human else t, file=out)
        return OK
    if cmd == "nodeweight":
        print(f"The weight of the cluster node {name} is 100" if human else "100", file=out)
        return OK
    if cmd == "nodesite":
        print(f"The site of the cluster node {name} is " if human else "", file=out)
        return OK
    if cmd == "listhblinks":
        _links(node, verbose="v" in flags, human=human)
        return OK
    if cmd == "hblinkstatus":
        if len(pos) < 2:
            print("No enough parameter.", file=err)
            return PARAMETER_ERROR
        links = node.get("links", {})
        if pos[1] not in links:
            print("cl_status: ERROR: Cannot get heartbeat link status", file=err)
            print("cl_status: ERROR: REASON: no such link", file=err)
            return UNKNOWN_ERROR
        st = str(links[pos[1]])
        print(f"The node {name}'s heartbeat link {pos[1]} is {st}" if human else st, file=out)
        return OK if st == "up" else NORMAL_FAIL
    if cmd == "clientstatus":
        if len(pos) < 2:
            print("No enough parameter.", file=err)
            return PARAMETER_ERROR
        # hapulse has no Heartbeat API clients (ipfail, ccm, ...): every client is offline.
        print("offline", file=out)
        return NORMAL_FAIL
    return UNKNOWN_ERROR  # pragma: no cover


def _links(node: dict[str, Any], verbose: bool, human: bool) -> None:
    if human:
        print("\tthis node has the following heartbeat links:")
    for link, st in node.get("links", {}).items():
        print(f"\t{link}\t{st}" if verbose else f"\t{link}")


def _listnodes(status: dict[str, Any], verbose: bool, human: bool,
               only_ping: bool = False, only_normal: bool = False) -> int:
    if human:
        print("The nodes are as follow:")
    for n in status.get("nodes", []):
        t = n.get("type", "normal")
        if (only_ping and t != "ping") or (only_normal and t != "normal"):
            continue
        if verbose:
            print(f"\n{n['name']}\t{n.get('status')}\t(nodetype: {t})")
            _links(n, verbose=True, human=human)
        else:
            print(n["name"])
    return OK
