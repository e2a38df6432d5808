"""The command line: help works, an unknown command is refused."""

import subprocess
import sys

import pytest

from hapulse.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "hapulse" in capsys.readouterr().out


def test_unknown_command_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["no-such-command"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_module_entry_point_runs() -> None:
    r = subprocess.run([sys.executable, "-m", "hapulse", "--help"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    assert "COMMAND" in r.stdout
