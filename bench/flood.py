"""A garbage flood on the heartbeat link: what it costs hapulse, and whether the cluster notices.

    bash bench/run.sh --flood [--seconds 30] [--rates 10000,50000,0] [--sources own,spoofed]

The seed's cluster (two hapulse nodes, keepalive 200ms, warntime 1, deadtime 2 s) with the
heartbeat link on a switch; a third host (mallory) floods f802's port 694 at each rate (0: as
fast as it can), each packet from a random source port, for --seconds. Sources: ``own``
(mallory's address: the issue's flood; ucast's source check drops it in the kernel) or
``spoofed`` (written as f801's address, half of it starting with ``###\\n``: past every
kernel check, the decoder rejects it). Measured per run: the rate reached, f802's daemon CPU
(% of one core), the longest gap between f801's heartbeats on f802's wire (tcpdump on eth2,
f801's MAC only), `Late heartbeat` lines and deaths on f802, valid packets f802's daemon did
not get (f801's packets_out minus f802's packets_in less its rejects, between two status
snapshots: about ±2), f802's log lines and the kernel's drops on its socket.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dpkt

from hapulse.lab import wait_for
from hapulse.lab.flood import flood_lab, flood_result, start_flood
from hapulse.lab.ha_d import with_timers
from hapulse.lab.nodes import HapulseNode, seed_files, served_by, web_node


@dataclass(frozen=True)
class Row:
    source: str
    target: float
    rate: float
    cpu: float
    longest_gap: float
    late: int
    deaths: int
    lost: int
    log_lines: int
    kernel_drops: int
    rejected: int



def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _udp_drops(node: HapulseNode) -> int:
    text = node.host.run(["cat", "/proc/net/udp"], timeout=10).stdout
    return sum(int(w[-1]) for w in (ln.split() for ln in text.splitlines()[1:])
               if w[1].endswith(":02B6"))


def _status(node: HapulseNode) -> dict[str, Any]:
    st = node.status()
    if st is None:
        raise RuntimeError(f"{node.host.name}: no status")
    return st


def _gaps(pcap: bytes) -> float:
    times = [float(ts) for ts, _ in dpkt.pcap.Reader(io.BytesIO(pcap))]
    return max((b - a for a, b in zip(times, times[1:], strict=False)), default=float("nan"))


def run_one(source: str, rate: float, seconds: float, tag: int) -> Row:
    lab = flood_lab(f"hpbf{os.getpid() % 10000}-{tag}")
    try:
        nodes = []
        for name in ("f801", "f802"):
            files = seed_files(name)
            files["ha.cf"] = with_timers(files["ha.cf"])
            nodes.append(web_node(lab.hosts[name], files))
        a, b = nodes
        a.start()
        b.start()
        wait_for(lambda: served_by(lab.hosts["client"]) == "f801", 30, interval=0.2,
                 what="f801 serves the VIP")
        mac = lab.hosts["f801"].mac("eth1")
        cap = b.host.popen(["timeout", str(seconds + 5), "tcpdump", "-i", "eth2", "-U", "-w",
                            "-", f"ether src {mac} and udp dst port 694"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        log_before = len(b.log_text().splitlines())
        sa, sb = _status(a), _status(b)
        cpu0 = _cpu_seconds(int(sb["pid"]))
        spoofed = source == "spoofed"
        flood = start_flood(lab.hosts["mallory"], "10.0.0.2", seconds=seconds, rate=rate,
                            prefixed=0.5,
                            spoof="10.0.0.1" if spoofed else None)
        result = flood_result(flood, seconds + 60)
        cpu = (_cpu_seconds(int(sb["pid"])) - cpu0) / result.seconds * 100
        sa2, sb2 = _status(a), _status(b)
        pcap, _ = cap.communicate(timeout=seconds + 30)
        sent = sa2["counters"]["packets_out"] - sa["counters"]["packets_out"]
        got = ((sb2["counters"]["packets_in"] - sb["counters"]["packets_in"])
               - (sb2["counters"]["rejected"] - sb["counters"]["rejected"]))
        new = b.log_text().splitlines()[log_before:]
        return Row(source, rate, result.rate, cpu, _gaps(pcap),
                   sum("Late heartbeat" in ln for ln in new),
                   sb2["counters"]["deaths_seen"] + sa2["counters"]["deaths_seen"],
                   max(0, sent - got), len(new), _udp_drops(b),
                   sb2["counters"]["rejected"] - sb["counters"]["rejected"])
    finally:
        lab.close()
        shutil.rmtree(lab.workdir, ignore_errors=True)


def table(rows: Sequence[Row], seconds: float) -> str:
    out = [f"| source | target pps | reached pps | f802 CPU | longest heartbeat gap | "
           f"`Late heartbeat` | false deaths | valid packets lost | log lines in {seconds:g} s "
           "| rejected by the decoder | kernel drops |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r.source} | {'max' if r.target <= 0 else f'{r.target:,.0f}'} | "
                   f"{r.rate:,.0f} | {r.cpu:.0f}% | {r.longest_gap * 1000:.0f} ms | {r.late} | "
                   f"{r.deaths} | {r.lost} | {r.log_lines} | {r.rejected:,} | "
                   f"{r.kernel_drops:,} |")
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench.flood", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--rates", default="10000,50000,0")
    p.add_argument("--sources", default="own,spoofed")
    a = p.parse_args(argv)
    if os.geteuid() != 0:
        print("bench.flood: run as root (network namespaces)", file=sys.stderr)
        return 1
    rows = []
    tag = 0
    for source in a.sources.split(","):
        for rate in (float(r) for r in a.rates.split(",")):
            tag += 1
            started = time.monotonic()
            rows.append(run_one(source, rate, a.seconds, tag))
            print(f"{source} {rate:g}: {rows[-1]} ({time.monotonic() - started:.0f} s)",
                  file=sys.stderr, flush=True)
    print(table(rows, a.seconds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
