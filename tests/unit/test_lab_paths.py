"""Where the lab finds the seed and the captures: the shared folder, $HAPULSE_SHARED, the
packaged copy; and a node's ha.d on disk."""

from __future__ import annotations

import re
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import ha_cf, make_ha_d

from hapulse.lab import paths
from hapulse.lab.demo import main as demo_main
from hapulse.lab.ha_d import HA_D_FILES, read_ha_d, write_ha_d
from hapulse.lab.nodes import HTTPD, seed_files

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_shared_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(paths.SHARED_ENV, raising=False)
    yield


def a_seed(root: Path, marker: str) -> Path:
    for node in paths.SEED_NODES:
        write_ha_d(root / node / "ha.d", {"ha.cf": f"# {marker} {node}\n", "authkeys": "",
                                          "haresources": ""})
    return root


def test_the_packaged_seed_is_byte_identical_to_the_shared_one() -> None:
    shared = paths.shared_dir()
    if shared is None:
        pytest.skip("no shared folder beside this checkout to compare with")
    for node in paths.SEED_NODES:
        for name in HA_D_FILES:
            packaged = paths.PACKAGED_SEED / node / "ha.d" / name
            assert packaged.read_bytes() == (shared / "seed" / node / "ha.d" / name).read_bytes()


def test_the_packaged_seed_and_the_demos_httpd_are_in_the_package() -> None:
    assert paths.PACKAGED_SEED.is_relative_to(paths.DATA)
    assert paths.is_seed(paths.PACKAGED_SEED)
    assert "f801 " in (paths.PACKAGED_SEED / "f801" / "ha.d" / "haresources").read_text()
    assert "ucast eth2 10.0.0.1" in (paths.PACKAGED_SEED / "f802" / "ha.d" / "ha.cf").read_text()
    assert HTTPD.parent == paths.DATA and HTTPD.read_text().startswith("#!/bin/sh")
    # package data: the table that ships them in a wheel names them
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"data/seed/*/ha.d/*"' in pyproject and '"data/*"' in pyproject


def test_in_a_checkout_the_shared_folder_is_beside_it() -> None:
    assert paths.checkout_root() == REPO
    beside = REPO.parent / "shared"
    assert paths.shared_dir() == (beside if beside.is_dir() else None)


def test_without_checkout_or_shared_folder_the_packaged_copy_is_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paths, "checkout_root", lambda: None)
    assert paths.shared_dir() is None
    assert paths.seed_dir() == paths.PACKAGED_SEED
    assert paths.captures_dir() is None
    assert seed_files("f801")["haresources"].split()[:2] == ["f801", "192.168.1.118"]


def test_hapulse_shared_names_another_folder(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "elsewhere"
    a_seed(shared / "seed", "mine")
    (shared / "heartbeat" / "capture").mkdir(parents=True)
    monkeypatch.setenv(paths.SHARED_ENV, str(shared))
    assert paths.shared_dir() == shared
    assert paths.seed_dir() == shared / "seed"
    assert seed_files("f802")["ha.cf"] == "# mine f802\n"
    assert paths.captures_dir() == shared / "heartbeat" / "capture"


def test_a_shared_folder_without_a_whole_seed_falls_back_to_the_packaged_copy(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shared = tmp_path / "shared"
    a_seed(shared / "seed", "partial")
    (shared / "seed" / "f802" / "ha.d" / "authkeys").unlink()
    monkeypatch.setenv(paths.SHARED_ENV, str(shared))
    assert paths.shared_dir() == shared
    assert paths.seed_dir() == paths.PACKAGED_SEED
    assert paths.captures_dir() is None


def test_a_missing_hapulse_shared_is_not_replaced_by_the_checkouts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(paths.SHARED_ENV, str(tmp_path / "nowhere"))
    assert paths.shared_dir() is None
    assert paths.seed_dir() == paths.PACKAGED_SEED


def test_no_absolute_path_to_the_shared_folder_in_the_lab() -> None:
    absolute = re.compile(r"""["']/[^"'\n]*shared""")
    for source in (REPO / "src" / "hapulse" / "lab").glob("*.py"):
        assert not absolute.search(source.read_text()), source
    assert absolute.search('SEED = Path("/srv/shared/seed")')  # the check can fail


def test_demo_refuses_a_seed_folder_without_the_nodes_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a_seed(tmp_path / "seed", "x")
    shutil.rmtree(tmp_path / "seed" / "f801")
    assert demo_main(fast=True, seed=tmp_path / "seed") == 1
    assert "has no f801/ha.d and f802/ha.d" in capsys.readouterr().err


def test_write_ha_d_makes_authkeys_private_and_needs_all_three(tmp_path: Path) -> None:
    conf = make_ha_d(tmp_path / "ha.d", ha_cf("ucast lo 127.0.0.2", nodes=("a", "b")))
    modes = {n: stat.S_IMODE((conf / n).stat().st_mode) for n in HA_D_FILES}
    assert modes == {"ha.cf": 0o644, "authkeys": 0o600, "haresources": 0o644}
    hacf = read_ha_d(conf)["ha.cf"]
    assert hacf.splitlines() == ["keepalive 0.5", "warntime 1.5", "deadtime 2", "initdead 4",
                                 "udpport 694", "ucast lo 127.0.0.2", "node a", "node b",
                                 "auto_failback on"]
    with pytest.raises(ValueError, match="authkeys"):
        write_ha_d(tmp_path / "other", {"ha.cf": "", "haresources": ""})
