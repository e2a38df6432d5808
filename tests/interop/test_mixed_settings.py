"""hapulse.toml beside Heartbeat's files in a mixed cluster (issue 16).

Everything beyond Heartbeat is opt-in in one hapulse-only file, so a rolling
migration can ship the same /etc/ha.d to every node: the seed's three files
unchanged plus one hapulse.toml (metrics, a monitor of httpd, a notify hook).
Heartbeat 3.0.6 starts from that directory and forms the cluster with a hapulse
node, `hapulse check` accepts the directory on both nodes, and the hapulse node
uses all three: its /metrics shows the Heartbeat peer up and the group's owner,
its monitor of httpd runs against the group when it holds it, and its hook
records the peer's death.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from factories import lab_prefix

from hapulse.lab import Lab, seed_lab, wait_for
from hapulse.lab.ha_d import with_timers
from hapulse.lab.heartbeat import HeartbeatNode
from hapulse.lab.nodes import HAPULSE, VIP, install_httpd, seed_files, served_by, web_node

pytestmark = [pytest.mark.netns, pytest.mark.interop]

SETTINGS = """\
[metrics]
address = "127.0.0.1"
port = 9694

[monitor."httpd"]
kind = "lsb"
interval = "1s"
timeout = "5s"

[hooks]
notify = "{hook}"
timeout = "5s"
"""


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    built = seed_lab(lab_prefix(request.node.name))  # Heartbeat on f801: f802's LAN eth1
    try:
        yield built
    finally:
        built.close()
        shutil.rmtree(built.workdir, ignore_errors=True)


def test_heartbeat_starts_beside_hapulse_toml_and_hapulse_uses_it(lab: Lab) -> None:
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    hook_log = lab.hosts["f802"].dir / "hook.jsonl"
    hook = lab.hosts["f802"].dir / "notify.sh"
    hook.write_text("#!/bin/sh\nprintf '%s %s %s %s\\n' \"$1\" \"$2\" \"$3\" \"$4\" >> "
                    f"{hook_log}\n")
    hook.chmod(0o755)
    settings = SETTINGS.format(hook=hook)

    f801 = seed_files("f801")
    f801["ha.cf"] = with_timers(f801["ha.cf"])  # the lab's short timers: 200ms/1/2/4
    hb = HeartbeatNode(lab.hosts["f801"], ha_cf=f801["ha.cf"] + "logfile /var/log/ha-log\n",
                       authkeys=f801["authkeys"], haresources=f801["haresources"])
    (hb.ha_d / "hapulse.toml").write_text(settings)  # the same directory on both nodes
    install_httpd(hb.ha_d / "resource.d")
    f802 = seed_files("f802")
    f802["ha.cf"] = with_timers(f802["ha.cf"])
    f802["hapulse.toml"] = settings
    hp = web_node(lab.hosts["f802"], f802)

    for name, ha_d in (("f801", hb.ha_d), ("f802", hp.confdir)):  # hapulse check, both nodes
        r = lab.hosts[name].run([HAPULSE, "check", "-c", str(ha_d), "--node", name])
        assert r.returncode == 0, r.stderr
        assert "error" not in r.stderr, r.stderr

    hp.start()
    hb.start()
    wait_for(lambda: served_by(lab.hosts["client"]) == "f801", 40, interval=0.2,
             what="Heartbeat f801 serves")

    def metrics() -> str:
        r = lab.hosts["f802"].run(["curl", "-s", "-m", "2", "http://127.0.0.1:9694/metrics"])
        return r.stdout

    wait_for(lambda: 'hapulse_node_up{node="f801"} 1.0' in metrics(), 20, interval=0.5,
             what="hapulse's /metrics: the Heartbeat peer up")
    # not held here (Heartbeat under legacy announces no holdings, so no owner is named)
    assert 'hapulse_group_state{group="192.168.1.118",state="stopped"} 1.0' in metrics()

    lab.hosts["f801"].kill_all()  # Heartbeat loses power: hapulse takes the site over
    lab.hosts["f801"].run(["ip", "addr", "flush", "dev", "eth0", "to", f"{VIP}/32"])
    wait_for(lambda: served_by(lab.hosts["client"]) == "f802", 20, interval=0.2,
             what="f802 serves after f801's death")
    wait_for(lambda: 'hapulse_failovers_total{group="192.168.1.118"} 1.0' in metrics()
             and 'hapulse_group_state{group="192.168.1.118",state="running"} 1.0' in metrics(),
             10, interval=0.5, what="the failover in /metrics")
    wait_for(lambda: hook_log.exists() and "node f801 dead" in hook_log.read_text(), 10,
             interval=0.2, what="the hook told of f801's death")

    def monitor_ok() -> bool:
        r = lab.hosts["f802"].run([HAPULSE, "status", "--json", "--run-dir", str(hp.run_dir)])
        st = json.loads(r.stdout) if r.returncode == 0 else {}
        return any(m.get("resource") == "httpd" and m.get("last") == "ok"
                   for m in st.get("monitors", []))

    wait_for(monitor_ok, 10, interval=0.3, what="the monitor of httpd: ok on f802")
    hb_log = "\n".join(p.read_text(errors="replace") for p in Path(hb.log_dir).rglob("*")
                       if p.is_file())
    assert "Configuration validated. Starting heartbeat 3.0.6" in hb_log
