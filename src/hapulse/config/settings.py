"""hapulse's own settings: the optional `/etc/ha.d/hapulse.toml` (pure parser).

Heartbeat's three files stay unchanged (a Heartbeat node in a mixed cluster
reads the same ha.cf); everything beyond Heartbeat is opt-in and lives here::

    [metrics]                       # absent: no metrics endpoint
    address = "192.168.1.111"       # an IP literal (default 127.0.0.1)
    port = 9694                     # default 9694; `enabled = false` keeps the lines, off

    [monitor.DEFAULTS]              # values for every [monitor."RESOURCE"] below
    interval = "10s"                # a number of seconds or Heartbeat's syntax: 500ms, 2s
    timeout = "10s"
    restarts = 3                    # restart in place up to 3 times within `window`,
    window = "5m"                   # then move the group to the peer

    [monitor."httpd"]               # a resource as written in haresources
    kind = "http"                   # lsb|ocf|systemd|ipaddr|http|tcp (default: from its agent)
    url = "http://192.168.1.118/"
    expect = 200

    [hooks]
    notify = "/etc/ha.d/notify.sh"  # an absolute path
    timeout = "10s"

Only resources with their own `[monitor."RESOURCE"]` section are monitored
(an empty section monitors with the defaults and the agent's own check).

Line numbers: `tomllib` reports none for values, so each key's line is found
by scanning the text for `[table]` headers and `key =` lines. Keys written
as dotted keys (`monitor.httpd.interval = 5`) or inside inline tables
(`httpd = {interval = 5}`) are reported at their table's header line, or
with no line when that cannot be found either.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast, get_args
from urllib.parse import urlsplit

from hapulse.config.model import Diagnostic

SETTINGS_FILE = "hapulse.toml"
DEFAULT_METRICS_PORT = 9694
MAX_SECONDS = 86400.0  # a day: anything longer is a typo (an interval in ms written as s)

MonitorKind = Literal["lsb", "ocf", "systemd", "ipaddr", "http", "tcp"]
MONITOR_KINDS: tuple[str, ...] = get_args(MonitorKind)


@dataclass(frozen=True)
class MetricsSettings:
    enabled: bool = False
    address: str = "127.0.0.1"
    port: int = DEFAULT_METRICS_PORT


@dataclass(frozen=True)
class MonitorDefaults:
    interval: float = 10.0
    timeout: float = 10.0
    restarts: int = 3
    window: float = 300.0


@dataclass(frozen=True)
class MonitorSettings:
    """One resource's monitor, defaults applied. `kind` None: the check of its agent."""

    resource: str
    interval: float
    timeout: float
    restarts: int
    window: float
    kind: MonitorKind | None = None
    url: str | None = None  # http
    expect: int = 200  # http: the expected status
    host: str | None = None  # tcp
    port: int | None = None  # tcp
    line: int | None = None


@dataclass(frozen=True)
class HooksSettings:
    notify: str | None = None
    timeout: float = 10.0


@dataclass(frozen=True)
class Settings:
    metrics: MetricsSettings = MetricsSettings()
    defaults: MonitorDefaults = MonitorDefaults()
    monitors: tuple[MonitorSettings, ...] = ()
    hooks: HooksSettings = HooksSettings()
    path: str | None = None  # the file read; None when there was none

    def monitor_for(self, resource: str) -> MonitorSettings | None:
        return next((m for m in self.monitors if m.resource == resource), None)


_METRICS_KEYS = ("enabled", "address", "port")
_DEFAULT_KEYS = ("interval", "timeout", "restarts", "window")
_MONITOR_KEYS = (*_DEFAULT_KEYS, "kind", "url", "expect", "host", "port")
_HOOK_KEYS = ("notify", "timeout")


