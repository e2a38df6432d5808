"""Heartbeat 3.0.6 as the oracle: its verdict on a case's ha.cf + haresources + authkeys.

Run as root, from the checkout:

    .venv/bin/python tests/corpus/heartbeat_verdict.py tests/corpus/cases/*/
    .venv/bin/python tests/corpus/heartbeat_verdict.py --hbparameters CASE/   # also cl_status

For each case directory (holding `ha.cf`, `haresources`, optionally `authkeys`;
without one the corpus's fixed test key `tests/corpus/authkeys` is used) it runs
Debian's `/usr/libexec/heartbeat/heartbeat -v` in fresh namespaces
(`unshare --mount --uts --net --pid --fork`): its own /etc/ha.d, /etc/hosts,
/var/lib/heartbeat, /run, /var/log and an empty /etc/init.d bind-mounted
privately, the hostname set to the first node of the file, a network namespace
with only loopback and the interfaces the file names (veth pairs: this kernel
has no dummy links). When the pid namespace's first process ends, every process
in it ends, so nothing outlives a case; the
daemon is also killed by its PID first. It writes `heartbeat.json` beside the
case:

    {"starts": bool, "exit": int, "errors": [...], "warnings": [...],
     "keepalive_ms": .., "deadtime_ms": .., "warntime_ms": .., "initdead_ms": ..,
     "udpport": .., "auto_failback": "on|off|legacy", "nodes": [...],
     "local_node": .., "hbparameters": {...}}

What the oracle judges is the *file*, not this machine (documented choice):
- every interface named by `bcast`/`mcast`/`ucast` is created (a dummy link
  with an address, an alias label for `eth0:1`), because the bcast and mcast
  plugins refuse an interface that does not exist;
- every `ucast` peer and `ping` node that is not an address gets an
  /etc/hosts line (the cluster it came from resolved it);
- a `respawn`/`failfast` program missing here gets an executable stub at its
  path (an overlay over the deepest directory that exists), because Heartbeat
  refuses a missing program and the 2008-era paths (/usr/lib/heartbeat/ipfail)
  moved to /usr/libexec on Debian 12.
`cl_status` answers only once the node is active (after initdead here, no peer
being up): `--hbparameters` waits for it, up to 90 s.
The values are read from `heartbeat -v`'s configuration dump (printed before
it detaches) and the timers with Heartbeat's own cl_get_msec rules.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HEARTBEAT = "/usr/libexec/heartbeat/heartbeat"
HERE = Path(__file__).resolve().parent
TEST_AUTHKEYS = HERE / "authkeys"
PARAMS = ("keepalive", "deadtime", "warntime", "initdead", "udpport", "auto_failback",
          "baud", "hopfudge", "deadping", "logfacility", "logfile", "debugfile", "debug",
          "realtime", "hbgenmethod", "msgfmt", "use_logd", "conn_logd_time", "log_badpack",
          "syslogmsgfmt", "coredumps", "pacemaker", "autojoin", "uuidfrom", "compression",
          "compression_threshold", "traditional_compression", "max_rexmit_delay",
          "record_config_changes", "record_pengine_inputs", "enable_config_writes",
          "memreserve", "cluster", "normalpoll", "rtprio", "watchdog")
DELIMS = re.compile(r"[,\s]+")


def cl_get_msec(text: str) -> int | None:
    """Heartbeat's time parser (cluster-glue cl_misc.c), as it behaves."""
    m = re.match(r"\s*([0-9.]*)\s*(.*)$", text)
    if not m or not m.group(1):
        return None
    num, unit = m.group(1), m.group(2).lower()
    try:
        value = float(re.match(r"[0-9]*\.?[0-9]*", num).group(0) or "0")  # type: ignore[union-attr]
    except ValueError:
        value = 0.0
    if unit.startswith("ms"):
        factor = 1.0
    elif unit.startswith("us"):
        factor = 0.001
    elif unit == "":
        factor = 1000.0
    else:
        return None
    return int(value * factor + 0.5)


def directives(hacf: str) -> list[list[str]]:
    out = []
    for raw in hacf.splitlines():
        body = raw.split("#", 1)[0].strip()
        if body:
            out.append(body.split())
    return out


def first_node(hacf: str) -> str:
    for words in directives(hacf):
        if words[0] == "node" and len(words) > 1:
            names = [n for n in DELIMS.split(" ".join(words[1:])) if n]
            if names:
                return names[0].lower()
    return "nodeless"


def interfaces(hacf: str) -> list[str]:
    names: list[str] = []
    for words in directives(hacf):
        kind = "bcast" if words[0] == "udp" else words[0]
        if kind in ("bcast",):
            names += words[1:]
        elif kind in ("mcast", "ucast") and len(words) > 1:
            names.append(words[1])
    return list(dict.fromkeys(n for n in names if re.fullmatch(r"[A-Za-z0-9_.:@-]{1,15}", n)))


