"""hapulse's native IPaddr with every haresources argument form, in a lab host.

Each case starts the address with hapulse.resources.ipaddr.IPaddr inside f801
of the seed lab (eth0 192.168.1.110/24, eth1 10.0.0.1/24), then reads the
kernel's view with `ip -4 -o addr show`: the interface, prefix, broadcast and
label must be the ones Heartbeat's agents would give; a second start must
leave one address (it only announces it again); a stop must remove it.
"""

from __future__ import annotations

import sys
import textwrap
from typing import NamedTuple

import pytest

from hapulse.lab import Lab

pytestmark = pytest.mark.netns

RUNNER = textwrap.dedent("""
    import asyncio, sys
    from hapulse.resources.ipaddr import IPaddr

    async def main() -> int:
        agent = IPaddr(sys.argv[2], lambda level, text: print(level, text, flush=True),
                       garp_count=2, garp_interval=0.01)
        res = await (agent.start() if sys.argv[1] == "start" else agent.stop())
        await asyncio.sleep(0)  # let the burst run its first send before exit
        print("RESULT", res.ok, res.reason, flush=True)
        return 0 if res.ok else 1

    sys.exit(asyncio.run(main()))
""")


class Addr(NamedTuple):
    dev: str
    cidr: str
    brd: str | None
    label: str


def run(lab: Lab, op: str, arg: str) -> tuple[int, str]:
    r = lab.hosts["f801"].run([sys.executable, "-c", RUNNER, op, arg], timeout=60)
    return r.returncode, r.stdout + r.stderr


def found(lab: Lab, address: str) -> list[Addr]:
    out = lab.hosts["f801"].run(["ip", "-4", "-o", "addr", "show"], timeout=10).stdout
    rows = []
    for line in out.splitlines():
        words = line.split()
        if len(words) < 4 or not words[3].startswith(address + "/"):
            continue
        brd = words[words.index("brd") + 1] if "brd" in words else None
        label = next(w[:-1] for w in words if w.endswith("\\"))
        rows.append(Addr(words[1], words[3], brd, label))
    return rows


CASES = [
    # alias interface: the address on eth0, labelled eth0:10
    ("192.168.1.118/24/eth0:10", Addr("eth0", "192.168.1.118/24", "192.168.1.255", "eth0:10")),
    # the form: an empty field, then bits and an alias
    ("10.0.30.15//8/eth0:10", Addr("eth0", "10.0.30.15/8", "10.255.255.255", "eth0:10")),
    # dotted netmask, no interface: the subnet chooses eth0
    ("192.168.1.119/255.255.255.0", Addr("eth0", "192.168.1.119/24", "192.168.1.255", "eth0")),
    # dotted netmask with an interface that is not the subnet's
    ("172.16.5.5/255.255.0.0/eth1", Addr("eth1", "172.16.5.5/16", "172.16.255.255", "eth1")),
    # ADDR/BITS/BROADCAST (Heartbeat's haresources docs): broadcast, subnet's interface
    ("192.168.1.120/25/192.168.1.127", Addr("eth0", "192.168.1.120/25", "192.168.1.127", "eth0")),
    # every field: bits, interface with alias, broadcast
    ("10.0.0.9/24/eth1:vip/10.0.0.200", Addr("eth1", "10.0.0.9/24", "10.0.0.200", "eth1:vip")),
]


@pytest.mark.parametrize("arg, want", CASES, ids=[c[0] for c in CASES])
def test_ipaddr_form(seed: Lab, arg: str, want: Addr) -> None:
    address = arg.split("/", 1)[0]
    assert found(seed, address) == []
    rc, out = run(seed, "start", arg)
    assert rc == 0, out
    assert found(seed, address) == [want], out
    # starting it again only announces it again: still one address, as it was
    rc, out = run(seed, "start", arg)
    assert rc == 0 and "already on this node; announcing it again" in out, out
    assert found(seed, address) == [want]
    rc, out = run(seed, "stop", arg)
    assert rc == 0, out
    assert found(seed, address) == []


def test_refused_form_fails_at_start_and_adds_nothing(seed: Lab) -> None:
    rc, out = run(seed, "start", "192.168.1.121//eth0")
    assert rc == 1
    assert "the netmask comes before the interface" in out
    assert found(seed, "192.168.1.121") == []


def test_missing_interface_is_named(seed: Lab) -> None:
    rc, out = run(seed, "start", "192.168.1.122/24/eth7:1")
    assert rc == 1 and "there is no interface eth7 here" in out, out
    assert found(seed, "192.168.1.122") == []
