"""Adding an action type that the daemon (or the simulator) does not handle fails mypy.

A copy of the package gets one more member in the `NodeAction` union; mypy --strict
on that copy must reject the `assert_never` at the end of each dispatch.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from mypy import api

import hapulse

SRC = Path(hapulse.__file__).resolve().parent


def _mypy(package: Path, cache: Path) -> str:
    config = cache.parent / "empty.ini"  # not the project's: its mypy_path is the real src
    config.write_text("[mypy]\n")
    out, err, _ = api.run(["--config-file", str(config), "--strict", "--ignore-missing-imports",
                           "--follow-imports=silent", "--cache-dir", str(cache),
                           "--no-error-summary", *(str(package / m) for m in (
                               "actions.py", "node.py", "daemon.py", "sim.py"))])
    return out + err


def test_an_unhandled_action_type_fails_the_type_check(tmp_path: Path) -> None:
    package = tmp_path / "src" / "hapulse"
    shutil.copytree(SRC, package, ignore=shutil.ignore_patterns("__pycache__", "data"))
    assert _mypy(package, tmp_path / "cache").strip() == ""  # the copy checks clean as is

    actions = package / "actions.py"
    text = actions.read_text()
    union = "NodeAction = (Send | NodeStatus | LinkStatus | Log | Acquire | Release | Readvertise"
    assert union in text
    text = text.replace(union, "NodeAction = (Nudge | Send | NodeStatus | LinkStatus | Log | "
                               "Acquire | Release | Readvertise")
    text = text.replace("MembershipAction =", '@dataclass(frozen=True, slots=True)\n'
                        'class Nudge:\n    """An action nobody handles."""\n\n\n'
                        "MembershipAction =")
    actions.write_text(text)
    report = _mypy(package, tmp_path / "cache")
    for module in ("daemon.py", "sim.py"):
        assert any(module in line and "assert_never" in line and "Nudge" in line
                   for line in report.splitlines()), report
