"""Typed, frozen configuration objects and diagnostics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # settings.py imports Diagnostic from here
    from hapulse.config.settings import Settings

Severity = Literal["error", "warning"]


def isnum(text: str) -> bool:
    """ASCII digits only (str.isdigit() also accepts `²`, which int() refuses)."""
    return text.isascii() and text.isdigit()


@dataclass(frozen=True)
class Diagnostic:
    """One problem found in a config file, with its place and what to do."""

    file: str
    line: int | None
    severity: Severity
    message: str
    code: str = ""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.severity}: {self.message}"


class ConfigError(Exception):
    """The configuration is unusable; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"] or self.diagnostics
        super().__init__("\n".join(str(d) for d in errors))


@dataclass(frozen=True)
class Directive:
    name: str
    args: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Medium:
    kind: Literal["ucast", "bcast", "mcast", "serial"]
    interface: str | None = None
    address: str | None = None
    port: int | None = None
    ttl: int | None = None
    loop: int | None = None
    device: str | None = None
    baud: int | None = None
    line: int = 0
    host: str | None = None  # the ucast peer as written, when it is a name

    @property
    def link(self) -> str:
        """The link name Heartbeat reports: the interface, or the serial device."""
        return self.interface or self.device or self.kind


@dataclass(frozen=True)
class HaCf:
    keepalive: float = 1.0
    deadtime: float = 30.0
    warntime: float = 10.0
    initdead: float = 30.0
    deadping: float = 30.0
    udpport: int = 694
    baud: int = 19200
    media: tuple[Medium, ...] = ()
    nodes: tuple[str, ...] = ()
    auto_failback: Literal["on", "off", "legacy"] = "legacy"
    logfile: str | None = None
    debugfile: str | None = None
    logfacility: str | None = None
    debug: int = 0
    ping: tuple[str, ...] = ()
    realtime: bool = True
    rtprio: int | None = None
    msgfmt: str = "netstring"
    directives: tuple[Directive, ...] = ()
    path: str = "ha.cf"

    def parameter(self, name: str) -> str | None:
        """The value as written of the last `name` line (for cl_status hbparameter)."""
        for d in reversed(self.directives):
            if d.name == name:
                return " ".join(d.args)
        return None


@dataclass(frozen=True)
class AuthKeys:
    key_id: int
    method: Literal["crc", "md5", "sha1"]
    secret: bytes
    keys: Mapping[int, tuple[str, bytes]] = field(default_factory=dict)
    path: str = "authkeys"


@dataclass(frozen=True)
class ResourceSpec:
    agent: str
    args: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ResourceGroup:
    node: str
    resources: tuple[ResourceSpec, ...]
    line: int

    @property
    def id(self) -> str:
        return self.resources[0].text


@dataclass(frozen=True)
class Config:
    confdir: Path
    node: str
    hacf: HaCf
    authkeys: AuthKeys
    groups: tuple[ResourceGroup, ...]
    # hapulse.toml beside them (optional; None: no file, every default)
    settings: Settings | None = None
