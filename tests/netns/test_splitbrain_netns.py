"""Issue 14: split-brain repair and the replay guards, with no guard configured.

The seed's topology and files, both nodes hapulse, timers keepalive 200ms /
warntime 1 / deadtime 2 / initdead 4. Every test asserts with what the client
gets (answers, gaps, its neighbour entry for the VIP) and which hosts hold the
address (`ip -4 -o addr show` in each host, sampled every 50 ms).

- a heartbeat link cut for 12 s then healed, `auto_failback off` and the seed's
  legacy: after the heal one owner within 2 keepalives (+ the loser's release
  time), the client answered by the keeper within 1 s, split brain counted and
  logged on both;
- f801's daemon frozen (SIGSTOP) for 3 x deadtime then resumed: the same bounds;
- f801 powered off while its captured heartbeats are re-sent from the heartbeat
  network: f802 declares it dead after deadtime all the same and takes over;
- f801 restarted with an empty state directory (its generation goes back):
  it rejoins, one owner throughout.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time

import dpkt
import pytest
from lab_helpers import (
    NODES,
    ClientProbe,
    OwnerSampler,
    daemon_pid,
    holders,
    log_times,
    write_lines,
)

from hapulse.config import load_config_or_raise
from hapulse.lab import Lab, wait_for
from hapulse.lab.ha_d import with_timers
from hapulse.lab.host import run_ip
from hapulse.lab.nodes import HAPULSE, VIP, HapulseNode, seed_files, served_by, web_node
from hapulse.runtime import GENERATION_NAME
from hapulse.wire.auth import Authenticator

pytestmark = pytest.mark.netns

KEEPALIVE = 0.2
DEADTIME = 2.0
SAMPLE = 0.05  # the ownership sampling interval
# A sample lands up to one interval after the change it sees, and `ip` itself takes a few ms
# on a loaded machine: the slack added to every bound measured by sampling.
SLACK = SAMPLE + 0.1
CUT = 12.0
KEEPER, LOSER = "f801", "f802"  # preferred under legacy; first by name under `off`


def files(name: str, failback: str | None) -> dict[str, str]:
    """The seed's files with the short timers (and `auto_failback` when given)."""
    f = seed_files(name)
    f["ha.cf"] = with_timers(f["ha.cf"], "200ms", "1", "2", "4")
    if failback is not None:
        f["ha.cf"] += f"auto_failback {failback}\n"
    return f


def start_cluster(seed: Lab, failback: str | None,
                  f801_generation: int | None = None) -> tuple[HapulseNode, HapulseNode]:
    """Both nodes started; returns once f801 serves the site and each sees the other."""
    if shutil.which("curl") is None:
        pytest.skip("needs curl")
    a, b = (web_node(seed.hosts[n], files(n, failback)) for n in NODES)
    if f801_generation is not None:  # as if f801 had been started that many times before
        a.state_dir.mkdir(parents=True, exist_ok=True)
        (a.state_dir / GENERATION_NAME).write_text(f"{f801_generation}\n")
    a.start()
    b.start()
    client = seed.hosts["client"]
    wait_for(lambda: served_by(client) == "f801", 30, interval=0.2, what="f801 serves the VIP")
    wait_for(lambda: a.node_status("f802") == "active" and b.node_status("f801") == "active",
             10, interval=0.2, what="each node sees the other active")
    assert holders(seed) == ("f801",)
    return a, b


def wait_both_hold(seed: Lab, since: float) -> float:
    """f802 takes the address over while f801 keeps it: the split brain; returns how long
    it took from `since`."""
    wait_for(lambda: holders(seed) == ("f801", "f802"), DEADTIME + 4, interval=SAMPLE,
             what="f802 takes over while f801 still holds the address")
    return time.monotonic() - since


