"""ha.cf directive handlers: one small function per directive or family, as Heartbeat 3.0.6.

Heartbeat calls an option directive's handler once per word (words are split on
spaces, tabs and commas: `node a,b` is two nodes); whole-line directives
(`ucast`, `mcast`, `stonith`, `respawn`, `apiauth`, ...) get the rest of the line.
Each handler validates as Heartbeat does and records into the parse `State`.
"""

from __future__ import annotations

import ipaddress
import pwd
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hapulse.config.model import Diagnostic, Medium

WHOLE_LINE = {"ucast", "mcast", "stonith", "stonith_host", "apiauth", "respawn", "failfast",
              "ping_group", "ucast6", "mcast6", "hbaping"}
BOOLEANS = {"true": True, "on": True, "yes": True, "y": True, "1": True,
            "false": False, "off": False, "no": False, "n": False, "0": False}
FACILITIES = {"none", "auth", "security", "authpriv", "cron", "daemon", "ftp", "kern", "lpr",
              "mail", "news", "syslog", "user", "uucp", *(f"local{i}" for i in range(8))}
BAUDS = (9600, 19200, 38400, 57600, 115200, 230400, 460800)
Resolver = Callable[[str], str | None]


def cl_get_msec(text: str) -> int | None:
    """Heartbeat's time syntax to whole milliseconds: `2` s, `1.5`, `500ms`, `2000us`.

    A unit other than ms/us (`2s`, `1min`) is refused, as Heartbeat refuses it.
    """
    m = re.fullmatch(r"([0-9.]+)\s*(.*)", text.strip())
    if not m:
        return None
    num = re.match(r"\d*\.?\d*", m.group(1))
    unit = m.group(2).lower()
    try:
        value = float(num.group(0)) if num and num.group(0) not in ("", ".") else 0.0
    except ValueError:
        return None
    if unit.startswith("ms"):
        factor = 1.0
    elif unit.startswith("us"):
        factor = 0.001
    elif unit == "":
        factor = 1000.0
    else:
        return None
    return int(value * factor + 0.5)


def atoi(text: str) -> int:
    """C's atoi: leading digits (with sign), 0 when there are none."""
    m = re.match(r"\s*([+-]?\d+)", text)
    return int(m.group(1)) if m else 0


@dataclass
class State:
    """What the handlers accumulate while ha.cf is read."""

    path: str
    resolve: Resolver
    diags: list[Diagnostic] = field(default_factory=list)
    values: dict[str, tuple[str, int]] = field(default_factory=dict)  # as recorded, per name
    ms: dict[str, int] = field(default_factory=dict)
    media: list[Medium] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    ping: list[str] = field(default_factory=list)
    auto_failback: str | None = None
    nice_failback_line: int | None = None
    pacemaker: bool = False
    autojoin: str = "none"
    udpport: int = 694
    baud: int = 19200
    baud_line: int | None = None
    watchdog_line: int | None = None
    apiauth: dict[str, int] = field(default_factory=dict)

    def err(self, line: int, msg: str, code: str) -> None:
        self.diags.append(Diagnostic(self.path, line, "error", msg, code))

    def warn(self, line: int, msg: str, code: str) -> None:
        self.diags.append(Diagnostic(self.path, line, "warning", msg, code))

    def record(self, name: str, value: str, line: int) -> None:
        self.values[name] = (value, line)


Handler = Callable[[State, str, str, int], None]


def _timer(minimum: int) -> Handler:
    def handle(st: State, name: str, value: str, line: int) -> None:
        ms = cl_get_msec(value)
        if ms is None or ms < minimum:
            unit_hint = " (Heartbeat knows no `s` or `min` unit)" if ms is None else ""
            st.err(line, f"`{name} {value}`: not a time{unit_hint}; write seconds "
                   f"(`30`, `1.5`) or milliseconds (`500ms`)"
                   + ("; it must be greater than 0" if minimum > 0 else ""), "bad-time")
            return
        st.ms[name] = ms
        st.record(name, value, line)
    return handle


def _boolean(st: State, name: str, value: str, line: int) -> None:
    if value.lower() not in BOOLEANS:
        st.err(line, f"`{name} {value}`: write on or off (yes/no, true/false, 1/0)", "bad-bool")
        return
    st.record(name, value, line)


