"""Labs of hosts: namespaces wired by crossover cables and switches, the seed's topology.

Every namespace carries the lab's prefix; :meth:`Lab.close` removes the
hosts' processes (by PID) and the namespaces (by name), even after errors.
A stale lab with the same prefix (a crashed run) is removed at start.
Switches are bridges inside their own namespace, never in the root one.
"""

from __future__ import annotations

import os
from pathlib import Path

from hapulse.lab.host import Host, run_ip


class Lab:
    def __init__(self, prefix: str, workdir: Path | None = None) -> None:
        self.prefix = prefix
        self.workdir = workdir or Path("/tmp") / prefix
        self.hosts: dict[str, Host] = {}
        self.switches: list[str] = []
        self._veth = 0
        self.cleanup_stale()
        self.workdir.mkdir(parents=True, exist_ok=True)

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def cleanup_stale(self) -> None:
        out = run_ip("netns", "list", check=False).stdout
        for line in out.splitlines():
            name = line.split()[0] if line.split() else ""
            if name.startswith(self.prefix + "-"):
                run_ip("netns", "del", name, check=False)

    def add_host(self, name: str) -> Host:
        h = Host(self, name)
        run_ip("netns", "add", h.ns)
        run_ip("-n", h.ns, "link", "set", "lo", "up")
        self.hosts[name] = h
        return h

    def add_switch(self, name: str) -> str:
        ns = f"{self.prefix}-sw-{name}"
        run_ip("netns", "add", ns)
        run_ip("-n", ns, "link", "add", "br0", "type", "bridge")
        run_ip("-n", ns, "link", "set", "br0", "up")
        self.switches.append(ns)
        return ns

    def _veth_pair(self, ns_a: str, if_a: str, ns_b: str, if_b: str) -> None:
        self._veth += 1
        tag = f"hpv{os.getpid() % 10000}"
        tmp_a, tmp_b = f"{tag}a{self._veth}", f"{tag}b{self._veth}"
        run_ip("link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        run_ip("link", "set", tmp_a, "netns", ns_a, "name", if_a)
        run_ip("link", "set", tmp_b, "netns", ns_b, "name", if_b)
        run_ip("-n", ns_a, "link", "set", if_a, "up")
        run_ip("-n", ns_b, "link", "set", if_b, "up")

    def wire(self, a: Host, if_a: str, b: Host, if_b: str) -> None:
        """A crossover cable between two hosts."""
        self._veth_pair(a.ns, if_a, b.ns, if_b)

    def plug(self, host: Host, ifname: str, switch_ns: str) -> None:
        port = f"p-{host.name}-{ifname}"[:15]
        self._veth_pair(host.ns, ifname, switch_ns, port)
        run_ip("-n", switch_ns, "link", "set", port, "master", "br0")

    def close(self) -> None:
        for h in self.hosts.values():
            h.kill_all()
        for h in self.hosts.values():
            run_ip("netns", "del", h.ns, check=False)
        for ns in self.switches:
            run_ip("netns", "del", ns, check=False)
        self.hosts.clear()
        self.switches.clear()


def seed_lab(prefix: str, workdir: Path | None = None, f802_lan: str = "eth1") -> Lab:
    """The seed's topology: f801 and f802 with a crossover heartbeat link and a LAN.

    f801: eth0 192.168.1.110/24 (LAN), eth1 10.0.0.1/24 (heartbeat link);
    f802: eth1 192.168.1.111/24 (LAN), eth2 10.0.0.2/24 (heartbeat link);
    client: eth0 192.168.1.50/24. The LAN switch is a bridge in its own namespace.
    `f802_lan` renames f802's LAN interface (Heartbeat's IPaddr on resource-agents
    4.12 can only take the address over on an interface named eth0).
    """
    lab = Lab(prefix, workdir)
    try:
        f801, f802, client = lab.add_host("f801"), lab.add_host("f802"), lab.add_host("client")
        lab.wire(f801, "eth1", f802, "eth2")
        lan = lab.add_switch("lan")
        lab.plug(f801, "eth0", lan)
        lab.plug(f802, f802_lan, lan)
        lab.plug(client, "eth0", lan)
        f801.add_address("eth0", "192.168.1.110/24")
        f801.add_address("eth1", "10.0.0.1/24")
        f802.add_address(f802_lan, "192.168.1.111/24")
        f802.add_address("eth2", "10.0.0.2/24")
        client.add_address("eth0", "192.168.1.50/24")
    except BaseException:
        lab.close()
        raise
    return lab


