"""Issue 14's guards in the seed's topology: ping nodes + ipfail, the ARP probe, STONITH,
respawn. Both nodes run hapulse with the seed's three files, the timers shortened
(keepalive 200ms, warntime 1, deadtime 2, initdead 4) and the guard line(s) added.

Every test asserts what the LAN sees: which hosts hold 192.168.1.118 (`ip -4 -o addr
show` in each host, sampled every 50 ms) and who answers the client's HTTP polls.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest

from hapulse.lab import Lab, wait_for
from hapulse.lab.ha_d import with_timers
from hapulse.lab.host import run_ip
from hapulse.lab.nodes import HAPULSE, VIP, HapulseNode, seed_files, served_by, web_node
from hapulse.lab.poller import Poller, start_poller

pytestmark = pytest.mark.netns

KEEPALIVE, DEADTIME = 0.2, 2.0
CLIENT = "192.168.1.50"  # the client on the LAN (hapulse.lab.topology): the ping node
SAMPLE = 0.05



def start_cluster(lab: Lab, *lines: str) -> tuple[HapulseNode, HapulseNode]:
    """Both nodes with the seed's files, short timers and `lines` added to ha.cf; returns
    once the client is served by f801."""
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    nodes = []
    for name in ("f801", "f802"):
        files = seed_files(name)
        files["ha.cf"] = with_timers(files["ha.cf"]) + "".join(f"{line}\n" for line in lines)
        nodes.append(web_node(lab.hosts[name], files))
    a, b = nodes
    a.start()
    b.start()
    wait_for(lambda: served_by(lab.hosts["client"]) == "f801", 30, interval=0.2,
             what="f801 serves the VIP")
    return a, b


def holders(lab: Lab) -> tuple[str, ...]:
    """The hosts whose interfaces carry the VIP now (`ip -4 -o addr show` in each)."""
    out = []
    for name in ("f801", "f802"):
        text = run_ip("-n", lab.hosts[name].ns, "-4", "-o", "addr", "show", check=False).stdout
        if re.search(rf"\binet {re.escape(VIP)}/", text):
            out.append(name)
    return tuple(out)


def sample_holders(lab: Lab, seconds: float) -> list[tuple[float, tuple[str, ...]]]:
    """`holders` every SAMPLE seconds for `seconds` (bounded by the clock)."""
    out = []
    end = time.monotonic() + seconds
    while (now := time.monotonic()) < end:
        out.append((now, holders(lab)))
        time.sleep(max(0.0, SAMPLE - (time.monotonic() - now)))
    return out


def longest_gap(answers: list[tuple[float, str]], start: float, end: float) -> float:
    """The longest time without an answer from anyone between `start` and `end`."""
    times = [start, *(t for t, who in answers if who != "-" and start <= t <= end), end]
    return max(b - a for a, b in zip(times, times[1:], strict=False))


def cl_status(node: HapulseNode, *args: str) -> str:
    r = node.host.run([HAPULSE, "cl_status", "--run-dir", str(node.run_dir), *args])
    return r.stdout.strip()


def status_text(node: HapulseNode) -> str:
    return node.host.run([HAPULSE, "status", "--run-dir", str(node.run_dir)]).stdout


def log_time(log: str, pattern: str) -> datetime:
    """The timestamp of the first log line matching `pattern` (Heartbeat's format)."""
    for line in log.splitlines():
        if re.search(pattern, line):
            m = re.search(r"(\d{4}/\d\d/\d\d_\d\d:\d\d:\d\d\.\d+)", line)
            assert m, line
            return datetime.strptime(m.group(1), "%Y/%m/%d_%H:%M:%S.%f")
    raise AssertionError(f"no log line matches {pattern!r}:\n{log[-3000:]}")


def waiting(what: str, timeout: float, predicate: Callable[[], object],
            *nodes: HapulseNode, interval: float = SAMPLE) -> None:
    """`wait_for`, with the nodes' log tails in the failure message."""
    try:
        wait_for(predicate, timeout, interval=interval, what=what)
    except TimeoutError as exc:
        tails = "\n".join(f"--- {n.host.name}\n{n.log_text()[-4000:]}" for n in nodes)
        raise AssertionError(f"{exc}\n{tails}") from exc


@pytest.fixture
def poller(seed: Lab) -> Iterator[list[Poller]]:
    started: list[Poller] = []
    yield started
    for p in started:
        seed.hosts["client"].kill(p.proc)


# ---- ping nodes: a cut heartbeat link -----------------------------------------------

def test_heartbeat_link_cut_with_ping_node_never_two_holders(
        seed: Lab, poller: list[Poller]) -> None:
    a, b = start_cluster(seed, f"ping {CLIENT}")
    wait_for(lambda: b.node_status(CLIENT) == "ping" and a.node_status(CLIENT) == "ping", 10,
             what="the ping node up on both")
    client = seed.hosts["client"]
    p = start_poller(client, limit=60)
    poller.append(p)
    wait_for(lambda: any(who == "f801" for _, who in p.since(0.0)), 5,
             what="the poller answered by f801")

    seed.hosts["f801"].set_link("eth1", False)
    cut = time.monotonic()
    during = sample_holders(seed, 12.0)
    seed.hosts["f801"].set_link("eth1", True)
    healed = time.monotonic()
    after = sample_holders(seed, 5.0)
    end = time.monotonic()

    samples = during + after
    assert len(samples) >= 17.0 / (SAMPLE * 3), len(samples)  # sampled often enough
    assert {h for _, h in samples} == {("f801",)}, sorted({h for _, h in samples})
    # f802 really declared f801 dead and tried: its takeover was held back by the probe
    log = b.log_text()
    assert "node f801: is dead" in log, log[-3000:]
    mac = seed.hosts["f801"].mac("eth0")
    assert re.search(rf"{re.escape(VIP)}: not taken over: {re.escape(VIP)} is answered by "
                     rf"{re.escape(mac)}; its holder seems alive on the LAN", log, re.I), \
        log[-3000:]
    assert "Acquiring resource group" not in log
    # the client: every answer from f801, never a gap longer than a second
    answers = p.since(cut)
    assert answers and {who for t, who in answers if t <= end} <= {"f801", "-"}
    assert sum(1 for t, who in answers if who == "f801" and t <= end) >= 17.0 / 0.2
    assert longest_gap(answers, cut, end) < 1.0, longest_gap(answers, cut, end)
    # healed: both live again, f801 still the only holder
    wait_for(lambda: b.node_status("f801") == "active", 5, what="f801 back on f802")
    assert healed - cut >= 12.0
    probes = len(re.findall(r"not taken over: ", log))
    print(f"\nheartbeat link cut {healed - cut:.1f} s + {end - healed:.1f} s after the heal: "
          f"{len(samples)} samples, VIP only on f801; f802 refused {probes} takeover(s) "
          f"(ARP probe answered by f801); client's longest gap "
          f"{longest_gap(answers, cut, end) * 1000:.0f} ms")


# ---- ping nodes + ipfail: the holder's LAN cable pulled -------------------------------

def test_holder_loses_its_ping_node_hands_the_group_over(
        seed: Lab, poller: list[Poller]) -> None:
    a, b = start_cluster(seed, f"ping {CLIENT}")
    wait_for(lambda: b.node_status(CLIENT) == "ping" and a.node_status(CLIENT) == "ping", 10,
             what="the ping node up on both")
    for node in (a, b):
        assert cl_status(node, "listnodes").split() == ["f801", "f802", CLIENT] or \
            sorted(cl_status(node, "listnodes").split()) == sorted(["f801", "f802", CLIENT])
        assert cl_status(node, "nodetype", CLIENT) == "ping"
        assert cl_status(node, "nodetype", "f802") == "normal"
        assert cl_status(node, "nodestatus", CLIENT) == "ping"
        assert re.search(rf"(?m)^{re.escape(CLIENT)}\s+ping\b", status_text(node)), \
            status_text(node)

    seed.hosts["f801"].set_link("eth0", False)  # f801's LAN cable pulled
    pulled = time.monotonic()
    moved: list[tuple[float, tuple[str, ...]]] = []

    def f802_holds() -> bool:
        moved.append((time.monotonic(), holders(seed)))
        return moved[-1][1] == ("f802",)

    waiting("f802 alone holds the VIP", 15, f802_holds, a, b)
    took = moved[-1][0] - pulled
    assert all(len(h) <= 1 for _, h in moved), moved  # never two holders
    wait_for(lambda: served_by(seed.hosts["client"]) == "f802", 5, what="client served by f802")
    served = time.monotonic() - pulled
    # deadping (deadtime: 2 s) + ipfail's delay_giveup (2 keepalives) + release and start
    assert took <= DEADTIME + 10 * KEEPALIVE, took
    print(f"\nf801's LAN pulled: VIP on f802 after {took:.2f} s, client served after "
          f"{served:.2f} s")
    log_a, log_b = a.log_text(), b.log_text()
    assert f"node {CLIENT}: is dead" in log_a and "ipfail" in log_a, log_a[-3000:]
    assert b.node_status("f801") == "active"  # no death: a hand-over over the heartbeat link
    assert "node f801: is dead" not in log_b
    # both list the ping node as Heartbeat does; f801's is dead now
    wait_for(lambda: cl_status(a, "nodestatus", CLIENT) == "dead", 5, what="dead on f801")
    assert cl_status(b, "nodestatus", CLIENT) == "ping"
    for node in (a, b):
        assert CLIENT in cl_status(node, "listnodes").split()
        assert cl_status(node, "nodetype", CLIENT) == "ping"
    st = b.status()
    assert st is not None
    assert {"name": CLIENT, "status": "ping"} in st["ping_nodes"]
    assert any(n["name"] == CLIENT and n["type"] == "ping" for n in st["nodes"])


# ---- STONITH -----------------------------------------------------------------------

# The plugin's reset_command, run by cluster-glue inside f802 (whose /run is private, hiding
# /run/netns): asks the test for a power cycle of host $1 and waits for it (at most 20 s).
REQUEST_POWER_CYCLE = """#!/bin/sh
req="{dir}/$1.request"; done="{dir}/$1.done"
date +%s.%N > "$req"
i=0
while [ $i -lt 200 ]; do
    [ -f "$done" ] && exit 0
    i=$((i + 1))
    sleep 0.1
done
exit 1
"""


class PowerSwitch:
    """The lab's power switch, worked by the test when the plugin asks (see `serve`)."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.dir = lab.workdir / "power"
        self.dir.mkdir(mode=0o777)
        self.dir.chmod(0o777)
        self.script = lab.workdir / "request-power-cycle"
        self.script.write_text(REQUEST_POWER_CYCLE.format(dir=self.dir))
        self.script.chmod(0o755)
        self.cycled: list[tuple[str, float]] = []  # (host, when: time.time())

    def serve(self) -> None:
        """Power-cycle every host the plugin asked for: every process killed, its links
        down, the addresses a boot would not set removed, its links up again (booted,
        without its cluster daemon)."""
        for req in sorted(self.dir.glob("*.request")):
            name = req.name.removesuffix(".request")
            host = self.lab.hosts[name]
            host.kill_all()
            links = [line.split(": ")[1].split("@")[0] for line in run_ip(
                "-n", host.ns, "-o", "link", "show").stdout.splitlines()]
            links = [link for link in links if link != "lo"]
            for link in links:
                host.set_link(link, False)
            run_ip("-n", host.ns, "-4", "addr", "del", f"{VIP}/24", "dev", "eth0", check=False)
            self.cycled.append((name, time.time()))
            for link in links:
                host.set_link(link, True)
            req.unlink()
            (self.dir / f"{name}.done").write_text("")



def test_stonith_resets_f801_before_f802_takes_over(seed: Lab, lab_plugin: Path) -> None:
    power = PowerSwitch(seed)
    a, b = start_cluster(seed, "stonith_host * external/hapulse-lab f801,f802 "
                               f"{power.script} \"$1\"")
    st = b.status()
    assert st is not None and st["fencing"]["device"] == "external/hapulse-lab"

    seed.hosts["f801"].set_link("eth1", False)
    cut = time.monotonic()
    samples: list[tuple[float, float, tuple[str, ...]]] = []

    def f802_holds() -> bool:
        power.serve()
        samples.append((time.monotonic(), time.time(), holders(seed)))
        return samples[-1][2] == ("f802",)

    waiting("f802 holds the VIP after the reset", 20, f802_holds, a, b)
    took = samples[-1][0] - cut
    waiting("client served by f802", 5, lambda: served_by(seed.hosts["client"]) == "f802", b)
    assert all(len(h) <= 1 for _, _, h in samples), samples  # never two holders
    assert [name for name, _ in power.cycled] == ["f801"]  # f801 power-cycled, once
    cycled_at = power.cycled[0][1]
    # f802 added the address only after the power cycle: f801 held it until then
    assert all(h == ("f801",) for _, wall, h in samples if wall < cycled_at - 0.1), samples
    assert seed.hosts["f801"].netns_pids() == []  # its daemon is gone with the power
    log = b.log_text()
    reset_at = log_time(log, r"node f801 now reset")
    added_at = log_time(log, rf"IPaddr: {re.escape(VIP)}\S* .*added")
    assert log_time(log, "Resetting node f801") <= reset_at <= added_at, (reset_at, added_at)
    assert reset_at.timestamp() >= cycled_at - 0.5  # the log's clock is local time
    st = b.status()
    assert st is not None
    assert st["fencing"]["fenced"] == ["f801"] and st["fencing"]["failures"] == 0
    assert any("f801: reset" in r for r in st["fencing"]["results"]), st["fencing"]
    assert "STONITH external/hapulse-lab: reset f801" in status_text(b)
    print(f"\nSTONITH: f801 power-cycled {cycled_at - samples[0][1]:.2f} s after the cut; "
          f"f802 holds the VIP {took:.2f} s after the cut; reset logged at "
          f"{reset_at:%H:%M:%S.%f}, address added at {added_at:%H:%M:%S.%f}")


def test_stonith_failing_plugin_no_takeover_crit_retried(seed: Lab, lab_plugin: Path) -> None:
    a, b = start_cluster(seed, "stonith_host * external/hapulse-lab f801,f802 exit 1")
    seed.hosts["f801"].set_link("eth1", False)
    cut = time.monotonic()

    def crits() -> int:
        return len(re.findall(r"CRIT: Host f801 not reset!", b.log_text()))

    samples: list[tuple[float, tuple[str, ...]]] = []

    def two_failures() -> bool:
        samples.append((time.monotonic(), holders(seed)))
        return crits() >= 2

    # deadtime, a failed reset, 5 s, a second failed reset
    waiting("two failed resets on f802", DEADTIME + 15, two_failures, a, b)
    tried = time.monotonic() - cut
    samples += sample_holders(seed, 1.0)
    assert {h for _, h in samples} == {("f801",)}, sorted({h for _, h in samples})
    assert served_by(seed.hosts["client"]) == "f801"
    log = b.log_text()
    assert "(attempt 1/12)" in log and "(attempt 2/12)" in log
    first = log_time(log, r"CRIT: Host f801 not reset! \(attempt 1/")
    second = log_time(log, r"CRIT: Host f801 not reset! \(attempt 2/")
    assert 4.0 <= (second - first).total_seconds() <= 8.0, (first, second)
    assert "Acquiring resource group" not in log
    st = b.status()
    assert st is not None
    assert st["fencing"]["fenced"] == [] and st["fencing"]["failures"] >= 2
    assert seed.hosts["f801"].netns_pids()  # never powered off
    print(f"\nfailing STONITH: 2 CRIT lines {tried:.2f} s after the cut, "
          f"{(second - first).total_seconds():.2f} s apart")


# ---- respawn -----------------------------------------------------------------------

HELPER = """#!/bin/sh
# a helper: writes its pid and user every 200 ms, for at most ten minutes
out="{out}/$(hostname)"
i=0
while [ $i -lt 3000 ]; do
    echo "$$ $(id -un)" > "$out.tmp" && mv "$out.tmp" "$out"
    i=$((i + 1))
    sleep 0.2
done
"""


def _helper(out: Path, host: str) -> tuple[int, str] | None:
    try:
        pid, user = (out / host).read_text().split()
    except (OSError, ValueError):
        return None
    return int(pid), user


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped is not)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return re.search(r"(?m)^State:\s+Z", status) is None


def _uid(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(r"(?m)^Uid:\s+(\d+)", status)
    return int(m.group(1)) if m else None


def test_respawn_as_nobody_runs_restarts_and_stops(seed: Lab) -> None:
    out = seed.workdir / "respawn"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    script = seed.workdir / "helper.sh"
    script.write_text(HELPER.format(out=out))
    script.chmod(0o755)
    a, _ = start_cluster(seed, f"respawn nobody {script}")
    nobody = int(subprocess.run(["id", "-u", "nobody"], capture_output=True, text=True,
                                check=True).stdout)

    first = wait_for(lambda: _helper(out, "f801"), 10, what="the helper running on f801")
    pid, user = first
    assert user == "nobody" and _uid(pid) == nobody and _alive(pid)
    text = status_text(a)
    assert re.search(rf"respawn {re.escape(str(script))}.*\(as nobody\): running, pid {pid}, "
                     r"0 restart\(s\)", text), text

    os.kill(pid, 9)
    killed = time.monotonic()
    def restarted_helper() -> tuple[int, str] | None:
        h = _helper(out, "f801")
        return h if h is not None and h[0] != pid and _alive(h[0]) else None

    again = wait_for(restarted_helper, 10, what="the helper restarted")
    restarted = time.monotonic() - killed
    assert again[1] == "nobody" and _uid(again[0]) == nobody
    st = a.status()
    assert st is not None
    (r,) = [r for r in st["respawn"] if str(script) in r["command"]]
    assert r["state"] == "running" and r["pid"] == again[0] and r["restarts"] == 1, r
    assert r["user"] == "nobody"

    # `hapulse stop` waits for the daemon's pid to go: reap the daemon (this test's child)
    stop = a.host.popen([HAPULSE, "stop", "--run-dir", str(a.run_dir)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert a.proc is not None and a.proc.wait(timeout=40) == 0
    assert stop.wait(timeout=10) == 0
    assert not _alive(again[0]), "the helper outlived hapulse"
    print(f"\nrespawn: restarted {restarted:.2f} s after the kill")
