"""Real configurations exported: the CIB passes crm_verify, the crm form loads with crmsh,
corosync.conf names every node on every link
(`corosync -t` needs to run on a node: the netns test starts Corosync with it).

The seed's files and every corpus case (tests/corpus/cases: real ha.cf +
haresources from public repositories) that Heartbeat 3.0.6 starts and that
has resource groups. Needs Debian's pacemaker, crmsh and corosync packages
(scripts/setup.sh installs them); skipped without them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hapulse.config import (
    Config,
    load_config_or_raise,
    parse_authkeys,
    parse_hacf,
    parse_haresources,
)
from hapulse.export import (
    build_cluster,
    build_totem,
    render_cib,
    render_corosync,
    render_crm,
)
from hapulse.export.links import CONSENSUS, MIN_TOKEN_MS
from hapulse.lab.ha_d import write_ha_d
from hapulse.lab.nodes import seed_files

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
TOOLS = ("crm_verify", "crm", "cibadmin")
pytestmark = pytest.mark.skipif(any(shutil.which(t) is None for t in TOOLS),
                                reason="needs pacemaker, crmsh and corosync (scripts/setup.sh)")


def corpus_config(case: Path) -> Config | None:
    """The case as hapulse reads it on the node Heartbeat was started as, or None."""
    oracle = json.loads((case / "heartbeat.json").read_text())
    if not oracle["starts"]:
        return None
    hacf, _ = parse_hacf((case / "ha.cf").read_text(errors="replace"), "ha.cf",
                         resolve=lambda host: "10.250.0.1")
    keys = case / "authkeys" if (case / "authkeys").exists() else CORPUS / "authkeys"
    authkeys = parse_authkeys(keys.read_text(), "authkeys", 0o600)[0]
    groups, _ = parse_haresources((case / "haresources").read_text(errors="replace"),
                                  "haresources", hacf.nodes)
    if not groups or authkeys is None:
        return None
    return Config(case, str(oracle["local_node"]), hacf, authkeys, groups)


CASES = [c for c in sorted((CORPUS / "cases").iterdir()) if (c / "heartbeat.json").exists()]
CONFIGS = {c.name: cfg for c in CASES if (cfg := corpus_config(c)) is not None}


@pytest.fixture(scope="module")
def seed_config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    confdir = write_ha_d(tmp_path_factory.mktemp("seed") / "ha.d", seed_files("f801"))
    return load_config_or_raise(confdir, "f801")


def all_configs(seed: Config) -> dict[str, Config]:
    return {"seed-f801": seed, **CONFIGS}


def test_enough_real_configurations() -> None:
    assert len(CONFIGS) >= 10, sorted(CONFIGS)


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})}, check=False)


@pytest.mark.parametrize("name", ["seed-f801", *CONFIGS])
def test_cib_passes_crm_verify(name: str, seed_config: Config, tmp_path: Path) -> None:
    cluster = build_cluster(all_configs(seed_config)[name])
    cib = tmp_path / "cib.xml"
    cib.write_text(render_cib(cluster))
    r = run(["crm_verify", "--xml-file", str(cib)])
    assert r.returncode == 0, r.stderr + r.stdout
    assert "error" not in r.stderr.lower(), r.stderr


@pytest.mark.parametrize("name", ["seed-f801", *CONFIGS])
def test_crm_form_loads_into_a_cib(name: str, seed_config: Config, tmp_path: Path) -> None:
    cluster = build_cluster(all_configs(seed_config)[name])
    crm = tmp_path / "config.crm"
    crm.write_text(render_crm(cluster))
    target = tmp_path / "loaded.xml"
    target.write_text(run(["cibadmin", "--empty"]).stdout)
    # -F: the agents (lsb:httpd ...) are on the cluster's nodes, not on this machine
    r = run(["crm", "-F", "configure", "load", "update", str(crm)], {"CIB_file": str(target)})
    assert r.returncode == 0, r.stderr + r.stdout
    loaded = ET.parse(target).getroot()
    groups = {g.get("id"): [p.get("id") for p in g.findall("primitive")]
              for g in loaded.iter("group")}
    assert groups == {g.id: [p.id for p in g.members] for g in cluster.groups}
    located = {c.get("id") for c in loaded.iter("rsc_location")}
    assert located == {p.id for p in cluster.preferences} | {r.id for r in cluster.rules}


def sections(text: str) -> list[tuple[str, dict[str, str]]]:
    """corosync.conf's sections as (dotted path, its key: value lines), in order."""
    out: list[tuple[str, dict[str, str]]] = []
    stack: list[tuple[str, dict[str, str]]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("{"):
            stack.append((".".join([*(n for n, _ in stack), line[:-1].strip()]), {}))
        elif line == "}":
            out.append(stack.pop())
        else:
            key, _, value = line.partition(":")
            stack[-1][1][key.strip()] = value.strip()
    assert not stack, "unbalanced braces"
    return out


@pytest.mark.parametrize("name", ["seed-f801", *CONFIGS])
def test_corosync_conf_has_every_node_on_every_link(name: str, seed_config: Config) -> None:
    config = all_configs(seed_config)[name]
    totem = build_totem(config)
    parsed = sections(render_corosync(totem))
    nodes = [kv for path, kv in parsed if path == "nodelist.node"]
    assert [n["name"] for n in nodes] == list(config.hacf.nodes)
    assert [n["nodeid"] for n in nodes] == [str(i) for i in range(1, len(nodes) + 1)]
    links = [kv["linknumber"] for path, kv in parsed if path == "totem.interface"]
    assert links == [str(i) for i in range(len(totem.links))] and links
    for n in nodes:
        assert {k for k in n if k.endswith("_addr")} == {f"ring{i}_addr" for i in links}
    totem_kv = dict(parsed)["totem"]
    assert totem_kv["transport"] == "knet"
    token = max(round(config.hacf.deadtime * 1000 / (1 + CONSENSUS)), MIN_TOKEN_MS)
    assert totem_kv["token"] == str(token)
    assert (dict(parsed)["quorum"].get("two_node") == "1") == (len(nodes) == 2)