class _Lines:
    """Where each table header and key is written (tomllib gives no positions)."""

    _HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
    _KEY = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")

    def __init__(self, text: str) -> None:
        self.tables: dict[tuple[str, ...], int] = {}
        self.keys: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for lineno, raw in enumerate(text.splitlines(), start=1):
            if m := self._HEADER.match(raw):
                table = _split_dotted(m.group(1))
                self.tables.setdefault(table, lineno)
            elif m := self._KEY.match(raw):
                self.keys.setdefault((*table, m.group(1).strip("\"'")), lineno)

    def of(self, *path: str) -> int | None:
        """The line of a key (or a table); else of the nearest enclosing table."""
        for n in range(len(path), 0, -1):
            line = self.keys.get(path[:n]) or self.tables.get(path[:n])
            if line is not None:
                return line
        return None


def _table_name(where: tuple[str, ...]) -> str:
    """A table path as written in TOML: `monitor."IPaddr::1.2.3.4"`."""
    return ".".join(w if re.fullmatch(r"[A-Za-z0-9_-]+", w) else f'"{w}"' for w in where)


def _split_dotted(text: str) -> tuple[str, ...]:
    parts = re.findall(r"""\s*("[^"]*"|'[^']*'|[^."']+)\s*(?:\.|$)""", text)
    return tuple(p.strip().strip("\"'") for p in parts)


