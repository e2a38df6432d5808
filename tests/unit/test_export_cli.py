"""`hapulse export`: outputs, gaps on stderr and at the top, exit codes 0 / 2 / 1."""

from __future__ import annotations

from pathlib import Path

import pytest
from factories import ha_cf, make_ha_d

from hapulse.cli import main

HACF = ha_cf("ucast eth1 10.0.0.2", nodes=("f801", "f802"))


def test_clean_export_exits_0_with_both_files(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    confdir = make_ha_d(tmp_path / "ha.d", HACF, haresources="f801 10.0.0.9/24 httpd\n")
    out, conf = tmp_path / "c.xml", tmp_path / "corosync.conf"
    rc = main(["export", "pacemaker", "-c", str(confdir), "--node", "f802", "--format", "cib",
               "-o", str(out), "--corosync", str(conf), "--addr", "f802=10.0.0.1"])
    assert rc == 0, capsys.readouterr().err
    assert "<cib " in out.read_text() and "ring0_addr: 10.0.0.1" in conf.read_text()


def test_gaps_exit_2_and_head_the_output(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    confdir = make_ha_d(tmp_path / "ha.d", HACF, haresources="f801 10.0.0.9 drbddisk::r0 x\n")
    assert main(["export", "pacemaker", "-c", str(confdir), "--node", "f801"]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines()[0].startswith("# hapulse export: 1 gap(s)")
    assert out.splitlines()[1].startswith("# gap: ") and "drbddisk::r0" in out.splitlines()[1]
    assert "gap:" in err and "drbddisk::r0" in err


def test_unusable_configuration_exits_1_naming_the_file(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    confdir = make_ha_d(tmp_path / "ha.d", "node f801\n", haresources="")
    assert main(["export", "corosync", "-c", str(confdir), "--node", "f801"]) == 1
    err = capsys.readouterr().err
    assert f"{confdir}/ha.cf" in err and "Traceback" not in err


def test_bad_hint_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    confdir = make_ha_d(tmp_path / "ha.d", HACF, haresources="f801 10.0.0.9 httpd\n")
    assert main(["export", "pacemaker", "-c", str(confdir), "--nic", "eth0"]) == 1
    assert "write --nic NODE=VALUE" in capsys.readouterr().err
