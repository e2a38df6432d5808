"""hapulse reads every corpus case as Heartbeat 3.0.6 does (verdicts in heartbeat.json).

Each case under tests/corpus/cases is a real ha.cf + haresources from a public
repository (its SOURCE file says where); heartbeat.json is what Debian's
Heartbeat binary did with it (tests/corpus/heartbeat_verdict.py records it, as
root, in namespaces). Host names the case uses resolve here as they did for
the oracle, which gave them /etc/hosts lines.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hapulse.config import Diagnostic, parse_authkeys, parse_hacf, parse_haresources

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CASES = sorted(p for p in (CORPUS / "cases").iterdir() if (p / "heartbeat.json").exists())


def _hapulse(case: Path, node: str) -> tuple[dict[str, object], list[Diagnostic]]:
    hacf, diags = parse_hacf((case / "ha.cf").read_text(errors="replace"), "ha.cf",
                             resolve=lambda host: "10.250.0.1")
    keys = case / "authkeys" if (case / "authkeys").exists() else CORPUS / "authkeys"
    diags += parse_authkeys(keys.read_text(), "authkeys", 0o600)[1]
    diags += parse_haresources((case / "haresources").read_text(errors="replace"),
                               "haresources", hacf.nodes)[1]
    if hacf.nodes and node not in hacf.nodes:
        diags.append(Diagnostic("ha.cf", None, "error", f"{node} not in nodes", "local"))
    errors = [d for d in diags if d.severity == "error"]
    return {
        "starts": not errors,
        "keepalive_ms": round(hacf.keepalive * 1000), "deadtime_ms": round(hacf.deadtime * 1000),
        "warntime_ms": round(hacf.warntime * 1000), "initdead_ms": round(hacf.initdead * 1000),
        "udpport": hacf.udpport, "auto_failback": hacf.auto_failback, "nodes": list(hacf.nodes),
    }, errors


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 40, f"only {len(CASES)} corpus cases with a recorded verdict"
    for case in CASES:
        assert "repository:" in (case / "SOURCE").read_text(), case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hapulse_agrees_with_heartbeat(case: Path) -> None:
    oracle = json.loads((case / "heartbeat.json").read_text())
    ours, errors = _hapulse(case, str(oracle["local_node"]))
    assert ours["starts"] == oracle["starts"], (
        f"Heartbeat {'starts' if oracle['starts'] else 'refuses'}: {oracle['errors']}; "
        f"hapulse errors: {[str(e) for e in errors]}")
    if oracle["starts"]:
        for key in ("keepalive_ms", "deadtime_ms", "warntime_ms", "initdead_ms", "udpport",
                    "auto_failback"):
            assert ours[key] == oracle[key], key
        # Heartbeat lists ping nodes (ping, ping_group names) among its nodes
        pings = {w.lower() for line in (case / "ha.cf").read_text(errors="replace").splitlines()
                 for w in _ping_names(line)}
        assert ours["nodes"] == [n for n in dict.fromkeys(oracle["nodes"]) if n not in pings]


def _ping_names(line: str) -> list[str]:
    words = line.split("#", 1)[0].split()
    if words[:1] == ["ping"]:
        return words[1:]
    if words[:1] == ["ping_group"]:
        return words[1:2]
    return []