class _Parser:
    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self.lines = _Lines(text)
        self.diags: list[Diagnostic] = []

    def error(self, where: tuple[str, ...], message: str, code: str) -> None:
        self.diags.append(Diagnostic(self.path, self.lines.of(*where), "error", message, code))

    def warn(self, where: tuple[str, ...], message: str, code: str) -> None:
        self.diags.append(Diagnostic(self.path, self.lines.of(*where), "warning", message, code))

    def known(self, table: Mapping[str, object], where: tuple[str, ...],
              keys: tuple[str, ...]) -> None:
        for key in table:
            if key not in keys:
                self.error((*where, key),
                           f"unknown key `{key}` "
                           f"{f'in [{_table_name(where)}]' if where else 'at the top level'}"
                           f": expected one of "
                           f"{', '.join(keys)}", "settings-unknown-key")

    def table(self, doc: Mapping[str, object], where: tuple[str, ...]) -> dict[str, object]:
        value = doc.get(where[-1])
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.error(where, f"`{where[-1]}` must be a table: write it as [{_table_name(where)}]",
                       "settings-type")
            return {}
        return cast(dict[str, object], value)

    def seconds(self, table: Mapping[str, object], where: tuple[str, ...], key: str,
                default: float) -> float:
        value = table.get(key)
        if value is None:
            return default
        at = (*where, key)
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.error(at, f"`{key}` must be a time: seconds (10, 0.5) or a string (\"500ms\", "
                           "\"10s\")", "settings-type")
            return default
        if isinstance(value, str):
            text = value.strip()
            secs = _duration(text)
            if secs is None:
                self.error(at, f"`{key} = \"{value}\"` is not a time: write seconds (10, 0.5) "
                               "or \"500ms\", \"10s\", \"5m\"", "settings-value")
                return default
        else:
            secs = float(value)
        if not 0 < secs <= MAX_SECONDS:
            self.error(at, f"`{key}` of {secs:g} s is out of range: give more than 0 and at "
                           f"most {MAX_SECONDS:g} s", "settings-value")
            return default
        return secs

    def integer(self, table: Mapping[str, object], where: tuple[str, ...], key: str,
                default: int, lo: int, hi: int) -> int:
        value = table.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error((*where, key), f"`{key}` must be a whole number from {lo} to {hi} "
                                      "(no quotes)", "settings-type")
            return default
        if not lo <= value <= hi:
            self.error((*where, key), f"`{key} = {value}` is out of range: give {lo} to {hi}",
                       "settings-value")
            return default
        return value

    def string(self, table: Mapping[str, object], where: tuple[str, ...],
               key: str) -> str | None:
        value = table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value.strip():
            self.error((*where, key), f"`{key}` must be a non-empty string in quotes",
                       "settings-type")
            return None
        return value.strip()


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(us|ms|s|m|min|h)?$", re.ASCII)
_UNITS = {None: 1.0, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def _duration(text: str) -> float | None:
    """`10`, `0.5`, `500ms`, `10s`, `5m`, `1h` to seconds (Heartbeat's syntax plus s/m/h)."""
    m = _DURATION.match(text)
    return None if m is None else float(m.group(1)) * _UNITS[m.group(2)]


def _metrics(p: _Parser, doc: Mapping[str, object]) -> MetricsSettings:
    where = ("metrics",)
    if "metrics" not in doc:
        return MetricsSettings()
    t = p.table(doc, where)
    p.known(t, where, _METRICS_KEYS)
    enabled = t.get("enabled", True)
    if not isinstance(enabled, bool):
        p.error((*where, "enabled"), "`enabled` must be true or false (no quotes)",
                "settings-type")
        enabled = True
    address = p.string(t, where, "address") or MetricsSettings.address
    try:
        ipaddress.ip_address(address)
    except ValueError:
        p.error((*where, "address"), f"`address = \"{address}\"` is not an IP address: give "
                                     "this node's address, 127.0.0.1 or 0.0.0.0",
                "settings-value")
    port = p.integer(t, where, "port", DEFAULT_METRICS_PORT, 1, 65535)
    return MetricsSettings(enabled, address, port)


def _defaults(p: _Parser, t: Mapping[str, object]) -> MonitorDefaults:
    where = ("monitor", "DEFAULTS")
    for key in t:
        if key in _MONITOR_KEYS and key not in _DEFAULT_KEYS:
            p.error((*where, key), f"`{key}` belongs to one resource: move it to "
                                   "[monitor.\"RESOURCE\"]", "settings-unknown-key")
    p.known({k: v for k, v in t.items() if k not in _MONITOR_KEYS}, where, _DEFAULT_KEYS)
    d = MonitorDefaults()
    interval = p.seconds(t, where, "interval", d.interval)
    timeout = p.seconds(t, where, "timeout", d.timeout)
    restarts = p.integer(t, where, "restarts", d.restarts, 0, 1000)
    window = p.seconds(t, where, "window", d.window)
    return MonitorDefaults(interval, timeout, restarts, window)


def _monitor(p: _Parser, name: str, t: Mapping[str, object],
             d: MonitorDefaults) -> MonitorSettings:
    where = ("monitor", name)
    p.known(t, where, _MONITOR_KEYS)
    interval = p.seconds(t, where, "interval", d.interval)
    timeout = p.seconds(t, where, "timeout", d.timeout)
    if timeout > interval:
        p.warn((*where, "timeout"), f"timeout {timeout:g} s is longer than interval "
                                    f"{interval:g} s: a hung check delays the next one; make "
                                    "the timeout at most the interval", "settings-timeout")
    kind: MonitorKind | None = None
    raw_kind = p.string(t, where, "kind")
    if raw_kind is not None:
        if raw_kind in MONITOR_KINDS:
            kind = cast(MonitorKind, raw_kind)
        else:
            p.error((*where, "kind"), f"unknown monitor kind `{raw_kind}`: expected one of "
                                      f"{', '.join(MONITOR_KINDS)}", "settings-value")
    url = p.string(t, where, "url")
    host = p.string(t, where, "host")
    port = p.integer(t, where, "port", 0, 1, 65535) or None
    expect = p.integer(t, where, "expect", 200, 100, 599)
    if kind == "http":
        if url is None:
            p.error(where, f"monitor \"{name}\" of kind http needs url = \"http://ADDRESS/\"",
                    "settings-missing")
        elif urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            p.error((*where, "url"), f"`url = \"{url}\"` is not an http:// or https:// URL "
                                     "with a host", "settings-value")
    if kind == "tcp" and (host is None or port is None):
        p.error(where, f"monitor \"{name}\" of kind tcp needs host = \"ADDRESS\" and "
                       "port = N", "settings-missing")
    for key, used_by in (("url", "http"), ("expect", "http"), ("host", "tcp"), ("port", "tcp")):
        if key in t and kind != used_by:
            p.error((*where, key), f"`{key}` is only for kind = \"{used_by}\": set the kind "
                                   "or remove the key", "settings-unused-key")
    return MonitorSettings(
        resource=name, interval=interval, timeout=timeout,
        restarts=p.integer(t, where, "restarts", d.restarts, 0, 1000),
        window=p.seconds(t, where, "window", d.window),
        kind=kind, url=url, expect=expect, host=host, port=port, line=p.lines.of(*where))


def _hooks(p: _Parser, doc: Mapping[str, object]) -> HooksSettings:
    where = ("hooks",)
    t = p.table(doc, where)
    p.known(t, where, _HOOK_KEYS)
    notify = p.string(t, where, "notify")
    if notify is not None and not notify.startswith("/"):
        p.error((*where, "notify"), f"`notify = \"{notify}\"` must be an absolute path "
                                    "(/etc/ha.d/notify.sh)", "settings-value")
        notify = None
    return HooksSettings(notify, p.seconds(t, where, "timeout", HooksSettings.timeout))


def parse_settings(text: str, path: str) -> tuple[Settings | None, list[Diagnostic]]:
    """Parse hapulse.toml's text; the Settings is None when any error was found."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"\(at line (\d+), column \d+\)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc)) or "invalid TOML"
        return None, [Diagnostic(path, int(m.group(1)) if m else None, "error",
                                 f"not valid TOML: {msg} (see https://toml.io)",
                                 "settings-syntax")]
    p = _Parser(text, path)
    p.known(doc, (), ("metrics", "monitor", "hooks"))
    metrics = _metrics(p, doc)
    monitor = p.table(doc, ("monitor",))
    defaults_table = monitor.get("DEFAULTS", {})
    defaults = MonitorDefaults()
    if isinstance(defaults_table, dict):
        defaults = _defaults(p, cast(dict[str, object], defaults_table))
    monitors = []
    for name, table in monitor.items():
        if not isinstance(table, dict):
            p.error(("monitor", name), f"`monitor.{name}` must be a table: write it as "
                                       f"[monitor.\"{name}\"]", "settings-type")
        elif name != "DEFAULTS":
            monitors.append(_monitor(p, name, cast(dict[str, object], table), defaults))
    hooks = _hooks(p, doc)
    settings = Settings(metrics, defaults, tuple(monitors), hooks, path)
    return (None if any(d.severity == "error" for d in p.diags) else settings), p.diags


def load_settings(
    confdir: Path | str, resources: Collection[str] | None = None
) -> tuple[Settings | None, list[Diagnostic]]:
    """Read CONFDIR/hapulse.toml; a missing file gives the defaults and no diagnostic.

    `resources` (the haresources resources, as written) adds a warning for a
    monitor naming none of them, and for a notify script that is not there.
    """
    path = Path(confdir) / SETTINGS_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Settings(), []
    except OSError as exc:
        return None, [Diagnostic(str(path), None, "error", f"cannot read: {exc.strerror}",
                                 "unreadable")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Diagnostic(str(path), data[: exc.start].count(b"\n") + 1, "error",
                                 "not valid UTF-8 (TOML files must be)", "encoding")]
    settings, diags = parse_settings(text, str(path))
    if settings is not None and resources is not None:
        for m in settings.monitors:
            if m.resource not in resources:
                diags.append(Diagnostic(str(path), m.line, "warning",
                                        f"monitor \"{m.resource}\": no such resource in "
                                        f"haresources ({', '.join(resources) or 'none'}); "
                                        "name it as written there", "settings-no-resource"))
    if settings is not None and settings.hooks.notify is not None:
        if not Path(settings.hooks.notify).is_file():
            diags.append(Diagnostic(str(path), _Lines(text).of("hooks", "notify"), "warning",
                                    f"notify script {settings.hooks.notify} does not exist "
                                    "on this node", "settings-no-hook"))
    return settings, diags
