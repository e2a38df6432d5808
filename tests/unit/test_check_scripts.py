"""`hapulse check` warns about a haresources resource whose script this node cannot find,
naming the paths searched; it stays quiet for one that resolves, and agrees with the daemon's
own lookup (hapulse.resources.scripts.make_agent, which it reuses)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from factories import ha_cf, make_ha_d

from hapulse.cli import main
from hapulse.config import ResourceSpec
from hapulse.resources.lookup import missing_agent, unit_file

NO_SUCH = "hapulse-no-such-service"


def ha_d(tmp_path: Path, haresources: str) -> Path:
    d = make_ha_d(tmp_path / "ha.d", ha_cf("ucast eth1 10.0.0.2", nodes=("f801", "f802")),
                  haresources=haresources)
    (d / "resource.d").mkdir()
    return d


def check(d: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["check", "-c", str(d), "--node", "f801"])
    return rc, capsys.readouterr().err


def test_a_resource_with_no_script_is_a_warning_naming_the_paths_searched(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ha_d(tmp_path, f"f801 192.168.1.118 {NO_SUCH}\n")
    rc, err = check(d, capsys)
    assert rc == 0  # a warning: the configuration is still usable
    warning = next(ln for ln in err.splitlines() if NO_SUCH in ln)
    assert warning.startswith(f"{d}/haresources:1: warning: ")
    assert f"{d}/resource.d/{NO_SUCH}" in warning
    assert f"/etc/init.d/{NO_SUCH}" in warning
    assert "f801" in warning


def test_resources_that_resolve_give_no_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ha_d(tmp_path, "f801 192.168.1.118 IPaddr::192.168.1.119/24 myapp\n")
    script = d / "resource.d" / "myapp"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    rc, err = check(d, capsys)
    assert rc == 0
    assert "haresources" not in err, err


def test_a_script_that_is_not_executable_is_missing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = ha_d(tmp_path, "f802 resource.d/myapp::arg\n")
    (d / "resource.d" / "myapp").write_text("#!/bin/sh\nexit 0\n")  # mode 644
    rc, err = check(d, capsys)
    assert rc == 0
    assert f"{d}/haresources:1: warning: no script {d}/resource.d/myapp" in err


def test_ocf_agents_are_looked_up_where_the_daemon_looks(tmp_path: Path) -> None:
    d = ha_d(tmp_path, "")
    why = missing_agent(ResourceSpec("ocf:nobody:NoSuchAgent", (), "ocf:nobody:NoSuchAgent"), d)
    assert why is not None and "/usr/lib/ocf/resource.d/nobody/NoSuchAgent" in why


def test_a_systemd_unit_must_exist_in_a_unit_directory(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    units = tmp_path / "units"
    units.mkdir()
    (units / "web.service").write_text("[Service]\n")
    (units / "worker@.service").write_text("[Service]\n")
    assert unit_file("web.service", [units]) == units / "web.service"
    assert unit_file("worker@3.service", [units]) == units / "worker@.service"
    assert unit_file("nope.service", [units]) is None
    # with systemd running, make_agent takes any unknown name for a unit: check looks for it
    monkeypatch.setattr(Path, "is_dir", lambda p: str(p) == "/run/systemd/system"
                        or os.path.isdir(p))
    d = ha_d(tmp_path, "")
    assert missing_agent(ResourceSpec("web", (), "web"), d, [units]) is None
    why = missing_agent(ResourceSpec(NO_SUCH, (), NO_SUCH), d, [units])
    assert why is not None
    assert f"{NO_SUCH}.service in {units}" in why and f"{d}/resource.d/{NO_SUCH}" in why