def _choice(*words: str, fold: bool = False) -> Handler:
    def handle(st: State, name: str, value: str, line: int) -> None:
        v = value.lower() if fold else value
        if v not in words:
            st.err(line, f"`{name} {value}`: write one of {', '.join(words)}", "bad-value")
            return
        st.record(name, value, line)
    return handle


def _positive_int(lo: int, hi: int | None = None) -> Handler:
    def handle(st: State, name: str, value: str, line: int) -> None:
        n = atoi(value)
        if n < lo or (hi is not None and n > hi):
            rng = f"{lo}..{hi}" if hi is not None else f"at least {lo}"
            st.err(line, f"`{name} {value}`: must be a number {rng}", "out-of-range")
            return
        st.record(name, value, line)
    return handle


def _anything(st: State, name: str, value: str, line: int) -> None:
    st.record(name, value, line)


def _node(st: State, name: str, value: str, line: int) -> None:
    node = value.lower()  # Heartbeat lower-cases node names (g_strdown)
    if node in st.nodes:
        st.warn(line, f"node `{value}` listed twice", "duplicate-node")
        return
    st.nodes.append(node)


def _udpport(st: State, name: str, value: str, line: int) -> None:
    port = atoi(value)
    if port <= 0 or port > 65535:
        st.err(line, f"`udpport {value}`: not a UDP port 1..65535", "out-of-range")
        return
    if st.media:
        lines = ", ".join(str(m.line) for m in st.media)
        st.warn(line, "udpport setting must precede media statements: the media on line(s) "
                f"{lines} keep port {st.udpport}; move this line above them",
                "udpport-after-media")
    st.udpport = port
    st.record(name, value, line)


def _baud(st: State, name: str, value: str, line: int) -> None:
    if st.baud_line is not None:
        st.err(line, f"baud rate set twice (first on line {st.baud_line}); Heartbeat refuses "
               "this: keep one `baud` line", "repeated-baud")
        return
    st.baud_line = line
    if atoi(value) not in BAUDS:
        st.err(line, f"`baud {value}`: Heartbeat knows {', '.join(map(str, BAUDS))}",
               "bad-baud")
        return
    if any(m.kind == "serial" for m in st.media):
        st.warn(line, "baud setting must precede serial statements: the serial lines above "
                "keep 19200; move this line above them", "baud-after-serial")
    else:
        st.baud = atoi(value)
    st.record(name, value, line)


def _watchdog(st: State, name: str, value: str, line: int) -> None:
    if st.watchdog_line is not None:
        st.err(line, f"watchdog device set twice (first on line {st.watchdog_line}); Heartbeat "
               "refuses this: keep one `watchdog` line", "repeated-watchdog")
        return
    st.watchdog_line = line
    st.warn(line, "hapulse does not drive the watchdog device; use systemd's WatchdogSec "
            "(the line is ignored)", "not-implemented")
    st.record(name, value, line)


def _facility(st: State, name: str, value: str, line: int) -> None:
    if value not in FACILITIES:
        st.err(line, f"`logfacility {value}`: not a syslog facility; use daemon, local0..local7 "
               "or none", "bad-facility")
        return
    st.record(name, value, line)


def _auto_failback(st: State, name: str, value: str, line: int) -> None:
    v = value.lower()
    if v == "legacy":
        st.auto_failback = "legacy"
    elif v in BOOLEANS:
        st.auto_failback = "on" if BOOLEANS[v] else "off"
    else:
        st.err(line, f"`auto_failback {value}`: write on, off or legacy", "bad-auto-failback")
        return
    st.record(name, value, line)


def _nice_failback(st: State, name: str, value: str, line: int) -> None:
    if value.lower() not in BOOLEANS:
        st.err(line, f"`nice_failback {value}`: write on or off", "bad-bool")
        return
    # Heartbeat 3.0.6 logs these lines and (its own quirk) ends with `legacy`
    # unless an auto_failback line sets the mode: repeated here with the line.
    st.warn(line, "nice_failback flag is obsolete. Use auto_failback {on, off, legacy} "
            f"instead: Heartbeat reads `nice_failback {value}` as `auto_failback legacy`; "
            "write `auto_failback off` (or on)", "nice-failback")
    st.nice_failback_line = line


