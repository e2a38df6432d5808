"""The demo's steps as a test: `hapulse demo --fast` runs the whole story and exits 0,
from the checkout and from a plain (non-editable) install with no checkout around it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from hapulse.lab.nodes import HAPULSE
from hapulse.lab.paths import SHARED_ENV

pytestmark = pytest.mark.netns


STEPS = [
    r"Building the seed's topology",
    r"Installed the seed's files .* authkeys \(mode 600\)",
    r"Both nodes up",
    r"status from f80[12] seq \d+ gen \d+ auth ok",
    r'client: curl http://192\.168\.1\.118/ -> "f801"',
    r"Pulling f801's power",
    r"f802 log: .*Late heartbeat: Node f801",
    r"f802 log: .*node f801: is dead",
    r"f802 log: .*resource httpd started",
    r"client: served by f802 [\d.]+ s after f801 lost power; service gap [\d.]+ s",
    r"neighbour entry .* \(f802's eth1: moved by gratuitous ARP\)",
    r"f801 powers back on",
    r"client: served by f801 again .* failback service gap \d+ ms",
    r"cleaned up: namespaces",
]


def assert_whole_story(out: str) -> None:
    pos = 0
    for step in STEPS:
        m = re.compile(step).search(out, pos)
        assert m, f"step {step!r} missing (in order) from:\n{out[-3000:]}"
        pos = m.end()


@pytest.mark.parametrize("timers", ["--fast", "seed"])
def test_demo_tells_the_whole_story(timers: str) -> None:
    argv = [HAPULSE, "demo"] + ([timers] if timers == "--fast" else [])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    out = r.stdout
    assert r.returncode == 0, out[-3000:] + r.stderr
    assert_whole_story(out)
    gap = float(re.search(r"served by f802 ([\d.]+) s after", out)[1])  # type: ignore[index]
    # the death is declared deadtime after the last heartbeat heard, which left up to a
    # keepalive before the power was pulled
    deadtime, keepalive = (0.5, 0.1) if timers == "--fast" else (30.0, 1.0)
    assert deadtime - keepalive - 0.1 <= gap <= deadtime + 2
    # nothing is left behind
    prefix = re.search(r"namespaces (hpdemo\d+)-\*", out)[1]  # type: ignore[index]
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in left


def test_ctrl_c_cleans_up() -> None:
    p = subprocess.Popen([HAPULSE, "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout is not None
        prefix = None
        for _, line in zip(range(200), p.stdout, strict=False):  # bounded
            m = re.search(r"network namespaces \((hpdemo\d+)-\*\)", line)
            prefix = prefix or (m[1] if m else None)
            if "Both nodes up" in line:
                break
        assert prefix is not None
        p.send_signal(2)  # SIGINT, as Ctrl-C
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130, err
    assert "interrupted; cleaned up" in err
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert prefix not in left


# ---- a plain install, no checkout ------------------------------------------------------
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plain_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv where hapulse is installed from a wheel (not editable), built from a copy
    of the checkout's sources; its dependencies come from this venv's site-packages by a
    .pth file (no download). Returns the venv."""
    root = tmp_path_factory.mktemp("plain-install")
    sources = root / "hapulse-sources"
    sources.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, sources / name)
    shutil.copytree(REPO / "src", sources / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    wheels = root / "wheels"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                            "-w", str(wheels), str(sources)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stdout + built.stderr
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    wheel = [str(w) for w in wheels.glob("hapulse-*.whl")]
    installed = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"),
                                "install", "--quiet", "--no-deps", "--no-index", *wheel],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = venv / "lib" / version / "site-packages"
    (site / "hapulse-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


def in_plain_install(venv: Path, argv: list[str], cwd: Path,
                     timeout: float) -> subprocess.CompletedProcess[str]:
    """Run from `cwd` (no checkout there) with no $HAPULSE_SHARED."""
    env = {k: v for k, v in os.environ.items() if k not in (SHARED_ENV, "PYTHONPATH")}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_a_plain_install_finds_the_packaged_seed(plain_install: Path, tmp_path: Path) -> None:
    probe = ("import hapulse, json\n"
             "from hapulse.lab import paths\n"
             "from hapulse.lab.nodes import HTTPD\n"
             "print(json.dumps({'package': hapulse.__file__, 'seed': str(paths.seed_dir()),"
             " 'shared': paths.shared_dir() and str(paths.shared_dir()),"
             " 'httpd': HTTPD.is_file()}))\n")
    r = in_plain_install(plain_install, [str(plain_install / "bin" / "python"), "-c", probe],
                         tmp_path, 60)
    assert r.returncode == 0, r.stderr
    found = json.loads(r.stdout)
    package = Path(found["package"]).parent
    assert package.is_relative_to(plain_install), found  # the wheel's copy, not the checkout
    assert found["shared"] is None and found["httpd"] is True
    assert Path(found["seed"]) == package / "data" / "seed"
    for node in ("f801", "f802"):
        for name in ("ha.cf", "authkeys", "haresources"):
            packaged = package / "data" / "seed" / node / "ha.d" / name
            assert packaged.read_bytes() == \
                (REPO / "src" / "hapulse" / "data" / "seed" / node / "ha.d" / name).read_bytes()


def test_demo_fast_from_a_plain_install_without_a_checkout(plain_install: Path,
                                                           tmp_path: Path) -> None:
    r = in_plain_install(plain_install, [str(plain_install / "bin" / "hapulse"), "demo",
                                         "--fast"], tmp_path, 300)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr
    assert f"Installed the seed's files from {plain_install}" in r.stdout
    assert_whole_story(r.stdout)
