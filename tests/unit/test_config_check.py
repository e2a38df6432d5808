"""The config layer: the seed's files pass; each class of mistake names its file and line."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hapulse.cli import main
from hapulse.config import (
    ConfigError,
    load_config,
    parse_authkeys,
    parse_hacf,
    parse_haresources,
    parse_time,
)
from hapulse.lab.paths import seed_dir as lab_seed_dir

SEED = lab_seed_dir()  # the shared folder beside the checkout, else the packaged copy


def seed_dir(tmp_path: Path, node: str = "f801") -> Path:
    d = tmp_path / node
    shutil.copytree(SEED / node / "ha.d", d)
    for f in d.iterdir():
        f.chmod(0o644)
    (d / "authkeys").chmod(0o600)
    return d


@pytest.mark.parametrize("node,iface,peer", [("f801", "eth1", "10.0.0.2"),
                                             ("f802", "eth2", "10.0.0.1")])
def test_seed_config_is_usable(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               node: str, iface: str, peer: str) -> None:
    d = seed_dir(tmp_path, node)
    assert main(["check", "-c", str(d), "--node", node, "--json"]) == 0
    cap = capsys.readouterr()
    cfg = json.loads(cap.out)
    assert (cfg["keepalive"], cfg["warntime"], cfg["deadtime"], cfg["initdead"]) == \
        (1.0, 10.0, 30.0, 120.0)
    assert cfg["udpport"] == 694
    assert cfg["media"][0]["kind"] == "ucast"
    assert cfg["media"][0]["interface"] == iface
    assert cfg["media"][0]["addresses"] == [peer]
    assert cfg["nodes"] == ["f801", "f802"]
    [group] = cfg["groups"]
    assert group["node"] == "f801"
    assert [(r["agent"], r["args"]) for r in group["resources"]] == \
        [("IPaddr", ["192.168.1.118"]), ("httpd", [])]
    # Heartbeat's own complaint about the seed's udpport line, with its line number
    assert f"{d}/ha.cf:6: warning: udpport setting must precede media statements" in cap.err


def test_console_script_checks_the_seed(tmp_path: Path) -> None:
    d = seed_dir(tmp_path)
    exe = Path(sys.executable).with_name("hapulse")
    r = subprocess.run([str(exe), "check", "-c", str(d), "--node", "f801"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "configuration OK for node f801" in r.stdout


def _check(d: Path, capsys: pytest.CaptureFixture[str], node: str = "f801") -> tuple[int, str]:
    rc = main(["check", "-c", str(d), "--node", node])
    return rc, capsys.readouterr().err


def test_authkeys_mode_644_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = seed_dir(tmp_path)
    (d / "authkeys").chmod(0o644)
    rc, err = _check(d, capsys)
    assert rc == 1
    assert f"{d}/authkeys: error: authkeys is mode 644" in err
    assert f"chmod 600 {d}/authkeys" in err


def test_auth_names_undefined_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = seed_dir(tmp_path)
    (d / "authkeys").write_text("auth 3\n#1 crc\n2 sha1 HI!\n")
    rc, err = _check(d, capsys)
    assert rc == 1
    assert f"{d}/authkeys:1: error: `auth 3` names key 3, which is not defined" in err


def _hacf(d: Path, replace: dict[str, str]) -> None:
    lines = (d / "ha.cf").read_text().splitlines()
    out = []
    for line in lines:
        key = line.split()[0] if line.split() else ""
        out.append(replace.get(key, line))
    (d / "ha.cf").write_text("\n".join(out) + "\n")


def test_deadtime_not_above_keepalive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = seed_dir(tmp_path)
    _hacf(d, {"keepalive": "keepalive 2", "deadtime": "deadtime 1"})
    rc, err = _check(d, capsys)
    assert rc == 1
    assert f"{d}/ha.cf:3: error: deadtime (1 s) must be more than twice keepalive (2 s)" in err


def test_deadtime_not_a_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = seed_dir(tmp_path)
    _hacf(d, {"deadtime": "deadtime thirty"})
    rc, err = _check(d, capsys)
    assert rc == 1
    assert f"{d}/ha.cf:3: error: `deadtime thirty`: not a time" in err


def test_misspelt_directive_suggests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = seed_dir(tmp_path)
    _hacf(d, {"keepalive": "keeplive 1"})
    rc, err = _check(d, capsys)
    assert rc == 1
    assert f"{d}/ha.cf:1: error: unknown directive `keeplive`; did you mean `keepalive`?" in err


def test_local_node_not_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = seed_dir(tmp_path)
    rc, err = _check(d, capsys, node="f803")
    assert rc == 1
    assert f"{d}/ha.cf:7: error: this node `f803` is not among the nodes (f801, f802)" in err


def test_group_owned_by_unknown_node(tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    d = seed_dir(tmp_path)
    (d / "haresources").write_text("# web\nf809 192.168.1.118 httpd\n")
    rc, err = _check(d, capsys)
    assert rc == 1
    assert f"{d}/haresources:2: error: group owned by unknown node `f809`" in err


def test_invalid_ip_address(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = seed_dir(tmp_path)
    (d / "haresources").write_text("f801 192.168.1.318 httpd\n")
    rc, err = _check(d, capsys)
    # Heartbeat starts with it (the resource fails when acquired): a warning
    assert rc == 0
    assert f"{d}/haresources:1: warning: invalid address `192.168.1.318`" in err


def test_missing_directory_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, err = _check(tmp_path / "nope", capsys)
    assert rc == 1
    assert "not a directory" in err and "Traceback" not in err


def test_times_take_heartbeat_syntax() -> None:
    assert parse_time("30") == 30.0
    assert parse_time("1.5") == 1.5
    assert parse_time("500ms") == 0.5
    assert parse_time("2000us") == 0.002
    assert parse_time("thirty") is None


def test_initdead_below_deadtime_is_refused() -> None:
    hacf, diags = parse_hacf("keepalive 1\ndeadtime 30\ninitdead 10\nucast eth1 10.0.0.2\n"
                             "node a\nauto_failback on\n")
    errors = [d for d in diags if d.severity == "error"]
    assert [(d.line, d.code) for d in errors] == [(3, "initdead-lt-deadtime")]


def test_repeatable_directives_accumulate() -> None:
    hacf, diags = parse_hacf("node a b\nnode c\nbcast eth0 eth1\nucast eth2 10.0.0.2\n"
                             "auto_failback off\nmcast eth3 225.0.0.1 694 1 0\n")
    assert hacf.nodes == ("a", "b", "c")
    assert [(m.kind, m.interface) for m in hacf.media] == \
        [("bcast", "eth0"), ("bcast", "eth1"), ("ucast", "eth2"), ("mcast", "eth3")]
    assert not [d for d in diags if d.severity == "error"]


def test_unimplemented_directive_warns_by_name() -> None:
    _, diags = parse_hacf("hbaping fc-card-name\nnode a\nucast eth0 10.0.0.2\n")
    assert any(d.line == 1 and d.severity == "warning" and "hbaping" in d.message
               for d in diags)


def test_guard_directives_are_implemented_not_warned() -> None:
    """ping, ping_group, deadping, respawn (ipfail too) and stonith_host run in hapulse."""
    _, diags = parse_hacf("stonith_host * null\nping 127.0.0.1\nping_group gw 127.0.0.1\n"
                          "deadping 5\nrespawn root /usr/lib/heartbeat/ipfail\nnode a\n"
                          "ucast eth0 10.0.0.2\n")
    assert [d for d in diags if d.code == "not-implemented"] == []


def test_haresources_continuation_and_arguments() -> None:
    groups, diags = parse_haresources(
        "f801 IPaddr::10.0.0.9/24/eth0 \\\n   Filesystem::/dev/sda1::/data::ext4 httpd\n",
        nodes=["f801"])
    assert not diags
    [g] = groups
    assert [(r.agent, r.args) for r in g.resources] == [
        ("IPaddr", ("10.0.0.9/24/eth0",)),
        ("Filesystem", ("/dev/sda1", "/data", "ext4")),
        ("httpd", ()),
    ]


def test_haresources_resource_d_prefix_chooses_the_script() -> None:
    groups, diags = parse_haresources(
        "f801 resource.d/IPaddr::192.168.1.118/24 httpd\n", nodes=["f801"])
    assert not diags
    assert [r.agent for r in groups[0].resources] == ["resource.d/IPaddr", "httpd"]
    for bad in ("resource.d/../x", "resource.d/IPaddr::192.168.1.318", "/bin/sh"):
        _, diags = parse_haresources(f"f801 {bad}\n", nodes=["f801"])
        assert [d.severity for d in diags] == ["warning"], bad


def test_crc_warns() -> None:
    keys, diags = parse_authkeys("auth 1\n1 crc\n", mode=0o600)
    assert keys is not None and keys.method == "crc"
    assert any(d.code == "crc-insecure" for d in diags)


def test_config_error_lists_every_error(tmp_path: Path) -> None:
    d = seed_dir(tmp_path)
    (d / "authkeys").chmod(0o644)
    _hacf(d, {"keepalive": "keeplive 1"})
    config, diags = load_config(d, "f801")
    assert config is None
    err = ConfigError(diags)
    assert "keeplive" in str(err) and "chmod 600" in str(err)


TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=400)
LINES = st.lists(st.sampled_from([
    "keepalive 1", "deadtime 30", "deadtime 0.5ms", "warntime 10", "initdead 120",
    "ucast eth1 10.0.0.2", "ucast eth1", "bcast eth0", "mcast eth0 225.0.0.1 694 1 0",
    "mcast eth0 1.2.3.4 x y z", "serial /dev/ttyS0", "baud 19200", "udpport 99999",
    "node f801", "auto_failback maybe", "crm on", "# comment", "auth 2", "2 sha1 HI!",
    "f801 192.168.1.118 httpd", "f801 IPaddr::1.2.3.999", "\\", "", "##中文",
]), max_size=20).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(st.one_of(TEXT, LINES))
def test_parsers_never_raise_on_any_text(text: str) -> None:
    hacf, d1 = parse_hacf(text, "ha.cf")
    assert all(d.file == "ha.cf" for d in d1)
    keys, d2 = parse_authkeys(text, "authkeys", 0o600)
    assert keys is not None or any(d.severity == "error" for d in d2)
    groups, d3 = parse_haresources(text, "haresources", ["f801", "f802"])
    assert all(str(d).startswith("haresources") for d in d3)