def _pacemaker(st: State, name: str, value: str, line: int) -> None:
    v = value.lower()
    if v in ("minimal", "manual", "respawn", "valgrind") or BOOLEANS.get(v) is True:
        st.pacemaker = True
        st.err(line, f"`{name} {value}`: hapulse runs haresources clusters and replaces "
               "Pacemaker's role here; remove the line or set it off", "crm-unsupported")
    elif v not in BOOLEANS:
        st.err(line, f"`{name} {value}`: write on or off", "bad-bool")
    else:
        st.record("pacemaker", value, line)


def _autojoin(st: State, name: str, value: str, line: int) -> None:
    v = value.lower()
    if v not in ("none", "other", "any"):
        st.err(line, f"`autojoin {value}`: write none, other or any", "bad-value")
        return
    st.autojoin = v
    st.record(name, value, line)


def _debug(st: State, name: str, value: str, line: int) -> None:
    if not 0 <= atoi(value) < 256:
        st.err(line, f"`debug {value}`: a debug level 0..255", "out-of-range")
        return
    st.record(name, value, line)


def _env(st: State, name: str, value: str, line: int) -> None:
    if "=" not in value or value.startswith("="):
        st.err(line, f"`env {value}`: write NAME=VALUE", "bad-value")
        return
    st.record(name, value, line)


def _bcast(st: State, name: str, value: str, line: int) -> None:
    st.media.append(Medium("bcast", interface=value, port=st.udpport, line=line))


def _serial(st: State, name: str, value: str, line: int) -> None:
    if not value.startswith("/"):
        st.err(line, f"`serial {value}`: a serial device is a path such as /dev/ttyS0",
               "bad-serial")
        return
    st.media.append(Medium("serial", device=value, baud=st.baud, line=line))


def _ucast(st: State, name: str, rest: str, line: int) -> None:
    words = rest.split()
    if len(words) < 2:
        st.err(line, "`ucast` needs an interface and the peer: `ucast eth1 10.0.0.2`",
               "missing-argument")
        return
    iface, host = words[0], words[1]
    address = st.resolve(host)
    if address is None:
        st.err(line, f"`ucast {iface} {host}`: cannot resolve `{host}`; add it to /etc/hosts "
               "or write its address", "bad-address")
        return
    st.media.append(Medium("ucast", interface=iface, address=address, port=st.udpport,
                           line=line, host=host))


def _mcast(st: State, name: str, rest: str, line: int) -> None:
    words = rest.split()
    usage = "`mcast IFACE GROUP PORT TTL LOOP`, e.g. `mcast eth0 225.0.0.1 694 1 0`"
    if len(words) < 5:
        st.err(line, f"`mcast` needs {usage}", "missing-argument")
        return
    iface, group, port_s, ttl_s, loop_s = words[:5]
    problems = []
    try:
        if not ipaddress.IPv4Address(group).is_multicast:
            problems.append(f"`{group}` is not a multicast group (224.0.0.0/4)")
    except ValueError:
        problems.append(f"`{group}` is not an IPv4 address")
    port, ttl, loop = atoi(port_s) & 0xFFFF, atoi(ttl_s) & 0xFF, atoi(loop_s) & 0xFF
    if port <= 0:
        problems.append(f"port `{port_s}` is not 1..65535")
    if ttl > 4:
        problems.append(f"ttl `{ttl_s}`: Heartbeat takes 0..4")
    if loop > 1:
        problems.append(f"loop `{loop_s}` is not 0 or 1")
    for p in problems:
        st.err(line, f"`mcast`: {p}", "bad-mcast")
    if not problems:
        st.media.append(Medium("mcast", interface=iface, address=group, port=port, ttl=ttl,
                               loop=loop, line=line))


def _ping(st: State, name: str, value: str, line: int) -> None:
    if st.resolve(value) is None:
        st.err(line, f"`ping {value}`: cannot resolve `{value}`; add it to /etc/hosts or write "
               "its address", "bad-address")
        return
    st.ping.append(value)


def _ping_group(st: State, name: str, value: str, line: int) -> None:
    words = value.split()
    if len(words) < 2:
        st.err(line, f"`ping_group {value}`: write `ping_group NAME ADDRESS...`",
               "missing-argument")
        return
    for member in words[1:]:
        if st.resolve(member) is None:
            st.err(line, f"`ping_group {words[0]}`: cannot resolve `{member}`; add it to "
                   "/etc/hosts or write its address", "bad-address")
    st.record(name, value, line)


