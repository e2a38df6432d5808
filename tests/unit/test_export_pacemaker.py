"""Every construct of docs/pacemaker.md's mapping table, checked by XPath on the exported CIB.

Each test exports a small Heartbeat configuration (written as a node's
ha.d, read by load_config as the command does) and looks for exactly the
elements the table promises.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from factories import ha_cf, make_ha_d

from hapulse.config import load_config_or_raise
from hapulse.export import Cluster, Machine, build_cluster, render_cib, render_crm, render_pcs

NODES = ("f801", "f802")


def export(tmp_path: Path, haresources: str, *lines: str, auto_failback: str = "on",
           machine: Machine | None = None) -> tuple[Cluster, ET.Element]:
    hacf = ha_cf("ucast eth1 10.0.0.2", *lines, nodes=NODES,
                 extra=(f"auto_failback {auto_failback}",))
    config = load_config_or_raise(make_ha_d(tmp_path / "ha.d", hacf, haresources=haresources),
                                  "f801")
    cluster = build_cluster(config, machine)
    return cluster, ET.fromstring(render_cib(cluster).split("-->\n")[-1])


def one(root: ET.Element, xpath: str) -> ET.Element:
    found = root.findall(xpath)
    assert len(found) == 1, f"{xpath}: {len(found)} matches"
    return found[0]


def params(el: ET.Element) -> dict[str, str]:
    return {nv.get("name", ""): nv.get("value", "")
            for nv in el.findall("instance_attributes/nvpair")}


def test_each_line_a_group_in_order(tmp_path: Path) -> None:
    _, cib = export(tmp_path, "f801 192.168.1.118 httpd\nf802 10.0.0.9 mysql postfix\n")
    groups = cib.findall("configuration/resources/group")
    assert [[p.get("type") for p in g.findall("primitive")] for g in groups] == [
        ["IPaddr2", "httpd"], ["IPaddr2", "mysql", "postfix"]]
    assert groups[0].get("description", "").endswith("haresources:1")


def test_address_as_ipaddr2_with_every_field(tmp_path: Path) -> None:
    _, cib = export(tmp_path, "f801 IPaddr::10.0.30.15/24/eth0:10/10.0.30.255 IPaddr2::10.1.1.1\n")
    first, second = cib.findall(".//primitive[@type='IPaddr2'][@provider='heartbeat']")
    assert first.get("class") == "ocf"
    assert params(first) == {"ip": "10.0.30.15", "cidr_netmask": "24", "nic": "eth0",
                             "iflabel": "10", "broadcast": "10.0.30.255"}
    assert params(second) == {"ip": "10.1.1.1"}


def test_nic_chosen_by_subnet_as_hapulse_does(tmp_path: Path) -> None:
    same = Machine(local="f801", interfaces=(("eth0", "192.168.1.110", 24),),
                   nics=(("f802", "eth0"),))
    _, cib = export(tmp_path, "f801 192.168.1.118 httpd\n", machine=same)
    assert params(one(cib, ".//primitive[@type='IPaddr2']"))["nic"] == "eth0"
    differ = Machine(local="f801", interfaces=(("eth0", "192.168.1.110", 24),),
                     nics=(("f802", "eth1"),))
    cluster, cib = export(tmp_path, "f801 192.168.1.118 httpd\n", machine=differ)
    assert "nic" not in params(one(cib, ".//primitive[@type='IPaddr2']"))
    assert any("different interfaces" in n.text for n in cluster.notes)


def test_lsb_script(tmp_path: Path) -> None:
    _, cib = export(tmp_path, "f801 10.0.0.9 httpd\n")
    one(cib, ".//group/primitive[@class='lsb'][@type='httpd']")


def test_systemd_unit_when_no_init_script(tmp_path: Path) -> None:
    machine = Machine(init_scripts=frozenset({"httpd"}), units=frozenset({"nginx"}))
    _, cib = export(tmp_path, "f801 10.0.0.9 httpd nginx\n", machine=machine)
    one(cib, ".//group/primitive[@class='lsb'][@type='httpd']")
    one(cib, ".//group/primitive[@class='systemd'][@type='nginx']")


def test_resource_d_script_as_its_ocf_agent(tmp_path: Path) -> None:
    _, cib = export(tmp_path, "f801 Filesystem::/dev/drbd0::/srv::ext4::noatime Delay::10::0\n")
    fs = one(cib, ".//primitive[@class='ocf'][@provider='heartbeat'][@type='Filesystem']")
    assert params(fs) == {"device": "/dev/drbd0", "directory": "/srv", "fstype": "ext4",
                          "options": "noatime"}
    delay = one(cib, ".//primitive[@type='Delay']")
    assert params(delay) == {"startdelay": "10", "stopdelay": "0"}


def test_ocf_agent_as_itself(tmp_path: Path) -> None:
    _, cib = export(tmp_path, "f801 ocf:heartbeat:Dummy::state=/run/d.state\n")
    d = one(cib, ".//primitive[@class='ocf'][@provider='heartbeat'][@type='Dummy']")
    assert params(d) == {"state": "/run/d.state"}


@pytest.mark.parametrize(("auto_failback", "stickiness"), [("on", "0"), ("legacy", "0"),
                                                           ("off", "200")])
def test_auto_failback_as_stickiness_and_preference(tmp_path: Path, auto_failback: str,
                                                    stickiness: str) -> None:
    _, cib = export(tmp_path, "f802 10.0.0.9 httpd\n", auto_failback=auto_failback)
    gid = one(cib, ".//group").get("id")
    pref = one(cib, f"configuration/constraints/rsc_location[@rsc='{gid}'][@node='f802']")
    assert pref.get("score") == "100"
    nv = one(cib, "configuration/rsc_defaults/meta_attributes/"
             "nvpair[@name='resource-stickiness']")
    assert nv.get("value") == stickiness


def test_ping_nodes_as_clone_and_rule(tmp_path: Path) -> None:
    _, cib = export(tmp_path, "f801 10.0.0.9 httpd\n", "ping 10.0.0.254 10.0.0.253",
                    "ping_group uplink 10.9.0.1 10.9.0.2")
    ping = one(cib, "configuration/resources/clone/primitive[@provider='pacemaker']"
               "[@type='ping'][@id='ping']")
    assert params(ping)["host_list"] == "10.0.0.254 10.0.0.253"
    assert params(ping)["name"] == "pingd"
    group = one(cib, ".//primitive[@id='ping_uplink']")
    assert params(group) == {"host_list": "10.9.0.1 10.9.0.2", "multiplier": "1000",
                             "name": "pingd_uplink", "dampen": "5s"}
    gid = one(cib, ".//group").get("id")
    for attribute in ("pingd", "pingd_uplink"):
        rule = one(cib, f"configuration/constraints/rsc_location[@rsc='{gid}']"
                   f"[@id='{gid}_needs_{attribute}']/rule[@score='-INFINITY']")
        ops = {e.get("operation") for e in rule.findall(f"expression[@attribute='{attribute}']")}
        assert ops == {"not_defined", "lte"} and rule.get("boolean-op") == "or"


def test_stonith_host_as_fencing_resource(tmp_path: Path) -> None:
    cluster, cib = export(tmp_path, "f801 10.0.0.9 httpd\n",
                          "stonith_host f801 external/ssh f802", "stonith_host * baytech "
                          "10.0.0.3 admin secret", "stonith_host * wonderplug x")
    ssh = one(cib, "configuration/resources/primitive[@class='stonith']"
              "[@type='external/ssh']")
    assert params(ssh) == {"hostlist": "f802"}
    one(cib, f"configuration/constraints/rsc_location[@rsc='{ssh.get('id')}'][@node='f801']"
        "[@score='INFINITY']")
    bay = one(cib, "configuration/resources/primitive[@type='baytech']")
    assert params(bay) == {"ipaddr": "10.0.0.3", "login": "admin", "password": "secret"}
    one(cib, ".//nvpair[@name='stonith-enabled'][@value='true']")
    assert [n for n in cluster.gaps if "wonderplug" in n.text]


def test_no_fencing_and_quorum_properties(tmp_path: Path) -> None:
    _, cib = export(tmp_path, "f801 10.0.0.9 httpd\n")
    one(cib, "configuration/crm_config/cluster_property_set/nvpair[@name='stonith-enabled']"
        "[@value='false']")
    one(cib, "configuration/crm_config/cluster_property_set/nvpair[@name='no-quorum-policy']"
        "[@value='stop']")
    assert [n.get("uname") for n in cib.findall("configuration/nodes/node")] == list(NODES)


def test_gaps_are_listed_never_dropped(tmp_path: Path) -> None:
    cluster, cib = export(tmp_path, "f801 10.0.0.9 drbddisk::r0 IProute::10.0.0.1 httpd\n",
                          "respawn hacluster /usr/lib/heartbeat/dopd")
    texts = [n.text for n in cluster.gaps]
    assert any("drbddisk::r0" in t and "ocf:linbit:drbd" in t for t in texts)
    assert any("IProute::10.0.0.1" in t for t in texts)
    assert any("dopd" in t for t in texts)
    assert [p.get("type") for p in cib.findall(".//group/primitive")] == ["IPaddr2", "httpd"]
    for text in (render_cib(cluster), render_crm(cluster), render_pcs(cluster)):
        head = text.split("\n")[: len(cluster.notes) + 2]
        assert sum("gap:" in line for line in head) == len(texts), head


def test_shared_resource_is_a_gap(tmp_path: Path) -> None:
    cluster, cib = export(tmp_path, "f801 10.0.0.9 httpd\nf802 10.0.0.8 httpd\n")
    assert len(cib.findall(".//primitive[@type='httpd']")) == 2
    assert [n for n in cluster.gaps if "also in group" in n.text]
