"""A real Prometheus server scrapes the seed's two nodes and sees a death and its failover.

The seed's three files unchanged on each node, plus a hapulse.toml `[metrics]`
on the node's LAN address. Debian's `prometheus` runs in the client host (its
own TSDB in the lab's directory, listening on the client's LAN address,
scraping every second, the shipped alert rules loaded); the test asks its HTTP
API (`/api/v1/query`, `/api/v1/query_range`) with curl from inside the client
host. f801 is frozen past warntime (a late heartbeat), then killed: f802's view,
as Prometheus stores it, shows f801 going from up to dead, the group's owner
moving to f802 and one failover with its duration; the shipped rules' node-dead
alert pending.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from lab_helpers import daemon_pid

from hapulse.lab import Host, Lab, wait_for
from hapulse.lab.nodes import VIP, HapulseNode, seed_files, served_by, web_node

pytestmark = pytest.mark.netns

PROMETHEUS = shutil.which("prometheus")
RULES = Path(__file__).resolve().parents[2] / "packaging" / "prometheus" / "hapulse.rules.yml"
LAN = {"f801": "192.168.1.110", "f802": "192.168.1.111"}
PROM_ADDRESS = "192.168.1.50:9090"
DEADTIME = 30.0  # the seed's
WARNTIME = 10.0
SCRAPE = 1.0


def node_with_metrics(lab: Lab, name: str) -> HapulseNode:
    files = seed_files(name)
    files["hapulse.toml"] = f'[metrics]\naddress = "{LAN[name]}"\nport = 9694\n'
    return web_node(lab.hosts[name], files)


def start_prometheus(host: Host) -> subprocess.Popen[Any]:
    conf = host.dir / "prometheus"
    conf.mkdir()
    shutil.copy(RULES, conf / "hapulse.rules.yml")
    targets = "\n".join(f'      - targets: ["{LAN[n]}:9694"]\n        labels:\n'
                        f"          observer: {n}" for n in LAN)
    (conf / "prometheus.yml").write_text(
        f"global:\n  scrape_interval: {SCRAPE:g}s\n  scrape_timeout: 900ms\n"
        f"  evaluation_interval: 1s\nrule_files:\n  - hapulse.rules.yml\n"
        f"scrape_configs:\n  - job_name: hapulse\n    static_configs:\n{targets}\n")
    log = open(host.dir / "prometheus.log", "w")  # noqa: SIM115 - handed to the child
    proc = host.popen([str(PROMETHEUS), f"--config.file={conf / 'prometheus.yml'}",
                       f"--storage.tsdb.path={conf / 'data'}",
                       f"--web.listen-address={PROM_ADDRESS}"],
                      stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


class Api:
    """Prometheus's HTTP API, asked with curl inside the client host."""

    def __init__(self, host: Host) -> None:
        self.host = host

    def get(self, path: str, **params: str) -> Any:
        argv = ["curl", "-s", "--max-time", "3", "-G", f"http://{PROM_ADDRESS}{path}"]
        for k, v in params.items():
            argv += ["--data-urlencode", f"{k}={v}"]
        r = self.host.run(argv, timeout=10)
        if r.returncode != 0 or not r.stdout:
            return None
        answer = json.loads(r.stdout)
        return answer["data"] if answer.get("status") == "success" else None

    def query(self, expr: str) -> dict[tuple[tuple[str, str], ...], float]:
        """An instant vector: labels (sorted, __name__ aside) -> value."""
        data = self.get("/api/v1/query", query=expr)
        if data is None:
            return {}
        return {tuple(sorted((k, v) for k, v in r["metric"].items() if k != "__name__")):
                float(r["value"][1]) for r in data["result"]}

    def value(self, expr: str) -> float | None:
        """The one value of `expr`, None while it has none (or more than one)."""
        got = self.query(expr)
        return next(iter(got.values())) if len(got) == 1 else None

    def series(self, expr: str, start: float, end: float) -> list[float]:
        """The values of one series over [start, end] (Unix time), one a second."""
        data = self.get("/api/v1/query_range", query=expr, start=f"{start:.3f}",
                        end=f"{end:.3f}", step="1")
        if not data or len(data["result"]) != 1:
            return []
        return [float(v) for _, v in data["result"][0]["values"]]


def changes(values: list[float]) -> list[float]:
    """The values with repeats collapsed: [1, 1, 0, 0] -> [1, 0]."""
    return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]


@pytest.mark.skipif(PROMETHEUS is None, reason="needs Debian's prometheus "
                                               "(apt-get install prometheus)")
