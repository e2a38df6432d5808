"""hapulse.toml: the defaults, a full file, and each class of mistake at its file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hapulse.config.settings import (
    MetricsSettings,
    MonitorDefaults,
    Settings,
    load_settings,
    parse_settings,
)

PATH = "/etc/ha.d/hapulse.toml"

FULL = """\
# the seed's cluster, as docs/monitoring.md shows it
[metrics]
address = "192.168.1.111"
port = 9694

[monitor.DEFAULTS]
interval = "10s"
timeout = 5
restarts = 2
window = "5m"

[monitor."httpd"]
kind = "http"
url = "http://192.168.1.118/"
expect = 200
interval = "500ms"
timeout = 0.5

[monitor."IPaddr::192.168.1.118/24/eth0"]

[monitor.db]
kind = "tcp"
host = "192.168.1.118"
port = 5432

[hooks]
notify = "/etc/ha.d/notify.sh"
timeout = "3s"
"""


def errors(text: str) -> list[str]:
    settings, diags = parse_settings(text, PATH)
    assert settings is None, "an error must leave no Settings"
    return [str(d) for d in diags if d.severity == "error"]


def test_full_file_parses_with_defaults_applied() -> None:
    settings, diags = parse_settings(FULL, PATH)
    assert diags == []
    assert settings is not None
    assert settings.metrics == MetricsSettings(True, "192.168.1.111", 9694)
    assert settings.defaults == MonitorDefaults(10.0, 5.0, 2, 300.0)
    httpd = settings.monitor_for("httpd")
    assert httpd is not None
    assert (httpd.kind, httpd.url, httpd.expect) == ("http", "http://192.168.1.118/", 200)
    assert (httpd.interval, httpd.timeout, httpd.restarts, httpd.window) == (0.5, 0.5, 2, 300.0)
    assert httpd.line == 12
    ip = settings.monitor_for("IPaddr::192.168.1.118/24/eth0")
    assert ip is not None and ip.kind is None and (ip.interval, ip.timeout) == (10.0, 5.0)
    db = settings.monitor_for("db")
    assert db is not None and (db.kind, db.host, db.port) == ("tcp", "192.168.1.118", 5432)
    assert settings.monitor_for("nothing") is None
    assert (settings.hooks.notify, settings.hooks.timeout) == ("/etc/ha.d/notify.sh", 3.0)


def test_empty_file_and_missing_file_are_the_defaults(tmp_path: Path) -> None:
    settings, diags = parse_settings("", PATH)
    assert settings is not None and diags == []
    assert settings.metrics.enabled is False and settings.monitors == ()
    assert load_settings(tmp_path) == (Settings(), [])


def test_metrics_section_enables_and_enabled_false_keeps_it_off() -> None:
    on, _ = parse_settings("[metrics]\n", PATH)
    off, _ = parse_settings("[metrics]\nenabled = false\nport = 9100\n", PATH)
    assert on is not None and on.metrics == MetricsSettings(True, "127.0.0.1", 9694)
    assert off is not None and off.metrics == MetricsSettings(False, "127.0.0.1", 9100)


@pytest.mark.parametrize("text,expected", [
    ("[metrics]\nport = 9694\nlisten = \"0.0.0.0\"\n",
     f"{PATH}:3: error: unknown key `listen` in [metrics]: expected one of enabled, address"),
    ("[metric]\nport = 1\n",
     f"{PATH}:1: error: unknown key `metric` at the top level: expected one of metrics, monitor"),
    ("[monitor.\"httpd\"]\nintervall = 5\n",
     f"{PATH}:2: error: unknown key `intervall` in [monitor.httpd]"),
    ("[monitor.\"IPaddr::10.0.0.1\"]\n\nbad = 1\n",
     f"{PATH}:3: error: unknown key `bad` in [monitor.\"IPaddr::10.0.0.1\"]"),
    ("[metrics]\nport = \"9694\"\n", f"{PATH}:2: error: `port` must be a whole number"),
    ("[metrics]\nport = true\n", f"{PATH}:2: error: `port` must be a whole number"),
    ("[metrics]\nport = 70000\n", f"{PATH}:2: error: `port = 70000` is out of range"),
    ("[metrics]\naddress = \"eth0\"\n", f"{PATH}:2: error: `address = \"eth0\"` is not an IP"),
    ("[metrics]\nenabled = \"yes\"\n", f"{PATH}:2: error: `enabled` must be true or false"),
    ("[monitor.DEFAULTS]\ninterval = 0\n", f"{PATH}:2: error: `interval` of 0 s is out of range"),
    ("[monitor.DEFAULTS]\n\ninterval = -5\n", f"{PATH}:3: error: `interval` of -5 s"),
    ("[monitor.DEFAULTS]\ninterval = \"10 sec\"\n",
     f"{PATH}:2: error: `interval = \"10 sec\"` is not a time"),
    ("[monitor.DEFAULTS]\ntimeout = [1]\n", f"{PATH}:2: error: `timeout` must be a time"),
    ("[monitor.\"httpd\"]\nwindow = \"2d\"\n", f"{PATH}:2: error: `window = \"2d\"` is not a"),
    ("[monitor.\"httpd\"]\ninterval = 100000\n", f"{PATH}:2: error: `interval` of 100000 s"),
    ("[monitor.\"httpd\"]\nrestarts = -1\n", f"{PATH}:2: error: `restarts = -1` is out of"),
    ("[monitor.DEFAULTS]\nkind = \"lsb\"\n",
     f"{PATH}:2: error: `kind` belongs to one resource"),
    ("[monitor.\"httpd\"]\nkind = \"nagios\"\n", f"{PATH}:2: error: unknown monitor kind"),
    ("[monitor.\"httpd\"]\nkind = \"http\"\n",
     f"{PATH}:1: error: monitor \"httpd\" of kind http needs url"),
    ("[monitor.\"httpd\"]\nkind = \"http\"\nurl = \"192.168.1.118\"\n",
     f"{PATH}:3: error: `url = \"192.168.1.118\"` is not an http://"),
    ("[monitor.db]\nkind = \"tcp\"\nhost = \"10.0.0.1\"\n",
     f"{PATH}:1: error: monitor \"db\" of kind tcp needs host"),
    ("[monitor.\"httpd\"]\nurl = \"http://x/\"\n", f"{PATH}:2: error: `url` is only for kind"),
    ("[monitor]\nhttpd = 5\n", f"{PATH}:2: error: `monitor.httpd` must be a table"),
    ("metrics = 9694\n", f"{PATH}:1: error: `metrics` must be a table"),
    ("[hooks]\nnotify = \"notify.sh\"\n", f"{PATH}:2: error: `notify = \"notify.sh\"` must be"),
    ("[hooks]\ntimeout = \"forever\"\n", f"{PATH}:2: error: `timeout = \"forever\"`"),
    ("[metrics]\nport = 9694\n[metrics]\n", f"{PATH}:3: error: not valid TOML"),
])
def test_mistakes_name_their_line(text: str, expected: str) -> None:
    got = errors(text)
    assert any(e.startswith(expected) for e in got), got


def test_every_mistake_is_reported_at_once() -> None:
    text = "[metrics]\nport = 0\nfoo = 1\n[monitor.x]\ninterval = 0\ntimeout = -1\n"
    assert [e.split(": error")[0] for e in errors(text)] == [
        f"{PATH}:3", f"{PATH}:2", f"{PATH}:5", f"{PATH}:6"]


def test_times_accept_numbers_and_units() -> None:
    text = ('[monitor.a]\ninterval = 2\ntimeout = "250ms"\nwindow = "1h"\n'
            '[monitor.b]\ninterval = "1.5s"\ntimeout = 1.5\nwindow = "10m"\n')
    settings, diags = parse_settings(text, PATH)
    assert settings is not None and diags == []
    a, b = settings.monitors
    assert (a.interval, a.timeout, a.window) == (2.0, 0.25, 3600.0)
    assert (b.interval, b.timeout, b.window) == (1.5, 1.5, 600.0)


def test_timeout_longer_than_interval_is_a_warning() -> None:
    settings, diags = parse_settings('[monitor.a]\ninterval = 1\ntimeout = 5\n', PATH)
    assert settings is not None
    assert [str(d) for d in diags] == [
        f"{PATH}:3: warning: timeout 5 s is longer than interval 1 s: a hung check delays the "
        "next one; make the timeout at most the interval"]


def test_dotted_keys_fall_back_to_the_table_line() -> None:
    got = errors('\n[monitor]\nhttpd.interval = 0\n')
    assert got and got[0].startswith(f"{PATH}:2: error: `interval` of 0 s")


def test_load_settings_warns_of_unknown_resources_and_missing_hook(tmp_path: Path) -> None:
    (tmp_path / "hapulse.toml").write_text(
        '[monitor."htpd"]\n\n[monitor.httpd]\n[hooks]\nnotify = "/nonexistent/notify.sh"\n')
    settings, diags = load_settings(tmp_path, resources=["IPaddr::192.168.1.118", "httpd"])
    assert settings is not None
    path = tmp_path / "hapulse.toml"
    assert [str(d) for d in diags] == [
        f"{path}:1: warning: monitor \"htpd\": no such resource in haresources "
        "(IPaddr::192.168.1.118, httpd); name it as written there",
        f"{path}:5: warning: notify script /nonexistent/notify.sh does not exist on this node"]


def test_load_settings_refuses_bad_bytes(tmp_path: Path) -> None:
    (tmp_path / "hapulse.toml").write_bytes(b"[metrics]\nport = 1\n# caf\xe9\n")
    settings, diags = load_settings(tmp_path)
    assert settings is None
    assert [str(d) for d in diags] == [
        f"{tmp_path / 'hapulse.toml'}:3: error: not valid UTF-8 (TOML files must be)"]


def test_hapulse_check_reports_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import shutil

    from hapulse.cli import main
    from hapulse.lab.paths import seed_dir

    d = tmp_path / "ha.d"
    shutil.copytree(seed_dir() / "f801" / "ha.d", d)
    (d / "authkeys").chmod(0o600)
    assert main(["check", "-c", str(d), "--node", "f801"]) == 0  # no hapulse.toml: fine
    (d / "hapulse.toml").write_text('[monitor."httpd"]\ninterval = "0s"\n')
    capsys.readouterr()
    assert main(["check", "-c", str(d), "--node", "f801"]) == 1
    err = capsys.readouterr().err
    assert f"{d / 'hapulse.toml'}:2: error: `interval` of 0 s is out of range" in err
    (d / "hapulse.toml").write_text('[monitor."htpd"]\n')
    assert main(["check", "-c", str(d), "--node", "f801"]) == 0
    assert f"{d / 'hapulse.toml'}:1: warning: monitor \"htpd\": no such resource" in \
        capsys.readouterr().err