def assert_client_followed_f802(seed: Lab, probe: ClientProbe, since: float) -> None:
    """During the split the client follows f802's gratuitous ARP: the repair must bring it
    back (without the keeper's re-advertisement it would stay on f802's MAC)."""
    client = seed.hosts["client"]
    wait_for(lambda: client.neighbour(VIP) == seed.hosts["f802"].mac("eth1"), 3, interval=0.1,
             what="the client's neighbour entry on f802 during the split")
    answers = [ans for _, _, ans in probe.after(since)]
    assert answers and answers[-1] == "f802", answers[-10:]


def release_time(loser: HapulseNode) -> float:
    """From the loser's split-brain line to its address gone, by its own log."""
    log = loser.log_text()
    brain = log_times(log, r"CRIT: split brain: ")
    removed = log_times(log, rf"IPaddr: {VIP} removed")
    assert brain and removed, log[-3000:]
    after = [t for t in removed if t >= brain[-1]]
    assert after, f"the loser never removed {VIP} after the split brain:\n{log[-3000:]}"
    return after[0] - brain[-1]


def assert_repaired(seed: Lab, a: HapulseNode, b: HapulseNode, healed: float,
                    owners: OwnerSampler, probe: ClientProbe, what: str) -> dict[str, float]:
    """After the heal: one owner within 2 keepalives (+ the release), the keeper answering
    the client within 1 s, the client's neighbour entry on the keeper, the split brain
    counted and logged on both. Returns the measured figures."""
    client = seed.hosts["client"]
    keeper_mac = seed.hosts[KEEPER].mac("eth0")
    wait_for(lambda: holders(seed) == (KEEPER,), 10, interval=SAMPLE,
             what=f"{KEEPER} alone holds the address after the {what}")
    # observe a while longer: no second owner comes back, the client stays on the keeper
    wait_for(lambda: time.monotonic() >= healed + 4.0 and len(probe.after(healed + 1.0)) >= 5,
             10, interval=0.1, what="four seconds of observation after the heal")
    owners.stop()
    probe.stop()

    by = {"f801": a, "f802": b}
    loser = by[LOSER]
    dual_seen, single_seen = (t - healed for t in owners.settled(healed))
    release = release_time(loser)
    answered = [s for s, _, ans in probe.after(healed) if ans == KEEPER]
    late = [(round(s - healed, 3), ans) for s, _, ans in probe.after(healed + 1.0)]
    figures = {"two_owners_last_seen": dual_seen, "one_owner_seen": single_seen,
               "loser_release": release,
               "keeper_answered": answered[0] - healed if answered else -1.0,
               "client_gap_after_heal": probe.longest_gap(healed, healed + 4.0),
               "sampling_max_interval": owners.max_interval()}
    print(f"{what}: " + ", ".join(f"{k} {v:.3f}" for k, v in figures.items()))
    # the sample that last saw two holders was taken before one owner remained: a sound bound
    # whatever the sampler's delays (`ip` reads the addresses a few ms after the timestamp)
    assert dual_seen <= 2 * KEEPALIVE + release + 0.05, (figures, owners.after(healed)[:40])
    assert single_seen - dual_seen <= 0.25, figures  # and the sampling bracketed it closely
    assert answered and answered[0] - healed <= 1.0, (figures, probe.after(healed)[:20])
    # from 1 s after the heal the keeper answers; a lone timeout is tolerated on a loaded
    # machine, a gap as in the issue (30 s without answers) is not
    assert len(late) >= 5 and all(ans in (KEEPER, None) for _, ans in late), late
    assert sum(ans is None for _, ans in late) <= 1, late
    assert all(h in ((KEEPER,), ()) for _, h in owners.after(healed + single_seen)), \
        owners.after(healed + single_seen)
    assert holders(seed) == (KEEPER,)
    assert client.neighbour(VIP) == keeper_mac
    for node in (a, b):
        st = node.status()
        assert st is not None and st["counters"]["split_brains"] >= 1, st
        other = "f802" if node is a else "f801"
        assert f"CRIT: Cluster node {other} returning after partition" in node.log_text()
    return figures


@pytest.mark.parametrize(("failback", "host", "ifname"),
                         [("off", "f801", "eth1"), (None, "f801", "eth1"),
                          (None, "f802", "eth2")],
                         ids=["off", "legacy", "legacy-cut-at-f802"])
