"""Heartbeat's configuration: ha.cf, authkeys, haresources (pure parsers)."""

from __future__ import annotations

import os
from pathlib import Path

from hapulse.config.authkeys import parse_authkeys
from hapulse.config.hacf import DIRECTIVES, hbparameters, parse_hacf, parse_time
from hapulse.config.haresources import parse_haresources
from hapulse.config.model import (
    AuthKeys,
    Config,
    ConfigError,
    Diagnostic,
    Directive,
    HaCf,
    Medium,
    ResourceGroup,
    ResourceSpec,
)

__all__ = [
    "DIRECTIVES", "AuthKeys", "Config", "ConfigError", "Diagnostic", "Directive", "HaCf",
    "Medium", "ResourceGroup", "ResourceSpec", "load_config", "load_config_or_raise",
    "hbparameters", "parse_authkeys", "parse_hacf", "parse_haresources", "parse_time",
]


def _read(path: Path, diags: list[Diagnostic]) -> tuple[str | None, int | None]:
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        diags.append(Diagnostic(str(path), None, "error",
                                f"missing: create {path.name} in {path.parent}", "missing-file"))
        return None, None
    except OSError as exc:
        diags.append(Diagnostic(str(path), None, "error", f"cannot read: {exc.strerror}",
                                "unreadable"))
        return None, None
    try:
        return data.decode("utf-8"), mode
    except UnicodeDecodeError as exc:
        diags.append(Diagnostic(str(path), data[: exc.start].count(b"\n") + 1, "warning",
                                "not valid UTF-8; undecodable bytes replaced", "encoding"))
        return data.decode("utf-8", errors="replace"), mode


def local_node_name() -> str:
    return os.uname().nodename


def load_config(
    confdir: Path | str, node: str | None = None
) -> tuple[Config | None, list[Diagnostic]]:
    """Read and check the three files; the Config is None when any error was found."""
    confdir = Path(confdir)
    diags: list[Diagnostic] = []
    if not confdir.is_dir():
        diags.append(Diagnostic(str(confdir), None, "error",
                                "not a directory: give the directory holding ha.cf, authkeys "
                                "and haresources with -c DIR", "no-confdir"))
        return None, diags
    hacf_path, keys_path, res_path = (confdir / n for n in ("ha.cf", "authkeys", "haresources"))
    text, _ = _read(hacf_path, diags)
    hacf = None
    if text is not None:
        hacf, d = parse_hacf(text, str(hacf_path))
        diags.extend(d)
    text, mode = _read(keys_path, diags)
    keys = None
    if text is not None:
        keys, d = parse_authkeys(text, str(keys_path), mode)
        diags.extend(d)
    groups: tuple[ResourceGroup, ...] = ()
    text, _ = _read(res_path, diags)
    if text is not None:
        groups, d = parse_haresources(text, str(res_path), hacf.nodes if hacf else None)
        diags.extend(d)
    local = (node or local_node_name()).lower()  # Heartbeat lower-cases it too
    if hacf is not None and hacf.nodes:
        match = [n for n in hacf.nodes if n.lower() == local.lower()]
        if not match:
            line = next((d.line for d in hacf.directives if d.name == "node"), None)
            diags.append(Diagnostic(str(hacf_path), line, "error",
                                    f"this node `{local}` is not among the nodes "
                                    f"({', '.join(hacf.nodes)}); add `node {local}` or start "
                                    "with --node NAME", "local-node-unknown"))
        else:
            local = match[0]
    from hapulse.config.settings import load_settings  # hapulse.toml, optional

    settings, settings_diags = load_settings(
        confdir, [r.text for g in groups for r in g.resources])
    diags.extend(settings_diags)
    if any(d.severity == "error" for d in diags) or hacf is None or keys is None \
            or settings is None:
        return None, diags
    return Config(confdir, local, hacf, keys, groups, settings), diags


def load_config_or_raise(confdir: Path | str, node: str | None = None) -> Config:
    config, diags = load_config(confdir, node)
    if config is None:
        raise ConfigError(diags)
    return config
