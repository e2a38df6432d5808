"""ha.cf: Heartbeat's main configuration file, read as Heartbeat 3.0.6 reads it (pure).

The line loop lives here; each directive's rules live in `directives.HANDLERS`.
After the loop, `_finish` applies Heartbeat's defaults and cross-checks
(warntime = deadtime/2, initdead from deadtime, deadtime > 2 x keepalive, ...).
"""

from __future__ import annotations

import difflib
import re
import socket

from hapulse.config.directives import (
    BOOLEANS,
    HANDLERS,
    WHOLE_LINE,
    Resolver,
    State,
    cl_get_msec,
)
from hapulse.config.model import Diagnostic, Directive, HaCf

# Every directive Heartbeat 3.0.6 accepts (kept for callers that list them).
DIRECTIVES: dict[str, str | None] = {name: None for name in HANDLERS}
_DELIMS = re.compile(r"[,\s]+")
# Heartbeat's defaults for parameters it records (cl_status hbparameter answers these)
RECORDED_DEFAULTS = {
    "cluster": "linux-ha", "hopfudge": "1", "keepalive": "1000ms", "deadtime": "30000ms",
    "baud": "19200", "auto_failback": "legacy", "hbgenmethod": "file", "realtime": "true",
    "normalpoll": "true", "msgfmt": "classic", "conn_logd_time": "60", "log_badpack": "true",
    "syslogmsgfmt": "true", "coredumps": "true", "pacemaker": "false", "autojoin": "none",
    "uuidfrom": "file", "compression": "zlib", "compression_threshold": "2",
    "traditional_compression": "no", "max_rexmit_delay": "250",
    "record_config_changes": "on", "record_pengine_inputs": "on",
    "enable_config_writes": "on", "memreserve": "6500",
}


def parse_time(text: str) -> float | None:
    """Heartbeat's time syntax to seconds (`30`, `1.5`, `500ms`, `2000us`); None if invalid."""
    ms = cl_get_msec(text)
    return None if ms is None else ms / 1000.0


def resolve_ipv4(host: str) -> str | None:
    """The address Heartbeat's ucast would use for `host` (gethostbyname), or None."""
    try:
        return socket.gethostbyname(host)
    except (OSError, UnicodeError):
        return None


def _fmt(ms: int) -> str:
    return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms} ms"


def _lines(text: str) -> list[tuple[int, str]]:
    out = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        body = raw.split("#", 1)[0].strip()
        if body:
            out.append((lineno, body))
    return out


def parse_hacf(text: str, path: str = "ha.cf",
               resolve: Resolver | None = None) -> tuple[HaCf, list[Diagnostic]]:
    """Parse ha.cf text; return the effective settings and every problem found."""
    st = State(path=path, resolve=resolve or resolve_ipv4)
    directives: list[Directive] = []
    for lineno, body in _lines(text):
        name, _, rest = body.replace("\t", " ").partition(" ")
        rest = rest.strip()
        if name == "udp":
            st.warn(lineno, "directive 'udp' replaced by 'bcast' (Heartbeat's warning too); "
                    "write `bcast`", "udp-alias")
            name = "bcast"
        handler = HANDLERS.get(name)
        if handler is None:
            _unknown(st, lineno, name)
            continue
        words = [w for w in _DELIMS.split(rest) if w]
        directives.append(Directive(name, tuple(rest.split()), lineno))
        if name in WHOLE_LINE:
            handler(st, name, rest, lineno)
        elif not words:
            st.warn(lineno, f"`{name}` has no value; Heartbeat ignores the line",
                    "missing-argument")
        for word in words if name not in WHOLE_LINE else ():
            handler(st, name, word, lineno)
    return _finish(st, tuple(directives))


def _unknown(st: State, lineno: int, name: str) -> None:
    if name.lower() in HANDLERS:
        hint = f"; directives are lower case: write `{name.lower()}`"
    else:
        close = difflib.get_close_matches(name, HANDLERS.keys(), n=1, cutoff=0.6)
        hint = f"; did you mean `{close[0]}`?" if close else \
            "; see docs/configuration.md for the directives Heartbeat knows"
    st.err(lineno, f"unknown directive `{name}`{hint} (Heartbeat refuses it too)",
           "unknown-directive")


def _line(st: State, name: str) -> int | None:
    return st.values[name][1] if name in st.values else None