def host_names(hacf: str) -> list[str]:
    """Peers and ping nodes given by name (ucast, ping, ping_group)."""
    out = []
    for words in directives(hacf):
        if words[0] == "ucast" and len(words) > 2:
            out.append(words[2])
        elif words[0] == "ping":
            out += words[1:]
        elif words[0] == "ping_group":
            out += words[2:]
    return [n for n in dict.fromkeys(out) if not re.fullmatch(r"[0-9.]+", n)]


def respawn_programs(hacf: str) -> list[str]:
    out = []
    for words in directives(hacf):
        if words[0] in ("respawn", "failfast") and len(words) > 2 and words[2].startswith("/"):
            out.append(words[2])
    return out


def inner_script(work: Path, node: str, hacf: str, query: bool) -> str:
    q = shlex.quote
    lines = [
        "set -u",
        "mount --make-rprivate /",
        f"printf %s {q(node)} > /proc/sys/kernel/hostname",
        f"mount --bind {q(str(work / 'ha.d'))} /etc/ha.d",
        f"mount --bind {q(str(work / 'hosts'))} /etc/hosts",
        f"mount --bind {q(str(work / 'lib'))} /var/lib/heartbeat",
        f"mount --bind {q(str(work / 'run'))} /run",
        f"mount --bind {q(str(work / 'log'))} /var/log",
        f"mount --bind {q(str(work / 'initd'))} /etc/init.d",
        "ip link set lo up",
    ]
    for i, name in enumerate(interfaces(hacf)):
        base, _, alias = name.partition(":")
        addr = f"10.{200 + i // 200}.{i % 200}.1/24"
        lines.append(f"ip link show {q(base)} >/dev/null 2>&1 || "
                     f"ip link add {q(base)} type veth peer name hbpeer{i}")
        lines.append(f"ip link set hbpeer{i} up 2>/dev/null")
        label = f"label {q(name)}" if alias else ""
        lines.append(f"ip addr add {addr} brd + dev {q(base)} {label}")
        lines.append(f"ip link set {q(base)} up")
    for k, prog in enumerate(respawn_programs(hacf)):
        if os.path.exists(prog):
            continue
        existing = Path(prog).parent
        while not existing.exists():
            existing = existing.parent
        if str(existing) in ("/", "/usr"):
            continue  # too wide to overlay; Heartbeat refuses, and the JSON says why
        upper, wdir = work / f"upper{k}", work / f"owork{k}"
        stub = upper / Path(prog).relative_to(existing)
        stub.parent.mkdir(parents=True, exist_ok=True)
        stub.write_text("#!/bin/sh\nexec sleep 3600\n")
        stub.chmod(0o755)
        wdir.mkdir(exist_ok=True)
        lines.append(f"mount -t overlay overlay -o lowerdir={q(str(existing))},"
                     f"upperdir={q(str(upper))},workdir={q(str(wdir))} {q(str(existing))}")
    out, err = q(str(work / "stdout")), q(str(work / "stderr"))
    lines += [
        f"{HEARTBEAT} -v >{out} 2>{err}",
        f"echo $? > {q(str(work / 'rc'))}",
    ]
    if query:
        lines += [
            f"[ \"$(cat {q(str(work / 'rc'))})\" = 0 ] || exit 0",
            "i=0",
            "while [ $i -lt 900 ] && ! cl_status hbstatus >/dev/null 2>&1; do "
            "sleep 0.1; i=$((i+1)); done",
        ]
        for p in PARAMS:
            lines.append(f"printf '%s=' {p} >> {q(str(work / 'params'))}; "
                         f"cl_status hbparameter -p {p} >> {q(str(work / 'params'))} 2>/dev/null "
                         f"|| echo '<none>' >> {q(str(work / 'params'))}")
    lines += [
        "pid=$(cat /run/heartbeat.pid 2>/dev/null || true)",
        '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null',
        "exit 0",
    ]
    return "\n".join(lines) + "\n"


