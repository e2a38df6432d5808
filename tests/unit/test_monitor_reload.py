"""hapulse.reload.plan_reload names the monitors a reload adds, removes and changes."""

from __future__ import annotations

from pathlib import Path

from factories import ha_cf, make_ha_d

from hapulse.config import Config, load_config
from hapulse.reload import plan_reload


def load(d: Path, toml: str | None) -> Config:
    make_ha_d(d, ha_cf("bcast eth1", nodes=("f801", "f802")),
              haresources="f801 192.168.1.118 httpd db\n")
    if toml is None:
        (d / "hapulse.toml").unlink(missing_ok=True)
    else:
        (d / "hapulse.toml").write_text(toml)
    config, diags = load_config(d, "f801")
    assert config is not None, [str(x) for x in diags]
    return config


def test_monitor_changes_apply_live(tmp_path: Path) -> None:
    old = load(tmp_path, '[monitor."httpd"]\ninterval = 2\n\n[monitor."db"]\n')
    new = load(tmp_path, '\n[monitor."httpd"]\ninterval = 5\n\n[monitor."192.168.1.118"]\n')
    plan = plan_reload(old, new)
    assert plan.restart_needed == ()
    assert plan.changes == ("monitor 192.168.1.118 added", "monitor db removed",
                            "monitor httpd changed")


def test_the_same_monitors_moved_to_other_lines_change_nothing(tmp_path: Path) -> None:
    old = load(tmp_path, '[monitor."httpd"]\ninterval = 2\n')
    assert plan_reload(old, load(tmp_path, '\n\n[monitor."httpd"]\ninterval = 2\n')).changes == ()
    assert plan_reload(old, load(tmp_path, None)).changes == ("monitor httpd removed",)