def test_heartbeat_link_cut_and_healed_one_owner_at_once(seed: Lab, failback: str | None,
                                                         host: str, ifname: str) -> None:
    a, b = start_cluster(seed, failback)
    owners = OwnerSampler(seed, SAMPLE, limit=60)
    probe = ClientProbe(seed.hosts["client"], SAMPLE, limit=60, timeout=0.5)
    owners.start()
    probe.start()
    try:
        seed.hosts[host].set_link(ifname, up=False)
        cut = time.monotonic()
        took = wait_both_hold(seed, cut)
        print(f"cut: f802 took over after {took:.2f} s; both hold")
        # the cut lasts CUT seconds: a fault's duration, not a synchronisation
        time.sleep(max(0.0, cut + CUT - time.monotonic()))
        assert holders(seed) == ("f801", "f802")  # nothing repairs it while the link is cut
        assert_client_followed_f802(seed, probe, cut)
        seed.hosts[host].set_link(ifname, up=True)
        healed = time.monotonic()
        assert_repaired(seed, a, b, healed, owners, probe, "heal")
    finally:
        owners.stop()
        probe.stop()


@pytest.mark.parametrize("failback", ["off", None], ids=["off", "legacy"])
def test_frozen_daemon_resumed_one_owner_at_once(seed: Lab, failback: str | None) -> None:
    a, b = start_cluster(seed, failback)
    pid = daemon_pid(a)
    owners = OwnerSampler(seed, SAMPLE, limit=60)
    probe = ClientProbe(seed.hosts["client"], SAMPLE, limit=60, timeout=0.5)
    owners.start()
    probe.start()
    resumed = False
    try:
        os.kill(pid, signal.SIGSTOP)
        frozen = time.monotonic()
        took = wait_both_hold(seed, frozen)
        print(f"freeze: f802 took over after {took:.2f} s; both hold")
        time.sleep(max(0.0, frozen + 3 * DEADTIME - time.monotonic()))  # the freeze's length
        assert holders(seed) == ("f801", "f802")
        assert_client_followed_f802(seed, probe, frozen)
        os.kill(pid, signal.SIGCONT)
        resumed = True
        healed = time.monotonic()
        assert_repaired(seed, a, b, healed, owners, probe, "resume")
    finally:
        if not resumed:
            os.kill(pid, signal.SIGCONT)
        owners.stop()
        probe.stop()


SENDER = """
import socket, sys, time
payloads = [bytes.fromhex(line) for line in open(sys.argv[1]) if line.strip()]
interval, lifetime = float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.0.0.1", 0))
print("start", time.time(), flush=True)
sent, end = 0, time.monotonic() + lifetime
while time.monotonic() < end and sent < 100000:
    try:
        s.sendto(payloads[sent % len(payloads)], ("10.0.0.2", 694))
    except OSError:
        pass
    sent += 1
    time.sleep(interval)
print(sent, flush=True)
"""
REPLAY = 10.0


def capture_f801(seed: Lab, auth: Authenticator, count: int) -> list[bytes]:
    """`count` of f801's packets as f802's heartbeat link receives them (UDP payloads),
    each checked to verify with the cluster's key and to come from f801."""
    cap = subprocess.run(seed.hosts["f802"].argv(
        ["timeout", "15", "tcpdump", "-i", "eth2", "-U", "-c", str(count), "-w", "-",
         "udp dst port 694 and src host 10.0.0.1"]), capture_output=True, timeout=20)
    assert cap.returncode == 0, cap.stderr
    payloads = []
    for _, frame in dpkt.pcap.Reader(io.BytesIO(cap.stdout)):
        data = bytes(dpkt.ethernet.Ethernet(frame).data.data.data)
        msg = auth.decode_and_verify(data)
        assert msg.get("src") == "f801", msg
        payloads.append(data)
    return payloads


