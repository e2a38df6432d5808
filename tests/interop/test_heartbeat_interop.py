"""hapulse and Debian's Heartbeat 3.0.6 in one cluster, over ucast, with the seed's files unchanged.

Each side must see the other active within initdead, notice its death
within deadtime + 2 keepalives, see it again after a restart, and report
the same link state.
"""

from __future__ import annotations

import time

import pytest

from hapulse.lab import Lab, wait_for
from hapulse.lab.heartbeat import HeartbeatNode
from hapulse.lab.nodes import HAPULSE, HapulseNode, seed_files

pytestmark = [pytest.mark.netns, pytest.mark.interop]

INITDEAD, DEADTIME, KEEPALIVE = 120.0, 30.0, 1.0
IFACE = {"f801": "eth1", "f802": "eth2"}  # each node's heartbeat interface (the seed's ucast)


@pytest.mark.parametrize("hb_name,hp_name", [("f801", "f802"), ("f802", "f801")])
def test_mixed_cluster_membership(seed: Lab, hb_name: str, hp_name: str) -> None:
    hb = HeartbeatNode(seed.hosts[hb_name], **_kw(seed_files(hb_name)))
    hp = HapulseNode(seed.hosts[hp_name], seed_files(hp_name))
    hb.start()
    hp.start()

    def hb_sees(status: str) -> bool:
        r = hb.cl_status("nodestatus", hp_name)
        return r.stdout.strip() == status

    wait_for(lambda: hb_sees("active") and hp.node_status(hb_name) == "active", INITDEAD,
             interval=0.5, what="both sides active")
    # link state, as each side names it: the local interface towards the peer
    r = hb.cl_status("hblinkstatus", hp_name, IFACE[hb_name])
    assert (r.stdout.strip(), r.returncode) == ("up", 0)
    assert hp.node(hb_name)["links"] == {IFACE[hp_name]: "up"}  # type: ignore[index]
    listed = hb.cl_status("listhblinks", hp_name).stdout.split()
    assert listed == [IFACE[hb_name]]

    # `hapulse cl_status` answers as Heartbeat's cl_status does, for the same cluster
    def hp_cl(*args: str) -> tuple[str, int]:
        r = hp.host.run([HAPULSE, "cl_status", "--run-dir", str(hp.run_dir), *args])
        return r.stdout.strip(), r.returncode

    def hb_cl(*args: str) -> tuple[str, int]:
        r = hb.cl_status(*args)
        return r.stdout.strip(), r.returncode

    assert sorted(hp_cl("listnodes")[0].split()) == sorted(hb_cl("listnodes")[0].split())
    for n in ("f801", "f802"):
        assert hp_cl("nodestatus", n) == hb_cl("nodestatus", n) == ("active", 0)
        assert hp_cl("nodetype", n) == hb_cl("nodetype", n)
    assert hp_cl("hbstatus")[1] == hb_cl("hbstatus")[1] == 0
    assert hp_cl("hblinkstatus", hb_name, IFACE[hp_name]) == ("up", 0)
    assert hp_cl("nodestatus", "nosuchnode")[1] == hb_cl("nodestatus", "nosuchnode")[1]

    # Heartbeat dies: hapulse notices within deadtime + 2 keepalives
    gen = hp.node(hb_name)["generation"]  # type: ignore[index]
    hb.kill()
    killed = time.monotonic()
    wait_for(lambda: hp.node_status(hb_name) == "dead", DEADTIME + 2 * KEEPALIVE + 3,
             interval=0.2, what="hapulse sees Heartbeat dead")
    assert time.monotonic() - killed <= DEADTIME + 2 * KEEPALIVE + 0.5
    assert hp.node(hb_name)["links"] == {IFACE[hp_name]: "dead"}  # type: ignore[index]

    # restarted, it is seen again, with a new generation
    hb.start()
    wait_for(lambda: hp.node_status(hb_name) == "active" and hb_sees("active"), INITDEAD,
             interval=0.5, what="Heartbeat back")
    assert hp.node(hb_name)["generation"] != gen  # type: ignore[index]

    # hapulse dies: Heartbeat notices within deadtime + 2 keepalives
    assert hp.proc is not None
    seed.hosts[hp_name].kill(hp.proc)
    killed = time.monotonic()
    wait_for(lambda: hb_sees("dead"), DEADTIME + 2 * KEEPALIVE + 3, interval=0.2,
             what="Heartbeat sees hapulse dead")
    assert time.monotonic() - killed <= DEADTIME + 2 * KEEPALIVE + 1.0
    # Heartbeat checks its links on their own timer: the link follows within a keepalive
    wait_for(lambda: hb.cl_status("hblinkstatus", hp_name, IFACE[hb_name]).stdout.strip()
             == "dead", 2 * KEEPALIVE + 1, interval=0.1, what="Heartbeat's link to hapulse dead")


def _kw(files: dict[str, str]) -> dict[str, str]:
    return {"ha_cf": files["ha.cf"], "authkeys": files["authkeys"],
            "haresources": files["haresources"]}
