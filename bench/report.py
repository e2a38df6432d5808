"""The report: the tables of a run, in Markdown (printed and written to
docs/benchmarks.md), with the machine, the versions and the notes that say how
the figures were taken."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

from bench.cluster import REALTIME
from bench.machine import machine
from bench.results import Results
from bench.scenarios import HOLD_TIMERS, SCALE_TIMERS
from bench.systems import timers_text

KINDS = ["hapulse", "heartbeat", "keepalived"]

NOTES = [
    "The lab is the seed's topology (`hapulse.lab.seed_lab`) with f802's LAN interface "
    "named eth0: resource-agents 4.12's IPaddr, which Heartbeat runs, cannot take the "
    "address over on the guide's eth1 (see docs/resources.md).",
    "At the fastest settings every system moves only the address and the web server runs "
    "on both nodes (keepalived's model; haresources `f801 192.168.1.118`), so the gap is the "
    "failover machinery alone. At the seed's timers hapulse and Heartbeat run the guide's "
    "group, address then httpd (an LSB script starting a Python HTTP server).",
    "hapulse and Heartbeat send heartbeats on the dedicated link (ucast, as the seed); at "
    "its fastest settings hapulse also sends them over the LAN (`ucast eth0 PEER`, a "
    "second medium as Heartbeat allows), so one lost packet on one path is no silence; "
    "the soak's loss is on the dedicated link. keepalived sends VRRP version 3 adverts "
    "on the LAN (multicast), priority 150 on f801, 100 on f802, preemption on (the "
    "failback).",
    "N nodes: every node hears every other, N x (N - 1) heartbeats per keepalive: at "
    "100 nodes and 1 s, 9,900 packets a second received by 100 Python daemons on this "
    "machine's CPUs; at 250 ms four times that, which is what the search for the largest "
    "N that holds measures.",
    "'links down' sets both of f801's interfaces down; afterwards f801 is 'rebooted' "
    "(processes killed, the floating address removed, links up, daemon started) before "
    "the failback is measured. Packets per second count every packet the two nodes send "
    "(no client traffic during the idle window).",
    "Heartbeat's false failovers are its `is dead` log lines; keepalived's its backup "
    "entering MASTER state; hapulse's its deaths_seen counter.",
]

HOW_TO_READ = [
    "**kill to f802's first answer** is the failover time: from the moment the bench "
    "kills f801's processes (or sets its links down) to the arrival, at the client, of "
    "the first answer sent by f802, read on CLOCK_MONOTONIC, which the bench and the "
    "client share. It contains the death's detection (deadtime, or keepalived's 3 "
    "adverts + skew), the takeover (the address added, gratuitous ARP) and up to 1 ms of "
    "the probe's step plus the way back (well under 1 ms on veth). **client's gap** is "
    "what a user sees: from f801's last answer to f802's first, so it also holds the "
    "time f801 was already silent before it died (0-1 ms when killed).",
    "The probe (hapulse.lab.udpprobe) sends one datagram every 1 ms, each with a "
    "sequence number, and matches answers to send times by it; a slot missed by a late "
    "wake-up is skipped, never made up in a burst. The prober and the echoes run at "
    "SCHED_FIFO 50 so that their own wake-ups are not what is measured; on this 2-CPU VM "
    "a daemon's wake-up still waits for whatever else runs, so single figures move by a "
    "few ms between runs: compare medians, and minimums for what the code can do.",
    "The echo answers as soon as the address is on f802, before any other resource of "
    "the group is up. With the seed's group (address, then httpd) the HTTP rows add the "
    "web server (a Python HTTP server started by its LSB script) as the old HTTP poller "
    "saw it: a GET every 20 ms, so to 20 ms.",
    "**failback** is the client's gap when f801 returns (f802's last answer to f801's "
    "first): both nodes run, so it is the hand-over itself (release on f802, takeover on "
    "f801), not a detection. **planned switchover** is the same for `hapulse standby`.",
    "What limits the gaps now: the deadtime. Silence is counted from the victim's last "
    "heartbeat, which left 0 to one keepalive before the kill, so a gap is deadtime "
    "minus that phase, plus how late the survivor's timer fires and the takeover; at "
    "the seed's timers the 30 s deadtime is nearly all of it.",
    "**N nodes**: *idle CPU per node* is each daemon's user+system time over the idle "
    "window (/proc/PID/stat), the mean over the nodes and the busiest node; *machine CPU "
    "busy* is all CPUs' non-idle time (/proc/stat) over the same window, 100% being "
    "every CPU busy, and includes whatever else runs on the machine. *deaths idle* are "
    "the deaths the daemons counted in the window (`deaths_seen`, read on their control "
    "sockets: exact, where log lines are within each peer's churn budget); *`Late "
    "heartbeat` lines logged* are log lines, so a storm's count is a lower bound. "
    "*death detected* is "
    "from the kill (wall clock) to the `node n000: is dead` line of each survivor (its "
    "millisecond timestamp): deadtime minus the time since the victim's last heartbeat "
    "(0 to one keepalive), plus how late each daemon gets the CPU.",
    "**Largest N at 250 ms**: all N daemons share this machine's CPUs (on real machines "
    "each node has its own). When the CPUs are saturated, heartbeats are read late, "
    "`Late heartbeat` lines then false deaths follow, and the retransmission requests of "
    "a node that was declared dead and returns add to the load: that is what bounds N "
    "here, the CPUs, not the protocol (memory: ~28 MB a node). The daemons run with "
    "`realtime off` unless --scale-realtime: N SCHED_FIFO daemons on 2 CPUs starve the "
    "bench's own tools and each other's start-up.",
]

GAP_ROWS = (("served_kill", "processes killed: kill to f802's first answer (ms)"),
            ("gap_kill", "processes killed: client's gap, f801's last answer to f802's "
             "first (ms)"),
            ("http_kill", "processes killed: kill to f802's first HTTP answer, 20 ms "
             "polls (ms)"),
            ("served_links", "links down: links down to f802's first answer (ms)"),
            ("gap_links", "links down: client's gap (ms)"),
            ("http_links", "links down: links down to f802's first HTTP answer, 20 ms "
             "polls (ms)"),
            ("failback", "failback: client's gap, f802's last answer to f801's first (ms)"),
            ("standby", "planned switchover gap, `hapulse standby` (ms)"))

def _fmt(values: list[float] | None, ms: bool = True) -> str:
    if not values:
        return "-"

    def f(v: float) -> str:
        return f"{v * 1000:.0f}" if ms else f"{v:.2f}"

    return f"{f(statistics.median(values))} ({f(min(values))}-{f(max(values))})"


def _ratio(a: list[float] | float | None, b: list[float] | float | None) -> str:
    if a is None or b is None or a == [] or b == []:
        return "-"
    va = statistics.median(a) if isinstance(a, list) else a
    vb = statistics.median(b) if isinstance(b, list) else b
    return f"{va / vb:.2f}" if vb else "-"


def _per_packet(idle: dict[str, float]) -> float | None:
    """CPU per packet: compares daemons that send at different rates."""
    return idle["cpu_s_per_min"] / 60 / idle["pps"] * 1e6 if idle.get("pps") else None


def _setting_table(res: Results, setting: str, title: str, idle_s: float) -> list[str]:
    out = [f"## {title}", ""]
    out.append("| | " + " | ".join(
        f"{k} ({timers_text(k, setting)})" for k in KINDS) + " | hapulse/heartbeat | "
        "hapulse/keepalived |")
    out.append("|---" * 6 + "|")
    for metric, label in GAP_ROWS:
        vals = {k: res.rows.get((k, setting, metric)) for k in KINDS}
        if not any(vals.values()):
            continue
        out.append(f"| {label} | " + " | ".join(_fmt(vals[k]) for k in KINDS)
                   + f" | {_ratio(vals['hapulse'], vals['heartbeat'])} | "
                   f"{_ratio(vals['hapulse'], vals['keepalived'])} |")
    idle = {k: res.idle.get((k, setting)) for k in KINDS}
    if any(idle.values()):
        for metric, label, fmt in (
                ("cpu_s_per_min", "idle CPU, s per minute (busier node)", "{:.2f}"),
                ("rss_mb", "resident memory, MB (per node)", "{:.1f}"),
                ("pps", "packets per second (both nodes)", "{:.0f}"),
                ("us_per_packet", "idle CPU per packet, µs (busier node's CPU / "
                 "cluster packets)", "{:.0f}"),
                ("false_failovers", f"false failovers in {idle_s:.0f} s idle", "{:.0f}")):
            got = {k: (_per_packet(v) if metric == "us_per_packet" else v[metric])
                   if v else None for k, v in idle.items()}
            cells = ["-" if got[k] is None else fmt.format(got[k]) for k in KINDS]
            out.append(f"| {label} | " + " | ".join(cells) + " | "
                       + _ratio(got["hapulse"], got["heartbeat"]) + " | "
                       + _ratio(got["hapulse"], got["keepalived"]) + " |")
    out.append("")
    out.append("Gaps: median (min-max) over the repetitions, to the millisecond, as seen "
               "by a client sending a UDP datagram to 192.168.1.118:7007 every 1 ms and "
               "timing the answers (each names the node that sent it); see *How to read "
               "the figures*.")
    out.append("")
    return out


def _scaling_table(res: Results) -> list[str]:
    out = ["## hapulse with N nodes", "",
           f"bcast on one switch (a bridge in the lab's namespace), {SCALE_TIMERS.text()}, "
           f"realtime {'on' if REALTIME['realtime'] else 'off'}, "
           "no resources; nodes started 10 at a time, initdead 1.5 s a node + 20 s (30 s "
           "at least). After the idle window one node is killed and every survivor must "
           "log it dead.", "",
           "| nodes | started in (s) | idle CPU per node, s/min (busiest) | machine CPU "
           "busy (%) | RSS per node (MB) | deaths idle | death detected, median "
           "(ms) | min-max (ms) | survivors that logged it |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in res.scaling:
        out.append(f"| {r['nodes']:.0f}{'' if r['came_up'] else ' (not all active)'} | "
                   f"{r['start_s']:.0f} | "
                   f"{r['cpu_s_per_min_per_node']:.2f} ({r['cpu_s_per_min_max']:.2f}) | "
                   f"{r['machine_busy_pct']:.0f} | {r['rss_mb']:.1f} | "
                   f"{r['false_deaths']:.0f} in {r['idle_s']:.0f} s | "
                   + (f"{r['detect_median'] * 1000:.0f} | {r['detect_min'] * 1000:.0f}-"
                      f"{r['detect_max'] * 1000:.0f}" if r["saw_it"] else "- | -")
                   + f" | {r['saw_it']:.0f} of "
                   f"{r['survivors']:.0f} |")
    out.append("")
    return out


def _hold_table(res: Results) -> list[str]:
    out = ["## Largest N at keepalive 250 ms", "",
           f"The same cluster at {HOLD_TIMERS.text()}: a size *holds* when every node "
           f"comes up and no death is logged in {res.hold_idle:.0f} s idle. Sizes double "
           "from the first tried until one fails (or 100 holds), then the interval is "
           "halved; tried in this order:", "",
           "| nodes | result | deaths idle | `Late heartbeat` lines logged | machine CPU "
           "busy (%) | idle CPU per node, s/min (busiest) | RSS per node (MB) |",
           "|---|---|---|---|---|---|---|"]
    for r in res.hold:
        if r.get("failed"):
            out.append(f"| {r['nodes']:.0f} | did not come up | - | - | - | - | - |")
            continue
        result = ("holds" if r["held"] else "false deaths" if r["came_up"]
                  else "not all active in initdead + 120 s")
        out.append(f"| {r['nodes']:.0f} | {result} | "
                   f"{r['false_deaths']:.0f} in {r['idle_s']:.0f} s | "
                   f"{r['late_warnings']:.0f} | {r['machine_busy_pct']:.0f} | "
                   f"{r['cpu_s_per_min_per_node']:.2f} ({r['cpu_s_per_min_max']:.2f}) | "
                   f"{r['rss_mb']:.1f} |")
    out.append("")
    if res.hold_max and not res.hold_fail:
        verdict = (f"**{res.hold_max} nodes held**, the largest size tried"
                   + (" (Heartbeat's MAXNODE)." if res.hold_max >= 100 else
                      "; larger sizes were not tried (--hold-trials)."))
    elif res.hold_max:
        verdict = (f"**The largest N that held: {res.hold_max}**; {res.hold_fail} did not, "
                   "so the limit lies between them.")
    else:
        verdict = f"**No size held**; the smallest that failed: {res.hold_fail}."
    out += [verdict + f" Idle window {res.hold_idle:.0f} s per size.", ""]
    return out


def _soak_text(res: Results) -> list[str]:
    return ["## Soak", "",
            f"hapulse at its fastest settings ({timers_text('hapulse', 'fast')}) for "
            f"{res.soak['seconds']:.0f} s, both nodes under full CPU load (stress-ng, one "
            "worker per CPU in each node), 5% loss each way on the heartbeat link "
            f"(a lossy wire: {res.soak['dropped']:.0f} of {res.soak['frames']:.0f} frames "
            "dropped at random): **"
            f"{res.soak['false_failovers']:.0f} false failovers**; the client (a datagram "
            f"a millisecond) got {res.soak['answers_from_f802']:.0f} answers from f802.", ""]


def report(res: Results, args: argparse.Namespace, started: float) -> str:
    out = ["# Benchmarks", "",
           f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
           f"`bash bench/run.sh {' '.join(args.argv)}` in {(time.time() - started) / 60:.0f} min.",
           "", "Machine: " + machine(), "",
           "Versions: " + _versions(), ""]
    for setting, title in (("fast", "Fastest settings"), ("seed", "The seed's timers")):
        if any(k[1] == setting for k in res.rows) or any(k[1] == setting for k in res.idle):
            out += _setting_table(res, setting, title, args.idle)
    if res.scaling:
        out += _scaling_table(res)
    if res.hold:
        out += _hold_table(res)
    if res.soak:
        out += _soak_text(res)
    out += ["## How to read the figures", ""] + [f"- {n}" for n in HOW_TO_READ] + [""]
    out += ["## Notes", ""] + [f"- {n}" for n in res.notes] + [""]
    return "\n".join(out)


def _versions() -> str:
    out = []
    for pkg in ("heartbeat", "keepalived", "resource-agents"):
        r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True,
                           text=True)
        out.append(f"{pkg} {r.stdout.strip() or '?'}")
    from hapulse import __version__
    return f"hapulse {__version__}, " + ", ".join(out)


GENERATED = ("Fastest settings", "The seed's timers", "hapulse with N nodes",
             "Largest N at keepalive 250 ms", "Soak", "How to read the figures", "Notes")


def hand_written(old: str) -> str:
    """The sections of an earlier report that people wrote (any `## ` heading the report
    does not generate, to the next heading), in their order."""
    kept: list[str] = []
    keep = False
    for line in old.splitlines():
        if line.startswith("## "):
            keep = line[3:].strip() not in GENERATED
        if keep:
            kept.append(line)
    return "\n".join(kept)


def write(path: Path, text: str) -> None:
    """Write the report, keeping the hand-written sections of the file it replaces
    (how to read the figures, the microbenchmark) after the generated ones."""
    kept = hand_written(path.read_text()) if path.exists() else ""
    path.write_text(text + ("\n" + kept.rstrip("\n") + "\n" if kept else ""))
