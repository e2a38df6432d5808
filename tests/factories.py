"""Test data builders shared by the test suites: a node's ha.d and lab names.

Tests import it as ``factories`` (pytest puts ``tests/`` on sys.path for
``tests/conftest.py``); the files are written by :func:`hapulse.lab.ha_d.write_ha_d`,
the same code the lab's nodes use, so authkeys is always mode 600.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from pathlib import Path

from hapulse.lab.ha_d import write_ha_d

TEST_AUTHKEYS = "auth 1\n1 sha1 test\n"


def ha_cf(*lines: str, nodes: Sequence[str], keepalive: str = "0.5", warntime: str = "1.5",
          deadtime: str = "2", initdead: str = "4", udpport: int | None = 694,
          extra: Sequence[str] = ("auto_failback on",)) -> str:
    """An ha.cf: the four timers, udpport (None: no line), `lines` (media, baud ...),
    one `node` line per node, then `extra` lines. The defaults are short test timers."""
    out = [f"keepalive {keepalive}", f"warntime {warntime}", f"deadtime {deadtime}",
           f"initdead {initdead}"]
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


def lab_prefix(test_name: str) -> str:
    """A namespace prefix for one test's lab: the pid keeps two runs on one machine
    (a developer's and CI's) apart, the name's crc two tests of one run."""
    return f"hpt{os.getpid()}-{zlib.crc32(test_name.encode()) % 10**4}"
