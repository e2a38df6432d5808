"""Standby and takeover across the two daemons, with the seed's files and
`auto_failback on` (Heartbeat runs its standby exchange only with nice_failback):
`hb_standby` on a Heartbeat owner hands the site to hapulse, `hapulse standby` on a
hapulse owner hands it to Heartbeat, and `hb_takeover` / `hapulse takeover` bring it
back, each way; the client is served throughout, with a gap no longer than the
group's restart.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator

import pytest
from factories import lab_prefix

from hapulse.lab import Lab, seed_lab, wait_for
from hapulse.lab.ha_d import with_timers
from hapulse.lab.heartbeat import HeartbeatNode
from hapulse.lab.nodes import HAPULSE, HapulseNode, install_httpd, seed_files, web_node
from hapulse.lab.nodes import served_by as node_serving
from hapulse.lab.poller import Poller, start_poller

pytestmark = [pytest.mark.netns, pytest.mark.interop]

MAX_GAP = 5.0  # seconds without an answer: the group's stop + start, with margin


def fast(hacf: str) -> str:
    return with_timers(hacf) + "auto_failback on\nlogfile /var/log/ha-log\n"


@pytest.fixture(params=["heartbeat-f801", "hapulse-f801"])
def mixed(request: pytest.FixtureRequest) -> Iterator[tuple[Lab, object, object]]:
    """(lab, f801's daemon, f802's daemon): one Heartbeat, one hapulse."""
    heartbeat_first = request.param == "heartbeat-f801"
    # Heartbeat on f802 needs its LAN named eth0 (resource-agents' IPaddr: see
    # tests/interop/test_mixed_failover.py)
    lab = seed_lab(lab_prefix(request.node.name),
                   f802_lan="eth1" if heartbeat_first else "eth0")
    try:
        nodes: list[object] = []
        for name in ("f801", "f802"):
            f = seed_files(name)
            f["ha.cf"] = fast(f["ha.cf"])
            if (name == "f801") == heartbeat_first:
                hb = HeartbeatNode(lab.hosts[name], ha_cf=f["ha.cf"], authkeys=f["authkeys"],
                                   haresources=f["haresources"])
                install_httpd(hb.ha_d / "resource.d")
                nodes.append(hb)
            else:
                nodes.append(web_node(lab.hosts[name], f))
        for n in nodes:
            n.start()  # type: ignore[attr-defined]
        yield lab, nodes[0], nodes[1]
    finally:
        lab.close()
        shutil.rmtree(lab.workdir, ignore_errors=True)


def logs(*nodes: object) -> str:
    """Both daemons' logs' ends, for a failure message."""
    out = []
    for n in nodes:
        if isinstance(n, HeartbeatNode):
            path = n.log_dir / "ha-log"
            text = path.read_text(errors="replace") if path.exists() else ""
            out.append(f"--- Heartbeat on {n.host.name}:\n" + "\n".join(text.splitlines()[-40:]))
        elif isinstance(n, HapulseNode):
            out.append(f"--- hapulse on {n.host.name}:\n"
                       + "\n".join(n.log_text().splitlines()[-40:]))
    return "\n".join(out)


def served_by(lab: Lab) -> str | None:
    return node_serving(lab.hosts["client"])


def command(node: object, verb: str, which: str = "all") -> None:
    if isinstance(node, HeartbeatNode):
        r = node.host.run([f"/usr/share/heartbeat/hb_{verb}", which], mounts=node.mounts)
    else:
        assert isinstance(node, HapulseNode)
        r = node.host.run([HAPULSE, verb, "--run-dir", str(node.run_dir), which])
    assert r.returncode == 0, r.stdout + r.stderr



def test_standby_and_takeover_each_way(mixed: tuple[Lab, object, object]) -> None:
    lab, f801, f802 = mixed
    wait_for(lambda: served_by(lab) == "f801", 60, interval=0.3, what="f801 serves")
    poller = start_poller(lab.hosts["client"], limit=300)
    try:
        steps(lab, f801, f802, poller)
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n{logs(f801, f802)}") from exc
    finally:
        lab.hosts["client"].kill(poller.proc)


def steps(lab: Lab, f801: object, f802: object, poller: Poller) -> None:
    if True:
        wait_for(lambda: poller.last() is not None, 10, interval=0.1, what="the poller")
        t0 = time.monotonic()
        command(f801, "standby")  # the owner goes standby: the other daemon takes the site
        wait_for(lambda: served_by(lab) == "f802", 30, interval=0.2,
                 what="f802 serves after f801's standby")
        command(f801, "takeover")  # and takes it back
        wait_for(lambda: served_by(lab) == "f801", 30, interval=0.2,
                 what="f801 serves after its takeover")
        command(f802, "takeover")  # now from the other side
        wait_for(lambda: served_by(lab) == "f802", 30, interval=0.2,
                 what="f802 serves after its takeover")
        command(f802, "standby")
        wait_for(lambda: served_by(lab) == "f801", 30, interval=0.2,
                 what="f801 serves after f802's standby")
        end = time.monotonic()
        wait_for(lambda: (poller.last() or (0.0, ""))[0] > end, 10, interval=0.1,
                 what="the poller's last answers")
        gap = poller.longest_wait(t0)
        print(f"longest client gap over the four hand-overs: {gap:.3f} s")
        assert gap <= MAX_GAP, f"the client waited {gap:.2f} s for an answer"
