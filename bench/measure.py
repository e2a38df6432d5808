"""What a daemon costs, read from outside: CPU seconds, resident memory, packets sent."""

from __future__ import annotations

import json
import os
from pathlib import Path

from hapulse.lab import Host


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far (vanished ones count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


def rss_mb(pids: list[int]) -> float:
    """Resident memory of these processes together, MB."""
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def tx_packets(host: Host) -> int:
    """Packets sent so far on every interface of the host but loopback."""
    r = host.run(["ip", "-s", "-j", "link", "show"], timeout=10)
    return sum(int(link.get("stats64", {}).get("tx", {}).get("packets", 0))
               for link in json.loads(r.stdout or "[]") if link.get("ifname") != "lo")
