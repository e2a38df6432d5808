"""Log write failures at runtime are counted, never fatal and never a traceback on stderr:
a log file on a full (16 KiB tmpfs) or read-only disk, inside a private mount namespace.

Each case runs a small Python program under `unshare --mount` (root only) that sets up
logging from an HaCf, writes lines and prints what `hapulse.logsetup.LOG_FAILURES` says.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hapulse.config import HaCf
from hapulse.logsetup import LOG_FAILURES, CountedFileHandler, setup_logging

needs_mounts = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None,
                                  reason="needs root and unshare (a private tmpfs)")

PROGRAM = textwrap.dedent("""
    import json, os, sys
    from hapulse.config import HaCf
    from hapulse.logsetup import LOG_FAILURES, setup_logging
    d = sys.argv[1]
    log = setup_logging(HaCf(logfile=d + "/log/ha-log"), stderr=False)
    for i in range(int(sys.argv[2])):
        log.info("line %d %s", i, "x" * 200)
    written = os.path.getsize(d + "/log/ha-log") if os.path.exists(d + "/log/ha-log") else 0
    failures = LOG_FAILURES.count
    if os.path.exists(d + "/filler"):
        os.remove(d + "/filler")  # room again: the next line must land
        log.info("after the disk was freed")
    text = open(d + "/log/ha-log").read() if os.path.exists(d + "/log/ha-log") else ""
    print(json.dumps({"failures": failures, "after": LOG_FAILURES.count, "written": written,
                      "last": LOG_FAILURES.last, "resumed": "after the disk was freed" in text}))
""")


def run_in_tmpfs(tmp_path: Path, setup: str, lines: int) -> tuple[dict[str, object], str]:
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = (f"mount -t tmpfs -o size=16k tmpfs {mnt} && {setup} && "
              f'exec {sys.executable} -c "$0" {mnt} {lines}')
    r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                        PROGRAM], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), r.stderr


@needs_mounts
def test_a_full_disk_counts_lost_lines_and_logging_resumes_when_there_is_room(
        tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    # the log directory, then a filler taking most of the 16 KiB: the log fills the rest
    out, err = run_in_tmpfs(tmp_path, f"mkdir {mnt}/log && "
                            f"(head -c 12288 /dev/zero > {mnt}/filler || true)", 500)
    assert err == ""  # no "--- Logging error ---", no traceback
    assert int(str(out["written"])) <= 16 * 1024
    assert int(str(out["failures"])) > 0
    assert "No space left on device (ENOSPC)" in str(out["last"])
    assert out["resumed"] is True


@needs_mounts
def test_a_read_only_log_directory_is_one_clear_line_then_counted(tmp_path: Path) -> None:
    mnt = tmp_path / "mnt"
    out, err = run_in_tmpfs(tmp_path, f"mkdir {mnt}/log && mount -o remount,ro {mnt}", 50)
    assert err.count("\n") == 1, err  # the line at set-up, nothing per failed write
    assert f"{mnt}/log/ha-log: cannot open the log file: Read-only file system" in err
    assert "logfile" in err and "Traceback" not in err
    assert int(str(out["failures"])) == 1 + 50  # the open at set-up, then every line
    assert "EROFS" in str(out["last"])


def test_a_failing_stream_is_counted_without_a_traceback(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = setup_logging(HaCf(logfile=str(tmp_path / "ha-log")), stderr=False)
    try:
        handler = next(h for h in log.handlers if isinstance(h, CountedFileHandler))
        before = LOG_FAILURES.count
        assert handler.stream is not None
        handler.stream.close()  # writes now raise ValueError, as a vanished stream would
        log.info("lost")
        log.info("written: the handler reopened its file")
        assert LOG_FAILURES.count == before + 1
        assert "ha-log" in LOG_FAILURES.last
        assert capsys.readouterr().err == ""
        assert "written: the handler" in (tmp_path / "ha-log").read_text()
    finally:
        for h in list(log.handlers):
            log.removeHandler(h)
            h.close()
        logging.getLogger("hapulse").propagate = True
