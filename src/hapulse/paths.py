"""hapulse's default places on a node, spelled once."""

from __future__ import annotations

from pathlib import Path

DEFAULT_CONFDIR = Path("/etc/ha.d")  # Heartbeat's: ha.cf, authkeys, haresources
DEFAULT_STATE_DIR = Path("/var/lib/hapulse")  # uuid and generation (kept across restarts)
DEFAULT_RUN_DIR = Path("/run/hapulse")  # pid file and the root-only control socket
