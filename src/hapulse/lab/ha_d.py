"""A node's configuration directory: Heartbeat's three files, as an administrator installs them."""

from __future__ import annotations

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
