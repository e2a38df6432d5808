"""State and run directories: every I/O error at start is one clear line, exit 74.

The unit tests drive :class:`StateDir` and :class:`PidLock` directly; the
others run a real ``hapulse start --foreground`` with the seed's f801 files
against a read-only or a full file system, made inside ``unshare --mount``
(root) so nothing outside the test sees the mounts.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hapulse.runtime import (
    EXIT_STATE_DIR,
    PidLock,
    StateDir,
    StateDirError,
    describe_os_error,
)

HAPULSE = str(Path(sys.executable).with_name("hapulse"))
SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / "f801" / "ha.d"


# ---- StateDir and PidLock ---------------------------------------------------------------

def test_generation_grows_and_the_uuid_stays(tmp_path: Path) -> None:
    s = StateDir(tmp_path / "state")
    assert s.generation() == 0
    first = s.bump_generation()  # a new node starts at the Unix time (hbgenmethod time)
    assert abs(first - time.time()) < 60
    assert [s.bump_generation() for _ in range(2)] == [first + 1, first + 2]
    assert (tmp_path / "state" / "hb_generation").read_text() == f"{first + 2}\n"
    u = s.uuid()
    assert len(u) == 16 and StateDir(tmp_path / "state").uuid() == u
    assert not list((tmp_path / "state").glob("*.tmp"))


@pytest.mark.parametrize("content", [b"", b"\n", b"garbage\n", b"-3\n", b"1e9\n", b"\xff\xfe",
                                     b"9" * 5000])
def test_a_corrupt_generation_is_an_error_with_its_recovery(tmp_path: Path,
                                                           content: bytes) -> None:
    (tmp_path / "hb_generation").write_bytes(content)
    with pytest.raises(StateDirError) as exc:
        StateDir(tmp_path).bump_generation()
    text = str(exc.value)
    assert str(tmp_path / "hb_generation") in text and "corrupt" in text
    assert f"date +%s > {tmp_path / 'hb_generation'}" in text
    assert exc.value.exit_code == EXIT_STATE_DIR
    assert (tmp_path / "hb_generation").read_bytes() == content  # left as found


def test_an_unreadable_generation_names_the_path(tmp_path: Path) -> None:
    (tmp_path / "hb_generation").mkdir()
    with pytest.raises(StateDirError) as exc:
        StateDir(tmp_path).bump_generation()
    assert str(exc.value).startswith(f"{tmp_path / 'hb_generation'}: cannot read the "
                                     "generation file: Is a directory (EISDIR)")


def test_a_file_where_the_state_dir_should_be(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("x")
    with pytest.raises(StateDirError) as exc:
        StateDir(tmp_path / "state")
    assert "cannot create the state directory" in str(exc.value)
    assert "(EEXIST)" in str(exc.value) or "(ENOTDIR)" in str(exc.value)
    with pytest.raises(StateDirError) as exc2:
        PidLock(tmp_path / "state" / "run").acquire()
    assert "--run-dir" in str(exc2.value)


@pytest.mark.parametrize("code, words, fix", [
    (errno.EROFS, "Read-only file system (EROFS)", "remount it read-write, or give --state-dir"),
    (errno.ENOSPC, "No space left on device (ENOSPC)", "is full: free some space (df -h"),
    (errno.EACCES, "Permission denied (EACCES)", "run hapulse as root"),
    (errno.EIO, "Input/output error (EIO)", "dmesg"),
])
def test_errno_in_words_and_the_fix(code: int, words: str, fix: str) -> None:
    exc = OSError(code, os.strerror(code), "/var/lib/hapulse/hb_generation.tmp")
    text = describe_os_error(exc, "write the generation file", Path("/var/lib/hapulse"),
                             "--state-dir")
    assert text.startswith("/var/lib/hapulse/hb_generation.tmp: cannot write the generation "
                           f"file: {words}; ")
    assert fix in text and "\n" not in text


# ---- a real `hapulse start` on a read-only or full file system ---------------------------

def _can_mount() -> str | None:
    if os.geteuid() != 0:
        return "needs root (mount namespaces)"
    if shutil.which("unshare") is None:
        return "needs unshare (util-linux)"
    if not SEED.is_dir():
        return f"the seed's files are not at {SEED}"
    return None


def _confdir(tmp_path: Path) -> Path:
    conf = tmp_path / "ha.d"
    conf.mkdir()
    for name in ("ha.cf", "authkeys", "haresources"):
        shutil.copyfile(SEED / name, conf / name)
    (conf / "authkeys").chmod(0o600)
    return conf


def start_in_mount_ns(tmp_path: Path, prepare: str) -> subprocess.CompletedProcess[str]:
    """`hapulse start --foreground` for f801 after the shell lines `prepare` (in the ns)."""
    conf, state, run = _confdir(tmp_path), tmp_path / "state", tmp_path / "run"
    state.mkdir()
    run.mkdir()
    script = (f"set -e\n{prepare}\n"
              'exec "$HAPULSE" start --foreground -c "$CONF" --node f801 '
              '--state-dir "$STATE" --run-dir "$RUN"\n')
    env = {**os.environ, "HAPULSE": HAPULSE, "CONF": str(conf), "STATE": str(state),
           "RUN": str(run)}
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=60, env=env)


def assert_one_clear_line(r: subprocess.CompletedProcess[str], *words: str) -> str:
    out = r.stdout + r.stderr
    assert "Traceback" not in out, out
    assert r.returncode == EXIT_STATE_DIR, (r.returncode, out)
    errors = [line for line in r.stderr.splitlines() if line.startswith("hapulse: ")]
    assert len(errors) == 1, out
    for w in words:
        assert w in errors[0], errors[0]
    return errors[0]


@pytest.fixture
def mountable() -> None:
    why = _can_mount()
    if why:
        pytest.skip(why)


@pytest.mark.usefixtures("mountable")
def test_a_read_only_state_dir_at_start(tmp_path: Path) -> None:
    r = start_in_mount_ns(tmp_path, 'mount -t tmpfs -o size=64k hapulse-test "$STATE"\n'
                                    'mount -o remount,ro "$STATE"')
    assert_one_clear_line(r, str(tmp_path / "state"), "Read-only file system (EROFS)",
                          "remount it read-write, or give --state-dir")


@pytest.mark.usefixtures("mountable")
def test_a_full_state_dir_at_start(tmp_path: Path) -> None:
    r = start_in_mount_ns(tmp_path, 'mount -t tmpfs -o size=16k hapulse-test "$STATE"\n'
                                    'dd if=/dev/zero of="$STATE/fill" bs=1k count=64 '
                                    "2>/dev/null || true")
    assert_one_clear_line(r, str(tmp_path / "state" / "hb_generation"),
                          "No space left on device (ENOSPC)",
                          "is full: free some space")


@pytest.mark.usefixtures("mountable")
def test_a_read_only_run_dir_at_start(tmp_path: Path) -> None:
    r = start_in_mount_ns(tmp_path, 'mount -t tmpfs -o size=64k hapulse-test "$RUN"\n'
                                    'mount -o remount,ro "$RUN"')
    assert_one_clear_line(r, str(tmp_path / "run"), "Read-only file system (EROFS)",
                          "--run-dir")


@pytest.mark.usefixtures("mountable")
def test_a_corrupt_generation_at_start(tmp_path: Path) -> None:
    r = start_in_mount_ns(tmp_path, 'printf "gen=7\\n" > "$STATE/hb_generation"')
    assert_one_clear_line(r, "hb_generation", "corrupt", "date +%s >")


@pytest.mark.usefixtures("mountable")
def test_a_file_in_place_of_the_run_dir_at_start(tmp_path: Path) -> None:
    r = start_in_mount_ns(tmp_path, 'rmdir "$RUN" && echo x > "$RUN"')
    assert_one_clear_line(r, str(tmp_path / "run"), "File exists (EEXIST)", "--run-dir")