def _apiauth(st: State, name: str, rest: str, line: int) -> None:
    words = rest.split()
    ids = [w for w in words[1:] if w.startswith(("uid=", "gid="))]
    kinds = [w[:4] for w in ids]
    if not words or not ids or len(ids) != len(words) - 1 or len(set(kinds)) != len(kinds):
        st.err(line, f"invalid `apiauth {rest}`: write `apiauth CLIENT uid=U[,U] gid=G[,G]` "
               "(one or both, once each)", "bad-apiauth")
        return
    if words[0] in st.apiauth:
        st.err(line, f"`apiauth {words[0]}` given twice (first on line "
               f"{st.apiauth[words[0]]}); Heartbeat refuses this", "bad-apiauth")
        return
    st.apiauth[words[0]] = line


def _respawn(st: State, name: str, rest: str, line: int) -> None:
    words = rest.split()
    if len(words) < 2 or not words[1].startswith("/"):
        st.err(line, f"invalid `{name} {rest}`: write `{name} USER /full/path/to/program`",
               "bad-respawn")
        return
    try:
        pwd.getpwnam(words[0])
    except KeyError:
        st.err(line, f"`{name} {words[0]} ...`: no user `{words[0]}` on this machine; Heartbeat "
               "refuses the file: create the user or remove the line", "bad-respawn")
        return
    if name == "failfast":
        st.warn(line, f"hapulse runs `failfast` programs like `respawn` ones ({words[1]}) but "
                "never reboots the node when one fails; the line is ignored",
                "not-implemented")
    # `respawn`: run by hapulse (ipfail's decision is built in instead of running ipfail)


def _stonith(st: State, name: str, rest: str, line: int) -> None:
    if not rest.split():
        st.err(line, f"`{name}` needs a STONITH device type", "missing-argument")
        return
    # implemented: hapulse.resources.stonith resets dead peers through cluster-glue


def _ignored(reason: str) -> Handler:
    def handle(st: State, name: str, value: str, line: int) -> None:
        st.warn(line, f"hapulse does not implement `{name}` ({reason}); the line is ignored",
                "not-implemented")
        st.record(name, value, line)
    return handle


_COMPRESS = "hapulse never compresses (messages stay small)"
_PCMK = "only meaningful with Pacemaker"

HANDLERS: dict[str, Handler] = {
    "keepalive": _timer(1), "deadtime": _timer(0), "warntime": _timer(1),
    "initdead": _timer(0), "deadping": _timer(0),
    "node": _node, "udpport": _udpport, "baud": _baud, "watchdog": _watchdog,
    "bcast": _bcast, "serial": _serial, "ucast": _ucast, "mcast": _mcast,
    "ping": _ping, "ping_group": _ping_group,
    "ucast6": _ignored("IPv6 media are not implemented yet"),
    "mcast6": _ignored("IPv6 media are not implemented yet"),
    "hbaping": _ignored("HBA ping is not implemented"),
    "auto_failback": _auto_failback, "nice_failback": _nice_failback,
    "crm": _pacemaker, "pacemaker": _pacemaker, "autojoin": _autojoin,
    "logfile": _anything, "debugfile": _anything, "logfacility": _facility, "debug": _debug,
    "use_logd": _boolean, "log_badpack": _boolean, "realtime": _boolean,
    "syslogmsgfmt": _boolean, "coredumps": _boolean, "normalpoll": _boolean,
    "use_apphbd": _boolean, "traditional_compression": _boolean,
    "record_config_changes": _boolean, "record_pengine_inputs": _boolean,
    "enable_config_writes": _boolean,
    "rtprio": _positive_int(1, 99), "hopfudge": _positive_int(0, 255),
    "conn_logd_time": _timer(1), "compression_threshold": _positive_int(1),
    "max_rexmit_delay": _positive_int(1), "memreserve": _positive_int(1),
    "msgfmt": _choice("classic", "netstring"), "hbgenmethod": _choice("file", "time"),
    "uuidfrom": _choice("file", "nodename"), "compression": _choice("zlib", "bz2"),
    "crmd_spawns_pengine": _ignored(_PCMK),
    "cluster": _anything, "quorum_server": _anything, "coreroot": _anything, "env": _env,
    "apiauth": _apiauth, "respawn": _respawn, "failfast": _respawn,
    "stonith": _stonith, "stonith_host": _stonith,
}
