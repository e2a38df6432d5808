"""ha.cf: Heartbeat's main configuration file (pure parser and checks)."""

from __future__ import annotations

import difflib
import ipaddress
import re
from dataclasses import replace
from typing import Any

from hapulse.config.model import Diagnostic, Directive, HaCf, Medium
from hapulse.config.model import isnum as _isnum

# Every directive Heartbeat 3.0.6 accepts. Value: None when hapulse implements
# it, else the reason it is accepted and ignored (reported as a warning).
DIRECTIVES: dict[str, str | None] = {
    # timers
    "keepalive": None, "deadtime": None, "warntime": None, "initdead": None,
    "deadping": "ping nodes are not implemented yet",
    # media
    "ucast": None, "bcast": None, "mcast": None, "serial": None, "baud": None, "udpport": None,
    "ucast6": "IPv6 media are not implemented yet",
    "mcast6": "IPv6 media are not implemented yet",
    # membership
    "node": None,
    "autojoin": "nodes must be listed with `node`; autojoin is not implemented",
    "uuidfrom": "hapulse keeps its own uuid in the state dir",
    "hopfudge": "hapulse does not forward messages between media",
    "ping": "ping nodes are not implemented yet",
    "ping_group": "ping nodes are not implemented yet",
    "hbaping": "HBA ping is not implemented",
    # resources
    "auto_failback": None, "nice_failback": None,
    "respawn": "hapulse does not respawn helper programs (ipfail, ...)",
    "apiauth": "hapulse has no Heartbeat API clients",
    "crm": None, "pacemaker": None,
    # fencing
    "stonith": "STONITH is not implemented yet",
    "stonith_host": "STONITH is not implemented yet",
    "watchdog": "the watchdog device is not implemented; use systemd's WatchdogSec",
    "quorum_server": "quorum servers are not implemented",
    # logging
    "logfile": None, "debugfile": None, "logfacility": None, "debug": None,
    "use_logd": None,
    "conn_logd_time": "hapulse logs directly, without ha_logd",
    "log_badpack": None,
    "syslogmsgfmt": "hapulse's syslog lines always carry the message only",
    # wire and process
    "msgfmt": None,
    "compression": "hapulse never compresses (messages stay small)",
    "compression_threshold": "hapulse never compresses (messages stay small)",
    "traditional_compression": "hapulse never compresses (messages stay small)",
    "max_rexmit_delay": "hapulse answers retransmission requests at once, each message "
                        "at most once per 0.25 s",
    "realtime": None, "rtprio": None,
    "coredumps": "Python daemons leave tracebacks in the log instead",
    "coreroot": "Python daemons leave tracebacks in the log instead",
    "hbgenmethod": "the generation always comes from the state dir",
    "memreserve": "hapulse locks its memory with mlockall instead",
    "record_config_changes": "only meaningful with Pacemaker",
    "record_pengine_inputs": "only meaningful with Pacemaker",
    "enable_config_writes": "only meaningful with Pacemaker",
    "use_apphbd": "apphbd is not used",
}

REPEATABLE = {"node", "ucast", "bcast", "mcast", "serial", "ping", "ping_group", "respawn",
              "apiauth", "stonith_host", "ucast6", "mcast6"}

_TIME_RE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(ms|us|s)?$")


def parse_time(text: str) -> float | None:
    """Heartbeat's time syntax to seconds: `30`, `1.5`, `500ms`, `2000us`, `2s`."""
    m = _TIME_RE.match(text.strip().lower())
    if not m:
        return None
    value = float(m.group(1))
    unit = m.group(2) or "s"
    return value / {"s": 1.0, "ms": 1000.0, "us": 1_000_000.0}[unit]


def _fmt(seconds: float) -> str:
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:g} ms"


def _strip_comment(line: str) -> str:
    return line.split("#", 1)[0].strip()


def _is_iface(name: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_.:@-]{1,15}", name))


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


BOOL_WORDS = {"on": True, "yes": True, "true": True, "1": True, "y": True,
              "off": False, "no": False, "false": False, "0": False, "n": False}


