"""Where the lab's reference files are: the shared folder, the seed, the captures.

The project's shared folder (the seed's files, real Heartbeat captures) sits
beside a checkout, as ``../shared``; ``HAPULSE_SHARED`` names another one.
It is never looked for at an absolute path. The seed's files for f801 and
f802 are also packaged with hapulse (``hapulse/data/seed``), so the demo runs
after a plain ``pip install`` on a machine with neither.
"""

from __future__ import annotations

import os
from pathlib import Path

SHARED_ENV = "HAPULSE_SHARED"
# src/hapulse/lab/paths.py -> the package, and (in a checkout) the repository root
PACKAGE = Path(__file__).resolve().parents[1]
DATA = PACKAGE / "data"
PACKAGED_SEED = DATA / "seed"
SEED_NODES = ("f801", "f802")


def checkout_root() -> Path | None:
    """The repository root when hapulse runs from a checkout (src layout), else None."""
    root = PACKAGE.parents[1]
    if PACKAGE.parent.name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def shared_dir() -> Path | None:
    """The project's shared folder: $HAPULSE_SHARED if set, else ``shared/`` beside the
    checkout; None when there is none (an installed hapulse, a bare clone).

    A set but missing $HAPULSE_SHARED gives None: it is not silently replaced by
    the folder beside the checkout.
    """
    named = os.environ.get(SHARED_ENV)
    if named:
        path = Path(named).expanduser()
        return path.resolve() if path.is_dir() else None
    root = checkout_root()
    if root is None:
        return None
    beside = root.parent / "shared"
    return beside if beside.is_dir() else None


def is_seed(path: Path) -> bool:
    """Whether `path` holds f801/ha.d and f802/ha.d, each with the three files."""
    return all((path / node / "ha.d" / name).is_file()
               for node in SEED_NODES for name in ("ha.cf", "authkeys", "haresources"))


def seed_dir() -> Path:
    """The seed's folder (f801/ha.d, f802/ha.d): the shared folder's ``seed/`` when
    there is one, else the copy packaged with hapulse."""
    shared = shared_dir()
    if shared is not None and is_seed(shared / "seed"):
        return shared / "seed"
    return PACKAGED_SEED


def captures_dir() -> Path | None:
    """The real Heartbeat 3.0.6 captures (``heartbeat/capture`` in the shared folder),
    or None without a shared folder: they are not packaged."""
    shared = shared_dir()
    if shared is None:
        return None
    captures = shared / "heartbeat" / "capture"
    return captures if captures.is_dir() else None


__all__ = ["DATA", "PACKAGED_SEED", "SEED_NODES", "SHARED_ENV", "captures_dir",
           "checkout_root", "is_seed", "seed_dir", "shared_dir"]