def test_prometheus_sees_the_death_and_the_failover(seed: Lab) -> None:
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    client = seed.hosts["client"]
    a, b = node_with_metrics(seed, "f801"), node_with_metrics(seed, "f802")
    prom = start_prometheus(client)
    try:
        a.start()
        b.start()
        api = Api(client)
        f801_up = 'hapulse_node_up{observer="f802",node="f801"}'
        owner = f'hapulse_group_owner{{group="{VIP}"}} == 1'
        wait_for(lambda: served_by(client) == "f801", 60, interval=0.2,
                 what="f801 serves the VIP")
        wait_for(lambda: api.value(f801_up) == 1, 30, interval=0.5,
                 what="Prometheus: f802 sees f801 up")
        wait_for(lambda: set(api.query(owner)) == {
            (("group", VIP), ("instance", f"{LAN[o]}:9694"), ("job", "hapulse"),
             ("node", "f801"), ("observer", o)) for o in LAN}, 15, interval=0.5,
            what="Prometheus: both nodes see f801 owning the group")
        assert api.value('hapulse_failovers_total{observer="f802"}') == 0
        assert (api.value('hapulse_heartbeat_interval_seconds_count'
                          '{observer="f802",node="f801"}') or 0) > 0
        up_since = time.time()

        # a freeze past warntime, short of deadtime: one late heartbeat in f802's view
        pid = daemon_pid(a)
        os.kill(pid, signal.SIGSTOP)
        try:
            wait_for(lambda: "Late heartbeat: Node f801" in b.log_text(), WARNTIME + 5,
                     interval=0.2, what="f802's late heartbeat warning")
        finally:
            os.kill(pid, signal.SIGCONT)
        wait_for(lambda: api.value('hapulse_late_heartbeats_total'
                                   '{observer="f802",node="f801"}') == 1, 10, interval=0.5,
                 what="Prometheus: one late heartbeat from f801")
        p99 = api.value('histogram_quantile(1, hapulse_heartbeat_interval_seconds_bucket'
                        '{observer="f802",node="f801"})')
        assert p99 is not None and p99 > WARNTIME  # the freeze is in the histogram

        # pull the power on f801
        seed.hosts["f801"].kill_all()
        killed = time.time()
        wait_for(lambda: api.value(f801_up) == 0, DEADTIME + 10, interval=0.5,
                 what="Prometheus: f802 sees f801 dead")
        seen_dead = time.time() - killed
        wait_for(lambda: api.value('hapulse_failovers_total{observer="f802"}') == 1, 20,
                 interval=0.5, what="Prometheus: one failover on f802")
        seen_failover = time.time() - killed
        assert set(api.query(owner)) >= {
            (("group", VIP), ("instance", f"{LAN['f802']}:9694"), ("job", "hapulse"),
             ("node", "f802"), ("observer", "f802"))}
        duration = api.value('hapulse_failover_duration_seconds_sum{observer="f802"}')
        assert duration is not None and 0 < duration < 10
        assert api.value('hapulse_node_deaths_total{observer="f802",node="f801"}') == 1
        assert api.value('up{observer="f801"}') == 0  # its exporter died with it
        wait_for(lambda: served_by(client) == "f802", 5, interval=0.2, what="f802 serves")
        # the series as stored: f801 up, then dead, once; f801's ownership 1, then 0
        # (the range's last step may fall just before the latest scrape: asked until it has)
        f801_owns = f'hapulse_group_owner{{observer="f802",node="f801",group="{VIP}"}}'
        wait_for(lambda: changes(api.series(f801_up, up_since, time.time())) == [1, 0], 5,
                 interval=0.5, what="Prometheus's stored f801 up: 1, then 0")
        wait_for(lambda: changes(api.series(f801_owns, up_since, time.time())) == [1, 0], 5,
                 interval=0.5, what="Prometheus's stored owner f801: 1, then 0")
        # the shipped rules run on it: the node-dead alert is pending (for: 30s)
        alerts = wait_for(lambda: api.query('ALERTS{alertname="HapulseNodeDead"}'), 10,
                          interval=0.5, what="the HapulseNodeDead alert")
        assert all(("node", "f801") in k for k in alerts), alerts
        print(f"\nPrometheus showed f801 dead {seen_dead:.1f} s after the kill (deadtime "
              f"{DEADTIME:g} s), the failover {seen_failover:.1f} s after; failover "
              f"duration {duration:.3f} s")
    finally:
        client.kill(prom, signal.SIGTERM)