def parse_hacf(text: str, path: str = "ha.cf") -> tuple[HaCf, list[Diagnostic]]:
    """Parse ha.cf text; return the effective settings and every problem found."""
    diags: list[Diagnostic] = []

    def err(line: int | None, msg: str, code: str) -> None:
        diags.append(Diagnostic(path, line, "error", msg, code))

    def warn(line: int | None, msg: str, code: str) -> None:
        diags.append(Diagnostic(path, line, "warning", msg, code))

    directives: list[Directive] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        body = _strip_comment(raw)
        if not body:
            continue
        words = body.split()
        name = words[0].lower()
        if name not in DIRECTIVES:
            close = difflib.get_close_matches(name, DIRECTIVES.keys(), n=1, cutoff=0.6)
            hint = f"; did you mean `{close[0]}`?" if close else \
                "; see docs/configuration.md for the directives hapulse knows"
            err(lineno, f"unknown directive `{words[0]}`{hint}", "unknown-directive")
            continue
        directives.append(Directive(name, tuple(words[1:]), lineno))

    values: dict[str, Any] = {}
    seen_single: dict[str, int] = {}
    media: list[Medium] = []
    nodes: list[str] = []
    ping: list[str] = []
    udpport = 694
    baud = 19200
    port_line: int | None = None
    baud_line: int | None = None
    media_lines: list[int] = []
    serial_lines: list[int] = []
    auto_failback: str | None = None

    def need(d: Directive, n: int, form: str) -> bool:
        if len(d.args) < n:
            err(d.line, f"`{d.name}` needs {form}", "missing-argument")
            return False
        return True

    def timer(d: Directive) -> None:
        if not need(d, 1, "a time, e.g. `30`, `1.5` or `500ms`"):
            return
        t = parse_time(d.args[0])
        if t is None:
            err(d.line, f"`{d.name} {d.args[0]}`: not a time; write seconds (`30`, `1.5`) "
                f"or milliseconds (`500ms`)", "bad-time")
        else:
            values[d.name] = (t, d.line)

    def integer(d: Directive, lo: int, hi: int, what: str) -> int | None:
        if not need(d, 1, what):
            return None
        try:
            v = int(d.args[0], 10)
        except ValueError:
            err(d.line, f"`{d.name} {d.args[0]}`: not a whole number ({what})", "bad-number")
            return None
        if not lo <= v <= hi:
            err(d.line, f"`{d.name} {v}`: out of range {lo}..{hi}", "out-of-range")
            return None
        return v

    for d in directives:
        if d.name not in REPEATABLE:
            if d.name in seen_single:
                warn(d.line, f"`{d.name}` set again (first on line {seen_single[d.name]}); "
                     "the last value wins", "repeated-directive")
            seen_single[d.name] = d.line
        reason = DIRECTIVES[d.name]
        if reason is not None:
            warn(d.line, f"hapulse does not implement `{d.name}` yet ({reason}); "
                 "the line is ignored", "not-implemented")
            if d.name == "ping":
                ping.extend(d.args)
            continue
        if d.name in ("keepalive", "deadtime", "warntime", "initdead"):
            timer(d)
        elif d.name == "udpport":
            num = integer(d, 1, 65535, "a UDP port 1..65535")
            if num is not None:
                udpport = num
                port_line = d.line
                if media_lines:
                    warn(d.line, "udpport setting must precede media statements: the media "
                         f"on line(s) {', '.join(map(str, media_lines))} keep port "
                         f"{media[0].port if media and media[0].port else 694}; move this "
                         "line above them", "udpport-after-media")
        elif d.name == "baud":
            num = integer(d, 300, 4_000_000, "a serial speed such as 19200")
            if num is not None:
                baud = num
                baud_line = d.line
                if serial_lines:
                    warn(d.line, "baud setting must precede serial statements: the serial "
                         f"line(s) on {', '.join(map(str, serial_lines))} keep the earlier speed; "
                         "move this line above them", "baud-after-serial")
        elif d.name == "ucast":
            if need(d, 2, "an interface and the peer's address: `ucast eth1 10.0.0.2`"):
                iface, addr = d.args[0], d.args[1]
                ok = True
                if not _is_iface(iface):
                    err(d.line, f"`ucast {iface} ...`: `{iface}` is not an interface name",
                        "bad-interface")
                    ok = False
                if not _is_ipv4(addr):
                    err(d.line, f"`ucast {iface} {addr}`: `{addr}` is not an IPv4 address",
                        "bad-address")
                    ok = False
                if len(d.args) > 2:
                    warn(d.line, f"`ucast` takes one interface and one address; extra words "
                         f"{' '.join(d.args[2:])!r} ignored", "extra-arguments")
                if ok:
                    media.append(Medium("ucast", interface=iface, address=addr, port=udpport,
                                        line=d.line))
                    media_lines.append(d.line)
        elif d.name == "bcast":
            if need(d, 1, "one or more interfaces: `bcast eth0 eth1`"):
                for iface in d.args:
                    if not _is_iface(iface):
                        err(d.line, f"`bcast`: `{iface}` is not an interface name",
                            "bad-interface")
                        continue
                    media.append(Medium("bcast", interface=iface, port=udpport, line=d.line))
                media_lines.append(d.line)
        elif d.name == "mcast":
            if need(d, 5, "`mcast IFACE GROUP PORT TTL LOOP`, e.g. `mcast eth0 225.0.0.1 694 1 0`"):
                iface, group, port_s, ttl_s, loop_s = d.args[:5]
                problems = []
                if not _is_iface(iface):
                    problems.append(f"`{iface}` is not an interface name")
                try:
                    g = ipaddress.IPv4Address(group)
                    if not g.is_multicast:
                        problems.append(f"`{group}` is not a multicast group (224.0.0.0/4)")
                except ValueError:
                    problems.append(f"`{group}` is not an IPv4 address")
                port = int(port_s) if _isnum(port_s) else -1
                ttl = int(ttl_s) if _isnum(ttl_s) else -1
                loop = int(loop_s) if _isnum(loop_s) else -1
                if not 1 <= port <= 65535:
                    problems.append(f"port `{port_s}` is not 1..65535")
                if not 1 <= ttl <= 255:
                    problems.append(f"ttl `{ttl_s}` is not 1..255")
                if loop not in (0, 1):
                    problems.append(f"loop `{loop_s}` is not 0 or 1")
                for p in problems:
                    err(d.line, f"`mcast`: {p}", "bad-mcast")
                if not problems:
                    media.append(Medium("mcast", interface=iface, address=group, port=port,
                                        ttl=ttl, loop=loop, line=d.line))
                    media_lines.append(d.line)
        elif d.name == "serial":
            if need(d, 1, "a device: `serial /dev/ttyS0`"):
                for dev in d.args:
                    if not dev.startswith("/dev/"):
                        err(d.line, f"`serial {dev}`: a serial device is a path under /dev",
                            "bad-serial")
                        continue
                    media.append(Medium("serial", device=dev, baud=baud, line=d.line))
                serial_lines.append(d.line)
                media_lines.append(d.line)
        elif d.name == "node":
            if need(d, 1, "one or more node names (`uname -n` of each machine)"):
                for n in d.args:
                    if n.lower() in (x.lower() for x in nodes):
                        warn(d.line, f"node `{n}` listed twice", "duplicate-node")
                    else:
                        nodes.append(n)
        elif d.name == "auto_failback":
            if need(d, 1, "on, off or legacy"):
                v = d.args[0].lower()
                if v in ("on", "off", "legacy"):
                    auto_failback = v
                elif v in BOOL_WORDS:
                    auto_failback = "on" if BOOL_WORDS[v] else "off"
                else:
                    err(d.line, f"`auto_failback {d.args[0]}`: write on, off or legacy",
                        "bad-auto-failback")
        elif d.name == "nice_failback":
            if need(d, 1, "on or off"):
                v = d.args[0].lower()
                if v not in BOOL_WORDS:
                    err(d.line, f"`nice_failback {d.args[0]}`: write on or off", "bad-bool")
                else:
                    warn(d.line, "nice_failback is deprecated; use auto_failback "
                         f"{'off' if BOOL_WORDS[v] else 'on'}", "deprecated")
                    if auto_failback is None:
                        auto_failback = "off" if BOOL_WORDS[v] else "on"
        elif d.name in ("crm", "pacemaker"):
            if need(d, 1, "off"):
                v = d.args[0].lower()
                if v not in ("off", "no", "false", "0", "n"):
                    err(d.line, f"`{d.name} {d.args[0]}`: hapulse runs haresources clusters and "
                        "replaces Pacemaker's role here; remove the line or set it off",
                        "crm-unsupported")
        elif d.name in ("logfile", "debugfile", "logfacility"):
            if need(d, 1, "a value"):
                values[d.name] = (d.args[0], d.line)
        elif d.name == "debug":
            num = integer(d, 0, 255, "a debug level, 0 for none")
            if num is not None:
                values["debug"] = (num, d.line)
        elif d.name in ("use_logd", "log_badpack", "realtime"):
            if need(d, 1, "on or off"):
                v = d.args[0].lower()
                if v not in BOOL_WORDS:
                    err(d.line, f"`{d.name} {d.args[0]}`: write on or off", "bad-bool")
                else:
                    values[d.name] = (BOOL_WORDS[v], d.line)
        elif d.name == "rtprio":
            num = integer(d, 1, 99, "a SCHED_FIFO priority 1..99")
            if num is not None:
                values["rtprio"] = (num, d.line)
        elif d.name == "msgfmt":
            if need(d, 1, "classic or netstring"):
                v = d.args[0].lower()
                if v not in ("classic", "netstring"):
                    err(d.line, f"`msgfmt {d.args[0]}`: write classic or netstring", "bad-msgfmt")
                else:
                    values["msgfmt"] = (v, d.line)

    hacf = HaCf(directives=tuple(directives), path=path)

    def get(name: str, default: Any) -> Any:
        return values[name][0] if name in values else default

    def line(name: str) -> int | None:
        return values[name][1] if name in values else None

    keepalive = get("keepalive", 1.0)
    deadtime = get("deadtime", 30.0)
    warntime = get("warntime", None)
    initdead = get("initdead", None)

    if keepalive <= 0:
        err(line("keepalive"), "keepalive must be greater than 0", "bad-timer")
    if deadtime <= keepalive:
        err(line("deadtime") or line("keepalive"),
            f"deadtime ({_fmt(deadtime)}) must be greater than keepalive ({_fmt(keepalive)}); "
            "a peer would be declared dead between two heartbeats", "deadtime-le-keepalive")
    elif deadtime < 2 * keepalive:
        warn(line("deadtime"), f"deadtime ({_fmt(deadtime)}) is under two keepalives "
             f"({_fmt(keepalive)}): one lost heartbeat would declare a peer dead",
             "deadtime-short")
    if warntime is None:
        warntime = max(keepalive, deadtime * 0.75) if deadtime > keepalive else deadtime
    elif not keepalive < warntime < deadtime:
        err(line("warntime"), f"warntime ({_fmt(warntime)}) must lie between keepalive "
            f"({_fmt(keepalive)}) and deadtime ({_fmt(deadtime)})", "warntime-range")
    if initdead is None:
        initdead = deadtime
    else:
        if initdead < deadtime:
            err(line("initdead"), f"initdead ({_fmt(initdead)}) is smaller than deadtime "
                f"({_fmt(deadtime)}); Heartbeat refuses to start so, and so does hapulse",
                "initdead-lt-deadtime")
        elif initdead < 2 * deadtime:
            warn(line("initdead"), f"initdead ({_fmt(initdead)}) is shorter than twice deadtime "
                 f"({_fmt(2 * deadtime)}); nodes that boot slowly may be declared dead",
                 "initdead-short")
        if initdead < 10:
            warn(line("initdead"), f"initdead ({_fmt(initdead)}) should be >= deadtime and "
                 ">= 10 seconds", "initdead-under-10s")
    if auto_failback is None:
        auto_failback = "legacy"
        warn(None, "no auto_failback line: using `legacy`, which is deprecated; set "
             "auto_failback on or off", "auto-failback-legacy")
    if not media:
        err(None, "no heartbeat medium: add a `ucast IFACE PEER-ADDRESS`, `bcast IFACE`, "
            "`mcast ...` or `serial DEVICE` line", "no-media")
    if not nodes:
        err(None, "no `node` lines: list every cluster node's `uname -n`", "no-nodes")
    _ = port_line, baud_line

    hacf = replace(
        hacf,
        keepalive=keepalive, deadtime=deadtime, warntime=warntime, initdead=initdead,
        udpport=udpport, baud=baud, media=tuple(media), nodes=tuple(nodes),
        auto_failback=auto_failback,  # type: ignore[arg-type]
        logfile=get("logfile", None), debugfile=get("debugfile", None),
        logfacility=get("logfacility", None), debug=get("debug", 0), ping=tuple(ping),
        realtime=get("realtime", True), rtprio=get("rtprio", None),
        msgfmt=get("msgfmt", "netstring"),
    )
    return hacf, diags
