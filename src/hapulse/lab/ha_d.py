"""A node's configuration directory: Heartbeat's three files, as an administrator installs them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

HA_D_FILES = ("ha.cf", "authkeys", "haresources")


def write_ha_d(directory: Path, files: Mapping[str, str]) -> Path:
    """Write ha.cf, authkeys and haresources into `directory` (made if missing).

    authkeys gets mode 600, as Heartbeat and hapulse require; the others 644.
    Every one of the three files must be given (an empty haresources is "").
    """
    missing = [name for name in HA_D_FILES if name not in files]
    if missing:
        raise ValueError(f"a node's ha.d needs {', '.join(missing)} too")
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = directory / name
        path.write_text(text)
        path.chmod(0o600 if name == "authkeys" else 0o644)
    return directory


def read_ha_d(directory: Path) -> dict[str, str]:
    """The three files of a node's ha.d, by name."""
    return {name: (directory / name).read_text() for name in HA_D_FILES}


def with_timers(hacf: str, keepalive: str = "200ms", warntime: str = "1", deadtime: str = "2",
                initdead: str = "4") -> str:
    """`hacf` with its four timer lines' values replaced, every other line as it is (the
    defaults are the lab's short timers). Each timer must be there exactly once."""
    for name, value in (("keepalive", keepalive), ("warntime", warntime),
                        ("deadtime", deadtime), ("initdead", initdead)):
        hacf, n = re.subn(rf"(?m)^{name}\s+\S+", f"{name} {value}", hacf)
        if n != 1:
            raise ValueError(f"ha.cf has {n} `{name}` lines; with_timers needs exactly one")
    return hacf
