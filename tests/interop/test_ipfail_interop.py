"""ipfail in a mixed cluster: Heartbeat 3.0.6 with its real ipfail, hapulse with ipfail built in.

Both nodes have the seed's files, the timers shortened (keepalive 200ms, warntime 1,
deadtime 2, initdead 4) and the same three lines added:

    ping 192.168.1.50                               (the client on the LAN)
    respawn hacluster /usr/libexec/heartbeat/ipfail (where Debian's package puts it)
    auto_failback on                                (ipfail refuses legacy)

With the heartbeat link cut ipfail cannot talk (its counts go over the heartbeat
path), so the case both daemons can agree on is the holder's LAN cable pulled with the
heartbeat link up: the holder's ping node goes dead, the two ipfails compare counts,
and the holder hands the group to the other side. Both directions: f801 (the holder)
runs Heartbeat and f802 hapulse, then the other way round.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from factories import lab_prefix

from hapulse.lab import Lab, seed_lab, wait_for
from hapulse.lab.heartbeat import HeartbeatNode
from hapulse.lab.host import run_ip
from hapulse.lab.nodes import HAPULSE, VIP, HapulseNode, install_httpd, seed_files, web_node
from hapulse.lab.nodes import served_by as node_serving

pytestmark = [pytest.mark.netns, pytest.mark.interop]

CLIENT = "192.168.1.50"
IPFAIL = "/usr/libexec/heartbeat/ipfail"
KEEPALIVE, DEADTIME = 0.2, 2.0
GUARD_LINES = (f"ping {CLIENT}", f"respawn hacluster {IPFAIL}", "auto_failback on")


@pytest.fixture
def lab(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The seed's topology; with Heartbeat on f802, f802's LAN is named eth0 (resource-agents
    4.12's IPaddr cannot take the address over on eth1: see test_mixed_failover.py)."""
    heartbeat_on_f802 = request.node.callspec.params["holder"] == "hapulse"
    built = seed_lab(lab_prefix(request.node.name),
                     f802_lan="eth0" if heartbeat_on_f802 else "eth1")
    try:
        yield built
    finally:
        built.close()
        shutil.rmtree(built.workdir, ignore_errors=True)


def files(name: str) -> dict[str, str]:
    f = seed_files(name)
    hacf = f["ha.cf"]
    for timer, value in (("keepalive", "200ms"), ("warntime", "1"), ("deadtime", "2"),
                         ("initdead", "4")):
        hacf = re.sub(rf"(?m)^{timer}\s+\S+", f"{timer} {value}", hacf)
    f["ha.cf"] = hacf + "".join(f"{line}\n" for line in GUARD_LINES)
    return f


def heartbeat_node(lab: Lab, name: str) -> HeartbeatNode:
    f = files(name)
    # Heartbeat's own log in its private /var/log (hapulse logs to the test's file)
    hb = HeartbeatNode(lab.hosts[name], ha_cf=f["ha.cf"] + "logfile /var/log/ha-log\n",
                       authkeys=f["authkeys"], haresources=f["haresources"])
    install_httpd(hb.ha_d / "resource.d")
    return hb


def hb_log(hb: HeartbeatNode) -> str:
    return "\n".join(p.read_text(errors="replace") for p in sorted(hb.log_dir.rglob("*"))
                     if p.is_file())


def lan_of(lab: Lab, name: str) -> str:
    out = run_ip("-n", lab.hosts[name].ns, "-o", "-4", "addr", "show", "to",
                 "192.168.1.0/24").stdout
    return out.split()[1]


def holders(lab: Lab) -> tuple[str, ...]:
    """The hosts whose interfaces carry the VIP now (`ip -4 -o addr show` in each)."""
    out = []
    for name in ("f801", "f802"):
        text = run_ip("-n", lab.hosts[name].ns, "-4", "-o", "addr", "show", check=False).stdout
        if re.search(rf"\binet {re.escape(VIP)}/", text):
            out.append(name)
    return tuple(out)


def ping_status(node: HapulseNode | HeartbeatNode) -> str:
    if isinstance(node, HeartbeatNode):
        return node.cl_status("nodestatus", CLIENT).stdout.strip()
    r = node.host.run([HAPULSE, "cl_status", "--run-dir", str(node.run_dir), "nodestatus",
                       CLIENT])
    return r.stdout.strip()


NOISE = re.compile(r"Network is unreachable|euid=0 egid=0|no longer in history|lost packet|"
                   r"cores\]: No such file")