def prepare(work: Path, case: Path, node: str, hacf: str) -> None:
    shutil.copytree("/etc/ha.d", work / "ha.d", symlinks=True)
    shutil.rmtree(work / "ha.d" / "resource.d")
    (work / "ha.d" / "resource.d").mkdir()  # nothing a resource could run
    shutil.copy(case / "ha.cf", work / "ha.d" / "ha.cf")
    shutil.copy(case / "haresources", work / "ha.d" / "haresources")
    keys = case / "authkeys" if (case / "authkeys").exists() else TEST_AUTHKEYS
    shutil.copy(keys, work / "ha.d" / "authkeys")
    (work / "ha.d" / "authkeys").chmod(0o600)
    hosts = ["127.0.0.1 localhost", f"127.0.1.1 {node}"]
    hosts += [f"10.250.0.{i + 1} {n}" for i, n in enumerate(host_names(hacf))]
    (work / "hosts").write_text("\n".join(hosts) + "\n")
    import grp
    import pwd
    uid, gid = pwd.getpwnam("hacluster").pw_uid, grp.getgrnam("haclient").gr_gid
    shutil.copytree("/var/lib/heartbeat", work / "lib", symlinks=True)
    for d in ("run/heartbeat/ccm", "run/heartbeat/dopd", "run/heartbeat/crm",
              "run/resource-agents", "log", "initd"):
        (work / d).mkdir(parents=True, exist_ok=True)
    for d in ("run/heartbeat", "run/heartbeat/ccm", "run/heartbeat/dopd"):
        os.chown(work / d, uid, gid)


def parse_dump(stdout: str) -> tuple[dict[str, str], list[str]]:
    values: dict[str, str] = {}
    nodes: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        body = line.split("#", 1)[0].strip()
        name, _, value = body.partition("\t")
        if not value:
            name, _, value = body.partition(" ")
        if name == "node":
            nodes.append(value.strip())
        elif name not in values:
            values[name] = value.strip()
    return values, nodes


def verdict(case: Path, query: bool = False) -> dict[str, object]:
    hacf = (case / "ha.cf").read_text(errors="replace")
    node = (case / "NODE").read_text().strip() if (case / "NODE").exists() else first_node(hacf)
    work = Path(tempfile.mkdtemp(prefix="hbverdict."))
    try:
        prepare(work, case, node, hacf)
        script = work / "inner.sh"
        script.write_text(inner_script(work, node, hacf, query))
        subprocess.run(["unshare", "--mount", "--uts", "--net", "--pid", "--fork",
                        "--mount-proc", "sh", str(script)], timeout=120, check=False,
                       capture_output=True)
        stdout = (work / "stdout").read_text(errors="replace")
        stderr = (work / "stderr").read_text(errors="replace")
        rc = int((work / "rc").read_text().strip() or "-1")
        params_text = (work / "params").read_text() if (work / "params").exists() else ""
    finally:
        if not os.environ.get("HBVERDICT_KEEP"):
            shutil.rmtree(work, ignore_errors=True)
    values, nodes = parse_dump(stdout)
    errors = [ln for ln in stderr.splitlines() if "ERROR" in ln or "CRIT" in ln]
    warnings = [ln for ln in stderr.splitlines() if "WARN" in ln]
    starts = rc == 0 and "Configuration validated" in stderr + stdout or (rc == 0 and bool(values))

    def ms(name: str) -> int | None:
        return cl_get_msec(values[name]) if name in values else None

    af = values.get("auto_failback")
    result: dict[str, object] = {
        "starts": starts, "exit": rc, "local_node": node,
        "errors": [_clean(e) for e in errors], "warnings": [_clean(w) for w in warnings],
    }
    if starts:
        result.update({
            "keepalive_ms": ms("keepalive"), "deadtime_ms": ms("deadtime"),
            "warntime_ms": ms("warntime"), "initdead_ms": ms("initdead"),
            "udpport": int(values["udpport"]) if "udpport" in values else None,
            "auto_failback": _failback_word(af), "nodes": nodes,
        })
    if params_text:
        result["hbparameters"] = dict(
            (k, v.strip()) for k, _, v in (ln.partition("=") for ln in params_text.splitlines()))
    return result


def _failback_word(value: str | None) -> str | None:
    if value is None:
        return None
    v = value.lower()
    if v in ("true", "on", "yes", "y", "1"):
        return "on"
    if v in ("false", "off", "no", "n", "0"):
        return "off"
    return v


def _clean(line: str) -> str:
    # drop the timestamp/pid prefix so the JSON is stable across runs
    return re.sub(r"^.*?: (ERROR|WARN|CRIT|info|INFO|debug): ", r"\1: ", line).strip()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    ap.add_argument("cases", nargs="+", type=Path)
    ap.add_argument("--hbparameters", action="store_true",
                    help="also ask the running daemon `cl_status hbparameter -p NAME`")
    ap.add_argument("--print", action="store_true", help="print the JSON instead of writing it")
    args = ap.parse_args(argv)
    if os.geteuid() != 0 or not os.path.exists(HEARTBEAT):
        print(f"needs root and {HEARTBEAT} (Debian package heartbeat)", file=sys.stderr)
        return 2
    for case in args.cases:
        result = verdict(case, args.hbparameters)
        text = json.dumps(result, indent=2, sort_keys=True) + "\n"
        if args.print:
            print(case, text)
        else:
            (case / "heartbeat.json").write_text(text)
            print(f"{case}: {'starts' if result['starts'] else 'refuses'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