def test_replayed_heartbeats_do_not_keep_a_dead_node_alive(seed: Lab) -> None:
    if shutil.which("tcpdump") is None:
        pytest.skip("needs tcpdump")
    a, b = start_cluster(seed, None)
    auth = Authenticator.from_authkeys(load_config_or_raise(a.confdir, "f801").authkeys)
    payloads = capture_f801(seed, auth, 15)  # about 3 s of heartbeats at 200 ms
    assert len(payloads) == 15
    replay = seed.hosts["f801"].dir / "replay.hex"
    write_lines(replay, payloads)
    before = b.status()
    assert before is not None

    f801 = seed.hosts["f801"]
    f801.kill_all()  # the power is pulled ...
    killed, killed_wall = time.monotonic(), time.time()
    for ifname in ("eth0", "eth1"):
        f801.set_link(ifname, up=False)
    # a machine without power holds no address (a killed process leaves it configured)
    run_ip("-n", f801.ns, "addr", "flush", "dev", "eth0")
    # ... and someone on the heartbeat network re-sends f801's packets from its address
    f801.set_link("eth1", up=True)
    out = f801.dir / "replay.out"
    with open(out, "w") as fh:
        sender = f801.popen([sys.executable, "-c", SENDER, str(replay), "0.05", str(REPLAY)],
                            stdout=fh, stderr=subprocess.STDOUT)

    def replay_started() -> float | None:
        words = out.read_text().split()
        return float(words[1]) if words[:1] == ["start"] and len(words) > 1 else None

    started = wait_for(replay_started, 5, interval=0.02, what="the replay started") - killed_wall
    assert started < DEADTIME / 2, f"the replay started {started:.2f} s after the power-off"

    wait_for(lambda: b.node_status("f801") == "dead", DEADTIME + 3, interval=0.1,
             what="f802 declares f801 dead despite the replay")
    dead = [t for t in log_times(b.log_text(), r"node f801: is dead") if t >= killed_wall]
    assert dead, b.log_text()[-3000:]
    took = dead[0] - killed_wall
    print(f"replay: started {started:.2f} s after the power-off; f801 dead after {took:.2f} s")
    assert DEADTIME - 1 <= took <= DEADTIME + 1, took
    wait_for(lambda: served_by(seed.hosts["client"]) == "f802", 10, interval=0.1,
             what="f802 serves the site")
    served = time.monotonic() - killed
    assert seed.hosts["client"].neighbour(VIP) == seed.hosts["f802"].mac("eth1")
    assert holders(seed) == ("f802",)
    # the replay goes on: f801 stays dead, the site stays on f802 (bounded by the sender)
    for _ in range(int(REPLAY / 0.3) + 5):
        if sender.poll() is not None:
            break
        assert b.node_status("f801") == "dead"
        assert served_by(seed.hosts["client"]) == "f802"
    sender.wait(timeout=REPLAY + 5)
    sent = int(out.read_text().split()[2])
    after = b.status()
    assert after is not None
    received = after["counters"]["packets_in"] - before["counters"]["packets_in"]
    print(f"replay: f802 served after {served:.2f} s; {sent} packets re-sent, "
          f"f802 received {received}")
    assert sent >= REPLAY / 0.05 / 2
    assert received >= sent * 0.9, (sent, received)  # the replay did reach f802's daemon
    assert after["counters"]["deaths_seen"] == before["counters"]["deaths_seen"] + 1
    assert b.node_status("f801") == "dead"