def explain(lab: Lab, *nodes: HapulseNode | HeartbeatNode) -> str:
    """Who holds what, and each daemon's log without its repetitive lines."""
    out = [f"client served by {node_serving(lab.hosts['client'])}; VIP on {holders(lab)}"]
    for node in nodes:
        kind = "heartbeat" if isinstance(node, HeartbeatNode) else "hapulse"
        text = hb_log(node) if isinstance(node, HeartbeatNode) else node.log_text()
        noisy = text.splitlines()
        lines = [line for line in noisy if not NOISE.search(line)]
        out.append(f"--- {node.host.name} {kind} ({len(noisy) - len(lines)} repetitive lines "
                   "left out)\n" + "\n".join(lines[-80:]))
    return "\n".join(out)


# ipfail's give-up is a standby: Heartbeat's exchange (ask_resources), both directions
HOLDERS = ["heartbeat", "hapulse"]


class Mixed:
    """f801 (the preferred node, the holder) runs `holder`, f802 the other daemon."""

    def __init__(self, lab: Lab, holder: str) -> None:
        if shutil.which("curl") is None:
            pytest.skip("needs curl")
        if not Path(IPFAIL).exists():
            pytest.skip(f"needs Heartbeat's ipfail at {IPFAIL}")
        self.lab = lab
        if holder == "heartbeat":
            self.hb = heartbeat_node(lab, "f801")
            self.hp = web_node(lab.hosts["f802"], files("f802"))
            self.f801: HapulseNode | HeartbeatNode = self.hb
            self.f802: HapulseNode | HeartbeatNode = self.hp
        else:
            self.hp = web_node(lab.hosts["f801"], files("f801"))
            self.hb = heartbeat_node(lab, "f802")
            self.f801, self.f802 = self.hp, self.hb

    def wait(self, what: str, timeout: float, predicate: Callable[[], object],
             interval: float = 0.2) -> None:
        try:
            wait_for(predicate, timeout, interval=interval, what=what)
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{explain(self.lab, self.f801, self.f802)}") from exc

    def start(self) -> None:
        """Both started; returns once f801 serves, both see the ping node and Heartbeat's
        ipfail runs."""
        self.f802.start()
        self.f801.start()
        self.wait("f801 serves the VIP", 60,
                  lambda: node_serving(self.lab.hosts["client"]) == "f801")
        self.wait("the ping node up on both", 20,
                  lambda: ping_status(self.f801) == "ping" and ping_status(self.f802) == "ping")
        self.wait("Heartbeat's ipfail running", 20,
                  lambda: "Starting \"" + IPFAIL in hb_log(self.hb))

    def pull_f801_lan(self) -> float:
        self.lab.hosts["f801"].set_link(lan_of(self.lab, "f801"), False)
        return time.monotonic()


@pytest.mark.parametrize("holder", ["heartbeat", "hapulse"])
def test_ipfails_agree_who_gives_up(lab: Lab, holder: str) -> None:
    """The decision itself: the two ipfails exchange their counts over the heartbeat link and
    agree that f801 (no ping node left) gives up and f802 (its ping node) does not."""
    m = Mixed(lab, holder)
    m.start()
    m.pull_f801_lan()
    if holder == "heartbeat":  # hapulse f802 tells Heartbeat's ipfail on f801 to give up
        m.wait("Heartbeat's ipfail on f801 giving up", 15, lambda: "Giving up because we were "
               "told that we have less ping nodes." in hb_log(m.hb))
        assert "ipfail: Telling other node that we have more visible ping nodes." \
            in m.hp.log_text()
        assert "wants to go standby [all]" in hb_log(m.hb) or "giveup() called" in hb_log(m.hb)
    else:  # Heartbeat's ipfail on f802 tells hapulse f801 to give up
        m.wait("hapulse f801 handing its groups over", 15, lambda: "ipfail: this node reaches "
               "fewer ping nodes than its peer; handing over all groups" in m.hp.log_text())
        assert "Telling other node that we have more visible ping nodes." in hb_log(m.hb)
    # and neither side declared the other dead: the heartbeat link carried the exchange
    assert "is dead" not in re.sub(rf"node {re.escape(CLIENT)}: is dead", "", m.hp.log_text())


