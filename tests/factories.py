"""Test data builders shared by the test suites: a node's ha.d, a solo daemon, lab names.

Tests import it as ``factories`` (pytest puts ``tests/`` on sys.path for
``tests/conftest.py``); the files are written by :func:`hapulse.lab.ha_d.write_ha_d`,
the same code the lab's nodes use, so authkeys is always mode 600.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from hapulse.lab.ha_d import write_ha_d

if TYPE_CHECKING:  # imported where used: conftest imports this module, not the daemon
    from hapulse.daemon import Daemon

TEST_AUTHKEYS = "auth 1\n1 sha1 test\n"
SOLO_AUTHKEYS = "auth 1\n1 sha1 k\n"  # the key the solo daemon's tests sign peers' packets with


def ha_cf(*lines: str, nodes: Sequence[str], keepalive: str | None = "0.5",
          warntime: str | None = "1.5", deadtime: str | None = "2",
          initdead: str | None = "4", udpport: int | None = 694,
          extra: Sequence[str] = ("auto_failback on",)) -> str:
    """An ha.cf: the four timers and udpport (each None: no line, the daemon's default),
    `lines` (media, baud ...), one `node` line per node, then `extra` lines.
    The defaults are short test timers."""
    timers = (("keepalive", keepalive), ("warntime", warntime), ("deadtime", deadtime),
              ("initdead", initdead))
    out = [f"{name} {value}" for name, value in timers if value is not None]
    if udpport is not None:
        out.append(f"udpport {udpport}")
    out += [*lines, *(f"node {n}" for n in nodes), *extra]
    return "\n".join(out) + "\n"


def ha_d_files(hacf: str, authkeys: str = TEST_AUTHKEYS, haresources: str = "") -> dict[str, str]:
    """A node's three files by name, as `HapulseNode` and `write_ha_d` take them."""
    return {"ha.cf": hacf, "authkeys": authkeys, "haresources": haresources}


def make_ha_d(directory: Path, hacf: str, authkeys: str = TEST_AUTHKEYS,
              haresources: str = "") -> Path:
    """Write a node's ha.d into `directory` (authkeys mode 600); returns `directory`."""
    return write_ha_d(directory, ha_d_files(hacf, authkeys, haresources))


def solo_ha_cf(*, keepalive: str = "1", warntime: str | None = None, deadtime: str = "10",
               initdead: str | None = None, udpport: int | None = None,
               extra: Sequence[str] = ("auto_failback on",)) -> str:
    """The ha.cf of node `solo`, whose one peer `peer` (ucast to 127.0.0.2 on lo) never
    answers. A timer or udpport of None writes no line; the defaults are the in-process
    daemon's: keepalive 1, deadtime 10, nothing else."""
    return ha_cf("ucast lo 127.0.0.2", nodes=("solo", "peer"), keepalive=keepalive,
                 warntime=warntime, deadtime=deadtime, initdead=initdead, udpport=udpport,
                 extra=extra)


def solo_daemon(directory: Path, *, hacf: str | None = None, haresources: str = "",
                settings: str | None = None, authkeys: str = SOLO_AUTHKEYS,
                node: str = "solo", generation: int = 3, uuid: bytes = b"u" * 16) -> Daemon:
    """A `Daemon` built, not run, from an ha.d written into `directory`.

    `hacf` defaults to :func:`solo_ha_cf`'s; `settings` is written as hapulse.toml
    (None: none written, an earlier one left as it is). The state and run directories
    are `directory`/state and `directory`/run; the identity is `generation` and `uuid`.
    """
    from hapulse.config import load_config_or_raise
    from hapulse.daemon import Daemon, DaemonOptions, Identity

    make_ha_d(directory, solo_ha_cf() if hacf is None else hacf, authkeys, haresources)
    if settings is not None:
        (directory / "hapulse.toml").write_text(settings)
    return Daemon(load_config_or_raise(directory, node=node),
                  DaemonOptions(directory, node, directory / "state", directory / "run"),
                  Identity(generation=generation, uuid=uuid))


def lab_prefix(test_name: str) -> str:
    """A namespace prefix for one test's lab: the pid keeps two runs on one machine
    (a developer's and CI's) apart, the name's crc two tests of one run."""
    return f"hpt{os.getpid()}-{zlib.crc32(test_name.encode()) % 10**4}"