def stop_node(node: HapulseNode) -> None:
    """`hapulse stop`, which waits for the daemon's pid to go: the daemon is this test's
    child, so it is reaped while the stop waits."""
    stop = node.host.popen([HAPULSE, "stop", "--run-dir", str(node.run_dir)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert node.proc is not None and node.proc.wait(timeout=30) == 0
    assert stop.wait(timeout=10) == 0


def test_corrupt_generation_refuses_to_start_and_the_documented_recovery_rejoins(
        seed: Lab) -> None:
    """docs/operations.md "Hardening": a corrupt hb_generation stops the start (exit 74,
    naming the file and the recovery), never a silent generation 0; after
    `date +%s > hb_generation` the node rejoins with a newer generation."""
    a, b = start_cluster(seed, None, f801_generation=3)
    stop_node(a)
    wait_for(lambda: served_by(seed.hosts["client"]) == "f802", 10, interval=0.1,
             what="f802 serves once f801 stopped")
    gen = a.state_dir / GENERATION_NAME
    gen.write_bytes(b"\x00\x17garbage")
    r = a.host.run([HAPULSE, "start", "--foreground", "-c", str(a.confdir),
                    "--state-dir", str(a.state_dir), "--run-dir", str(a.run_dir)], timeout=30)
    assert r.returncode == 74, r.stdout + r.stderr
    assert f"{gen}: the generation file is corrupt" in r.stdout + r.stderr
    assert "date +%s" in r.stdout + r.stderr
    assert "Traceback" not in r.stdout + r.stderr
    assert holders(seed) == ("f802",) and served_by(seed.hosts["client"]) == "f802"
    assert b.node_status("f801") == "dead"  # nothing of f801 went on the wire

    now = int(time.time())
    gen.write_text(f"{now}\n")  # the documented recovery
    a.start()
    wait_for(lambda: (b.node("f801") or {}).get("generation") == now + 1, 15, interval=0.2,
             what="f802 sees f801 at the new generation")
    wait_for(lambda: served_by(seed.hosts["client"]) == "f801", 30, interval=0.2,
             what="the site back on f801")
    assert "older generation" not in b.log_text()
    assert holders(seed) == ("f801",)


def test_restart_with_an_empty_state_directory_rejoins_one_owner(seed: Lab) -> None:
    # f801 had a generation above any timestamp (a clock once set ahead): after the disk is
    # replaced it starts at the Unix time, which is older
    old = 10**10
    a, b = start_cluster(seed, None, f801_generation=old - 1)
    peer = b.node("f801")
    assert peer is not None and peer["generation"] == old, peer
    owners = OwnerSampler(seed, SAMPLE, limit=90)
    owners.start()
    try:
        stop_node(a)
        assert "f801" not in holders(seed)  # a graceful stop releases the address
        wait_for(lambda: served_by(seed.hosts["client"]) == "f802", 10, interval=0.1,
                 what="f802 serves once f801 stopped")
        shutil.rmtree(a.state_dir)  # the disk was replaced: no uuid, no generation
        a.start()
        restarted = time.monotonic()

        def rejoined() -> bool:
            n = b.node("f801")
            return n is not None and n["status"] == "active" and n["generation"] < old
        wait_for(rejoined, 15, interval=0.2, what="f802 sees f801 active at an older generation")
        joined = time.monotonic() - restarted
        new = int((a.state_dir / GENERATION_NAME).read_text().strip())
        assert abs(new - time.time()) < 60  # a fresh start takes the Unix time
        assert f"restarted with an older generation ({old} -> {new})" in b.log_text()
        # the seed's auto_failback (legacy): the site moves home to f801
        wait_for(lambda: served_by(seed.hosts["client"]) == "f801", 30, interval=0.2,
                 what="the site back on f801")
        home = time.monotonic() - restarted
        wait_for(lambda: time.monotonic() >= restarted + home + 3, 10, interval=0.2,
                 what="three seconds of observation")
        assert a.node_status("f802") == "active" and b.node_status("f801") == "active"
    finally:
        owners.stop()
    dual = [(round(t, 3), h) for t, h in owners.samples if len(h) > 1]
    print(f"empty state: rejoined after {joined:.2f} s, site home after {home:.2f} s; "
          f"{len(owners.samples)} samples, max interval {owners.max_interval():.3f} s")
    assert not dual, dual
    # the sampling saw every move (f801, f802 after the stop, f801 again) and never paused long
    held = [h for _, h in owners.samples if h]
    moves = [h for i, h in enumerate(held) if i == 0 or held[i - 1] != h]
    assert moves == [("f801",), ("f802",), ("f801",)], moves
    assert owners.max_interval() <= 0.25
    assert holders(seed) == ("f801",)
    assert seed.hosts["client"].neighbour(VIP) == seed.hosts["f801"].mac("eth0")