@pytest.mark.parametrize("holder", HOLDERS)
def test_holder_losing_its_lan_hands_the_group_over(lab: Lab, holder: str) -> None:
    """The outcome: f802 holds the address and serves the client, never two holders."""
    m = Mixed(lab, holder)
    m.start()
    pulled = m.pull_f801_lan()
    samples: list[tuple[float, tuple[str, ...]]] = []

    def f802_holds() -> bool:
        samples.append((time.monotonic(), holders(lab)))
        return samples[-1][1] == ("f802",)

    m.wait("f802 alone holds the VIP", 30, f802_holds, interval=0.05)
    took = samples[-1][0] - pulled
    m.wait("the client served by f802", 10,
           lambda: node_serving(lab.hosts["client"]) == "f802")
    served = time.monotonic() - pulled
    assert all(len(h) <= 1 for _, h in samples), samples  # never two holders
    assert lab.hosts["client"].neighbour(VIP) == lab.hosts["f802"].mac(lan_of(lab, "f802"))
    log = m.hp.log_text()  # a hand-over over the heartbeat link, not a death
    assert "node f801: is dead" not in log and "node f802: is dead" not in log
    print(f"\n{holder} holder f801 lost its LAN: VIP on f802 after {took:.2f} s, client "
          f"served after {served:.2f} s")



def cut_heartbeat_link(lab: Lab, up: bool) -> float:
    lab.hosts["f801"].set_link("eth1", up)
    return time.monotonic()


@pytest.mark.parametrize("holder", HOLDERS)
def test_heartbeat_link_cut_both_keep_the_holder_and_heal_to_it(lab: Lab, holder: str) -> None:
    """The heartbeat link cut for 8 s, the LAN up, ping + ipfail on both sides.

    What both daemons decide alike: each declares the other dead after deadtime; each
    still reaches the ping node, so neither ipfail gives anything up (Heartbeat's logs
    "NS: We are still alive!"): the holder f801 keeps the address through the cut. After
    the heal one holder is left, f801, and the client is served by it.

    Where they differ, by design (docs/resources.md#ping-nodes-and-ipfail): the node that
    does not hold the group. Heartbeat takes the address although f801 still answers for
    it on the LAN (two holders until the heal); hapulse probes the LAN first, hears f801
    and does not take it (one holder throughout)."""
    m = Mixed(lab, holder)
    m.start()
    hp_peer, hb_peer = ("f801", "f802") if holder == "heartbeat" else ("f802", "f801")
    samples: list[tuple[float, tuple[str, ...]]] = []

    def sample(done: Callable[[], bool]) -> Callable[[], bool]:
        def check() -> bool:
            samples.append((time.monotonic(), holders(lab)))
            return done()
        return check

    cut = cut_heartbeat_link(lab, False)
    m.wait("hapulse declares its peer dead", 15, sample(
        lambda: f"Status update for node {hp_peer}: status dead" in m.hp.log_text()),
        interval=0.05)
    m.wait("Heartbeat declares its peer dead, its ipfail still alive", 15, sample(
        lambda: f"Status update: Node {hb_peer} now has status dead" in hb_log(m.hb)
        and "NS: We are still alive!" in hb_log(m.hb)), interval=0.05)
    end = cut + 8.0  # the cut lasts 8 s: a fault's duration, sampled every 50 ms
    m.wait("the cut's end", 12, sample(lambda: time.monotonic() >= end), interval=0.05)
    during = {h for _, h in samples}
    assert all("f801" in h for h in during), during  # the holder kept it throughout
    if holder == "heartbeat":  # hapulse f802 heard f801 answer for the address
        assert during == {("f801",)}, during
        assert "192.168.1.118: not taken over: 192.168.1.118 is answered by" in m.hp.log_text()
    else:  # Heartbeat f802 took it anyway: two holders during the cut
        assert ("f801", "f802") in during, during
    assert "Giving up" not in hb_log(m.hb).split("NS: We are still alive!")[-1]
    healed = cut_heartbeat_link(lab, True)
    # Heartbeat restarts itself on a partition's heal ("returning after partition"), so
    # the end state is what holds for 3 s in a row: f801 alone, serving the client
    after: list[tuple[float, tuple[str, ...]]] = []
    last_bad = [healed]

    def stable() -> bool:
        now, h = time.monotonic(), holders(lab)
        after.append((now, h))
        if h != ("f801",) or node_serving(lab.hosts["client"]) != "f801":
            last_bad[0] = now
        return now - last_bad[0] >= 3.0

    m.wait("f801 alone, serving, for 3 s after the heal", 45, stable, interval=0.1)
    settled = last_bad[0]
    ownerless = sum(b[0] - a[0] for a, b in zip(after, after[1:], strict=False) if not a[1])
    print(f"\n{holder} holder: during the cut {sorted(during)}; after the heal f801 alone "
          f"from {settled - healed:.2f} s on; no holder for {ownerless:.2f} s in all")