def _finish(st: State, directives: tuple[Directive, ...]) -> tuple[HaCf, list[Diagnostic]]:
    keepalive = st.ms.get("keepalive", 1000)
    deadtime = st.ms.get("deadtime", 30000)
    warntime = st.ms.get("warntime", deadtime // 2)
    initdead = st.ms.get("initdead")
    if initdead is None:
        initdead = deadtime if deadtime > 10000 else 12000 if deadtime < 6000 else 2 * deadtime
    deadping = st.ms.get("deadping", deadtime)
    if deadtime <= 2 * keepalive:
        st.err(_line(st, "deadtime") or _line(st, "keepalive") or 0,
               f"deadtime ({_fmt(deadtime)}) must be more than twice keepalive "
               f"({_fmt(keepalive)}); Heartbeat refuses this (\"Dead time is too small "
               "compared to keepalive\")", "deadtime-le-keepalive")
    if "deadping" in st.ms and deadping <= 2 * keepalive:
        st.err(_line(st, "deadping") or 0, f"deadping ({_fmt(deadping)}) must be more than "
               f"twice keepalive ({_fmt(keepalive)})", "deadping-short")
    if "warntime" in st.ms and not keepalive < warntime < deadtime:
        st.warn(_line(st, "warntime") or 0, f"warntime ({_fmt(warntime)}) is not between "
                f"keepalive ({_fmt(keepalive)}) and deadtime ({_fmt(deadtime)}): the late-"
                "heartbeat warning will never or always fire", "warntime-range")
    if initdead < deadtime:
        st.err(_line(st, "initdead") or 0, f"initdead ({_fmt(initdead)}) is smaller than "
               f"deadtime ({_fmt(deadtime)}); Heartbeat refuses to start so: raise initdead",
               "initdead-lt-deadtime")
    elif initdead < 10000:
        st.warn(_line(st, "initdead") or _line(st, "deadtime") or 0,
                f"Initial dead time ({_fmt(initdead)}) may be too small: it should be >= "
                "deadtime and >= 10 seconds", "initdead-under-10s")
    auto_failback = st.auto_failback or "legacy"
    if not st.pacemaker and st.autojoin != "none":
        st.err(_line(st, "autojoin") or 0, f"`autojoin {st.autojoin}` conflicts with "
               "haresources (R1-style) resource management; Heartbeat refuses it: remove "
               "the line", "autojoin-haresources")
    if auto_failback == "legacy" and not st.pacemaker:
        st.warn(st.nice_failback_line or _line(st, "auto_failback") or 0,
                "Deprecated 'legacy' auto_failback option selected; set auto_failback on "
                "or off", "auto-failback-legacy")
    _check_logging(st)
    if not st.media:
        st.err(0, "no heartbeat medium: add a `ucast IFACE PEER-ADDRESS`, `bcast IFACE`, "
               "`mcast ...` or `serial DEVICE` line", "no-media")
    if not st.nodes and st.autojoin != "any":
        st.err(0, "no `node` lines: list every cluster node's `uname -n`", "no-nodes")
    diags = [d if d.line else Diagnostic(d.file, None, d.severity, d.message, d.code)
             for d in st.diags]

    def value(name: str, default: str | None = None) -> str | None:
        return st.values[name][0] if name in st.values else default

    hacf = HaCf(
        keepalive=keepalive / 1000, deadtime=deadtime / 1000, warntime=warntime / 1000,
        initdead=initdead / 1000, deadping=deadping / 1000, udpport=st.udpport, baud=st.baud,
        media=tuple(st.media), nodes=tuple(st.nodes),
        auto_failback=auto_failback,  # type: ignore[arg-type]
        logfile=value("logfile"), debugfile=value("debugfile"),
        logfacility=value("logfacility"), debug=int(value("debug", "0") or 0),
        ping=tuple(st.ping), realtime=BOOLEANS.get((value("realtime", "true") or "").lower(),
                                                   True),
        rtprio=int(v) if (v := value("rtprio")) else None,
        msgfmt=value("msgfmt", "netstring") or "netstring",
        directives=directives, path=st.path,
    )
    return hacf, diags


def _check_logging(st: State) -> None:
    facility = st.values.get("logfacility", ("", 0))[0]
    no_log = ("logfile" not in st.values and "debugfile" not in st.values
              and facility in ("", "none", "kern"))
    use_logd = st.values.get("use_logd")
    if no_log and use_logd and not BOOLEANS[use_logd[0].lower()]:
        st.err(use_logd[1], "No log entry found in ha.cf and use_logd is set to off: Heartbeat "
               "refuses this; add `logfacility daemon` or a `logfile`", "no-logging")


def hbparameters(hacf: HaCf) -> dict[str, str]:
    """What `cl_status hbparameter -p NAME` answers on a Heartbeat 3.0.6 node with this ha.cf.

    Values written in ha.cf come back as written (the last word of the last line);
    computed ones as Heartbeat computes them (warntime, initdead, deadping in ms,
    udpport, the recorded defaults of its directive table, debug 0).
    """
    out = dict(RECORDED_DEFAULTS)
    out["debug"] = "0"
    for d in hacf.directives:
        if d.name in ("node", "nice_failback", "crm", "use_apphbd") or d.name not in HANDLERS:
            continue
        words = [w for w in _DELIMS.split(" ".join(d.args)) if w]
        if words and d.name not in WHOLE_LINE and d.name not in ("bcast", "serial", "ping"):
            out[d.name] = words[-1]
    for name, seconds in (("warntime", hacf.warntime), ("initdead", hacf.initdead),
                          ("deadping", hacf.deadping)):
        if name not in {d.name for d in hacf.directives}:
            out[name] = f"{round(seconds * 1000)}ms"
    out.setdefault("udpport", str(hacf.udpport))
    no_log = not (hacf.logfile or hacf.debugfile) and hacf.logfacility in (None, "none", "kern")
    if no_log and "use_logd" not in out:
        out["use_logd"] = "yes"
    return out
