"""The report: the tables of a run, in Markdown (printed and written to
docs/benchmarks.md), with the machine, the versions and the notes that say how
the figures were taken."""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time
from pathlib import Path

from bench.machine import machine
from bench.results import Results
from bench.scenarios import SCALE_TIMERS
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
    "N nodes: every node hears every other, N x (N - 1) heartbeats per keepalive; at "
    "32 nodes and 100 ms that is about 10,000 packets a second for this machine's CPUs, "
    "more than 32 Python daemons keep up with, so the scaling runs at keepalive 250ms.",
    "'links down' sets both of f801's interfaces down; afterwards f801 is 'rebooted' "
    "(processes killed, the floating address removed, links up, daemon started) before "
    "the failback is measured. Packets per second count every packet the two nodes send "
    "(no client traffic during the idle window).",
    "Heartbeat's false failovers are its `is dead` log lines; keepalived's its backup "
    "entering MASTER state; hapulse's its deaths_seen counter.",
]

GAP_ROWS = (("gap_kill", "gap, processes killed (ms)"),
            ("gap_links", "gap, links down (ms)"),
            ("served_kill", "kill to first answer from f802 (ms)"),
            ("failback", "failback gap (ms)"),
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
    out.append("Gaps: median (min-max) over the repetitions, as seen by a client "
               "polling http://192.168.1.118/ every 20 ms (a new try every 20 ms, each "
               "waiting up to 0.5 s; times are when answers arrive).")
    out.append("")
    return out


def _scaling_table(res: Results) -> list[str]:
    out = ["## hapulse with N nodes", "",
           f"bcast on one switch, keepalive {SCALE_TIMERS[0]}, deadtime {SCALE_TIMERS[2]}; "
           "one node killed, every survivor must log it dead.", "",
           "| nodes | idle CPU per node (s/min) | RSS per node (MB) | "
           "death detected, median (s) | max (s) |", "|---|---|---|---|---|"]
    for r in res.scaling:
        out.append(f"| {r['nodes']:.0f} | {r['cpu_s_per_min_per_node']:.2f} | "
                   f"{r['rss_mb']:.1f} | {r['detect_median']:.3f} | {r['detect_max']:.3f} |")
    out.append("")
    return out


def _soak_text(res: Results) -> list[str]:
    return ["## Soak", "",
            f"hapulse at its fastest settings ({timers_text('hapulse', 'fast')}) for "
            f"{res.soak['seconds']:.0f} s, both nodes under full CPU load (stress-ng, one "
            "worker per CPU in each node), 5% loss each way on the heartbeat link "
            f"(a lossy wire: {res.soak['dropped']:.0f} of {res.soak['frames']:.0f} frames "
            "dropped at random): **"
            f"{res.soak['false_failovers']:.0f} false failovers**; the client got "
            f"{res.soak['answers_from_f802']:.0f} answers from f802.", ""]


def report(res: Results, args: argparse.Namespace, started: float) -> str:
    out = ["# Benchmarks", "",
           f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
           f"`bash bench/run.sh {' '.join(args.argv)}` in {(time.time() - started) / 60:.0f} min.",
           "", "Machine: " + machine(), "",
           "Versions: " + _versions(), ""]
    for setting, title in (("fast", "Fastest settings"), ("seed", "The seed's timers")):
        out += _setting_table(res, setting, title, args.idle)
    if res.scaling:
        out += _scaling_table(res)
    if res.soak:
        out += _soak_text(res)
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


GENERATED = ("Fastest settings", "The seed's timers", "hapulse with N nodes", "Soak", "Notes")


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
