"""Where a haresources word resolves on this node, without running anything.

``hapulse check`` asks :func:`missing_agent`: it builds the agent with
:func:`hapulse.resources.scripts.make_agent` (so the lookup order is the one
the daemon uses: resource.d/NAME, /etc/init.d/NAME, OCF, systemd) and says
why it would not run, naming the paths searched. ``make_agent`` trusts any
name to be a systemd unit when systemd runs; here the unit file must exist
in one of systemd's unit directories too.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hapulse.config import ResourceSpec
from hapulse.resources.scripts import MissingAgent, ScriptAgent, make_agent

SYSTEMD_UNIT_DIRS = (Path("/etc/systemd/system"), Path("/run/systemd/system"),
                     Path("/usr/local/lib/systemd/system"), Path("/usr/lib/systemd/system"),
                     Path("/lib/systemd/system"))


def script_dirs(confdir: Path) -> list[Path]:
    """Where make_agent looks for a plain NAME, in order (its default script_dirs)."""
    return [confdir / "resource.d", Path("/etc/init.d")]


def unit_file(unit: str, dirs: Sequence[Path] = SYSTEMD_UNIT_DIRS) -> Path | None:
    """The unit's file (or its template's, for NAME@INSTANCE.service), or None."""
    names = [unit]
    if "@" in unit:
        prefix, _, rest = unit.partition("@")
        names.append(f"{prefix}@.{rest.rpartition('.')[2]}")
    for d in dirs:
        for name in names:
            if (d / name).exists():
                return d / name
    return None


def _quiet(level: str, text: str) -> None:
    pass


def missing_agent(spec: ResourceSpec, confdir: Path,
                  unit_dirs: Sequence[Path] = SYSTEMD_UNIT_DIRS) -> str | None:
    """Why `spec` would not run on this node (naming the paths searched), or None."""
    agent = make_agent(spec, confdir, _quiet)
    if isinstance(agent, MissingAgent):
        return agent.why
    if isinstance(agent, ScriptAgent) and agent.kind == "systemd":
        unit = spec.agent if "." in spec.agent else f"{spec.agent}.service"
        if unit_file(unit, unit_dirs) is None:
            scripts = ", ".join(str(d / spec.agent) for d in script_dirs(confdir))
            units = ", ".join(str(d) for d in unit_dirs)
            return (f"no script for resource `{spec.agent}`: looked for {scripts}, and for "
                    f"the systemd unit {unit} in {units}; install one of them")
    return None
