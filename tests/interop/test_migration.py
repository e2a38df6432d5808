"""docs/migration.md, run in order on a lab cluster: two Heartbeat 3.0.6 nodes become two
hapulse nodes, one node at a time, with the seed's files (plus `auto_failback on`, which
Heartbeat's hb_standby needs) and the client served throughout. Also: a key written with
extra words (Heartbeat signs with the first one), and a standby a Heartbeat peer refuses.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hapulse.lab import Lab, wait_for
from hapulse.lab.ha_d import with_timers
from hapulse.lab.heartbeat import HEARTBEAT, HeartbeatNode
from hapulse.lab.nodes import HAPULSE, HapulseNode, install_httpd, seed_files, web_node
from hapulse.lab.nodes import served_by as node_serving
from hapulse.lab.poller import start_poller

pytestmark = [pytest.mark.netns, pytest.mark.interop]

MAX_GAP = 5.0  # seconds the client may wait over the whole migration (a group's restart)


def fast(hacf: str, failback: str = "on") -> str:
    return with_timers(hacf) + (f"auto_failback {failback}\n" if failback != "seed" else "")


def heartbeat(lab: Lab, name: str, files: dict[str, str]) -> HeartbeatNode:
    hb = HeartbeatNode(lab.hosts[name], ha_cf=files["ha.cf"], authkeys=files["authkeys"],
                       haresources=files["haresources"])
    install_httpd(hb.ha_d / "resource.d")
    return hb


def stop_heartbeat(hb: HeartbeatNode) -> None:
    """`service heartbeat stop`: Heartbeat's graceful stop (`heartbeat -k`)."""
    r = hb.host.run([HEARTBEAT, "-k"], mounts=hb.mounts, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    wait_for(lambda: hb.cl_status("hbstatus").returncode != 0, 30, interval=0.3,
             what=f"Heartbeat on {hb.host.name} to stop")


def served_by(lab: Lab) -> str | None:
    return node_serving(lab.hosts["client"])



def nodestatus(node: HeartbeatNode | HapulseNode, name: str) -> str | None:
    if isinstance(node, HeartbeatNode):
        return node.cl_status("nodestatus", name).stdout.strip()
    return node.node_status(name)


def both_active(a: HeartbeatNode | HapulseNode, b: HeartbeatNode | HapulseNode) -> Callable[
        [], bool]:
    return lambda: nodestatus(a, b.host.name) == "active" and \
        nodestatus(b, a.host.name) == "active"


def test_the_migration_guide_in_order_keeps_the_site_served(seed: Lab) -> None:
    files = {n: seed_files(n) for n in ("f801", "f802")}
    for f in files.values():
        f["ha.cf"] = fast(f["ha.cf"])
    hb1, hb2 = heartbeat(seed, "f801", files["f801"]), heartbeat(seed, "f802", files["f802"])
    hb1.start()
    hb2.start()
    wait_for(lambda: served_by(seed) == "f801", 60, interval=0.3, what="Heartbeat f801 serves")
    poller = start_poller(seed.hosts["client"], limit=600)
    try:
        wait_for(lambda: poller.last() is not None, 10, interval=0.1, what="the poller")
        t0 = time.monotonic()
        # f802 first: it holds nothing (steps 1-6)
        hp2 = web_node(seed.hosts["f802"], files["f802"])
        check = hp2.host.run([HAPULSE, "check", "-c", str(hp2.confdir), "--node", "f802"])
        assert check.returncode == 0, check.stdout + check.stderr
        stop_heartbeat(hb2)
        hp2.start()
        wait_for(both_active(hb1, hp2), 30, interval=0.3, what="Heartbeat f801 and hapulse f802")
        # f801 next: it holds the site; hb_standby hands it to hapulse f802 (step 3)
        r = hb1.host.run(["/usr/share/heartbeat/hb_standby"], mounts=hb1.mounts)
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: served_by(seed) == "f802", 30, interval=0.2,
                 what="f802 serves after f801's hb_standby")
        stop_heartbeat(hb1)
        hp1 = web_node(seed.hosts["f801"], files["f801"])
        hp1.start()
        wait_for(both_active(hp1, hp2), 30, interval=0.3, what="hapulse on both nodes")
        r = hp1.host.run([HAPULSE, "takeover", "--run-dir", str(hp1.run_dir)])  # step 7
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: served_by(seed) == "f801", 30, interval=0.2,
                 what="f801 serves again after `hapulse takeover`")
        end = time.monotonic()
        wait_for(lambda: (poller.last() or (0.0, ""))[0] > end, 10, interval=0.1,
                 what="the poller's last answers")
        gap = poller.longest_wait(t0)
        print(f"longest client gap over the whole migration: {gap:.3f} s")
        assert gap <= MAX_GAP, f"the client waited {gap:.2f} s"
    finally:
        seed.hosts["client"].kill(poller.proc)


def test_a_key_written_with_extra_words_signs_with_its_first_word(seed: Lab) -> None:
    """`1 sha1 correct horse battery`: Heartbeat signs with `correct`; so does hapulse."""
    files = {n: seed_files(n) for n in ("f801", "f802")}
    for f in files.values():
        f["ha.cf"] = fast(f["ha.cf"], failback="seed")
        f["authkeys"] = "auth 1\n1 sha1 correct horse battery staple\n"
    hb = heartbeat(seed, "f801", files["f801"])
    hp = web_node(seed.hosts["f802"], files["f802"])
    hb.start()
    hp.start()
    wait_for(both_active(hb, hp), 60, interval=0.3, what="both active with the worded key")
    st = hp.status()
    assert st is not None and st["counters"]["rejected"] == 0


def test_a_standby_heartbeat_refuses_leaves_the_site_served(seed: Lab) -> None:
    """Under `auto_failback legacy` (the seed's default) Heartbeat refuses standby: hapulse's
    request is cancelled after 10 s, nothing was released, the site never stopped."""
    files = {n: seed_files(n) for n in ("f801", "f802")}
    for f in files.values():
        f["ha.cf"] = fast(f["ha.cf"], failback="seed")
    hp = web_node(seed.hosts["f801"], files["f801"])
    hb = heartbeat(seed, "f802", files["f802"])
    hp.start()
    hb.start()
    wait_for(lambda: served_by(seed) == "f801" and both_active(hp, hb)(), 60, interval=0.3,
             what="hapulse f801 serves beside Heartbeat f802")
    poller = start_poller(seed.hosts["client"], limit=120)
    try:
        wait_for(lambda: poller.last() is not None, 10, interval=0.1, what="the poller")
        t0 = time.monotonic()
        r = hp.host.run([HAPULSE, "standby", "--run-dir", str(hp.run_dir)])
        assert r.returncode == 0, r.stdout + r.stderr
        wait_for(lambda: "No reply to standby request" in hp.log_text(), 20, interval=0.3,
                 what="hapulse cancelling the standby")
        end = time.monotonic()
        wait_for(lambda: (poller.last() or (0.0, ""))[0] > end, 10, interval=0.1,
                 what="the poller's last answers")
        assert poller.longest_wait(t0) <= 1.0
        assert served_by(seed) == "f801"
    finally:
        seed.hosts["client"].kill(poller.proc)
