"""resource-agents' own OCF IPaddr2 run by hapulse's agent layer inside a lab host."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

from hapulse.lab import Lab

pytestmark = pytest.mark.netns

RUNNER = textwrap.dedent("""
    import asyncio, sys
    from hapulse.config import ResourceGroup, ResourceSpec
    from hapulse.resources import ResourceManager
    spec = ResourceSpec(sys.argv[1], tuple(sys.argv[3:]), sys.argv[1])
    group = ResourceGroup("f801", (spec,), 1)
    rm = ResourceManager(__import__("pathlib").Path("/etc/ha.d"),
                         log=lambda level, text: print(level, text, flush=True))
    op = sys.argv[2]
    res = asyncio.run(rm.acquire(group) if op == "start" else rm.release(group))
    print("RESULT", res.ok, res.reason)
    sys.exit(0 if res.ok else 1)
""")


def run_agent(lab: Lab, op: str, agent: str, *args: str) -> str:
    r = lab.hosts["f801"].run([sys.executable, "-c", RUNNER, agent, op, *args], timeout=60,
                              env={**os.environ, "PATH": os.environ.get("PATH", "")})
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def addresses(lab: Lab) -> str:
    return lab.hosts["f801"].run(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout


def test_resource_agents_ocf_ipaddr2(seed: Lab) -> None:
    agent = Path("/usr/lib/ocf/resource.d/heartbeat/IPaddr2")
    if not os.access(agent, os.X_OK):
        pytest.skip("needs resource-agents")
    out = run_agent(seed, "start", "ocf:heartbeat:IPaddr2", "ip=192.168.1.118",
                    "cidr_netmask=24", "nic=eth0")
    assert "Running /usr/lib/ocf/resource.d/heartbeat/IPaddr2 start" in out
    assert "192.168.1.118/24" in addresses(seed)
    run_agent(seed, "stop", "ocf:heartbeat:IPaddr2", "ip=192.168.1.118", "cidr_netmask=24",
              "nic=eth0")
    assert "192.168.1.118" not in addresses(seed)


def test_missing_script_is_a_clear_error(seed: Lab) -> None:
    r = seed.hosts["f801"].run([sys.executable, "-c", RUNNER, "nosuchservice", "start"],
                               timeout=60)
    assert r.returncode == 1
    assert "no script for resource `nosuchservice`: looked for /etc/ha.d/resource.d/" \
           "nosuchservice, /etc/init.d/nosuchservice" in r.stdout


def test_resource_agents_ipaddr_wrapper_in_resource_d(seed: Lab) -> None:
    """`resource.d/IPaddr::ADDR` runs resource-agents' /etc/ha.d/resource.d/IPaddr wrapper,
    the script Heartbeat itself runs, instead of hapulse's native IPaddr."""
    wrapper = Path("/etc/ha.d/resource.d/IPaddr")
    if not os.access(wrapper, os.X_OK):
        pytest.skip("needs resource-agents' /etc/ha.d/resource.d/IPaddr")
    out = run_agent(seed, "start", "resource.d/IPaddr", "192.168.1.118/24")
    assert f"Running {wrapper} 192.168.1.118/24 start" in out
    assert "192.168.1.118/24" in addresses(seed)
    run_agent(seed, "stop", "resource.d/IPaddr", "192.168.1.118/24")
    assert "192.168.1.118" not in addresses(seed)
