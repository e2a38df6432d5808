"""Observers for netns tests: who holds the address, what the client gets, when.

Both observers are threads sampling at a fixed interval, bounded in time and in
samples; each sample carries its `time.monotonic()` so tests can measure from an
event (a heal, a resume) they timed with the same clock.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

from hapulse.lab import Host, Lab
from hapulse.lab.host import IP
from hapulse.lab.nodes import VIP, HapulseNode
from hapulse.runtime import PID_NAME

NODES = ("f801", "f802")



def holds(host: Host, vip: str = VIP) -> bool:
    """Whether `host` has `vip` on one of its interfaces (`ip -4 -o addr show` in its netns)."""
    r = subprocess.run([IP, "-n", host.ns, "-4", "-o", "addr", "show"], capture_output=True,
                       text=True, timeout=5)
    return f" {vip}/" in r.stdout


def holders(lab: Lab, vip: str = VIP) -> tuple[str, ...]:
    return tuple(n for n in NODES if holds(lab.hosts[n], vip))


def daemon_pid(node: HapulseNode) -> int:
    """The real daemon's PID (its pid file), not the lab wrapper's."""
    return int((node.run_dir / PID_NAME).read_text().split()[0])


class Sampler(threading.Thread):
    """Base: run `sample()` every `interval` s until stopped or `limit` s have passed."""

    def __init__(self, interval: float, limit: float) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.limit = limit
        self._halt = threading.Event()

    def sample(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        end = time.monotonic() + self.limit
        for _ in range(int(self.limit / self.interval) + 1):
            start = time.monotonic()
            if self._halt.is_set() or start >= end:
                return
            self.sample()
            self._halt.wait(max(0.0, self.interval - (time.monotonic() - start)))

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


class OwnerSampler(Sampler):
    """(time, hosts holding the VIP), every `interval` s (`ip -4 -o addr show` in each)."""

    def __init__(self, lab: Lab, interval: float = 0.05, limit: float = 120) -> None:
        super().__init__(interval, limit)
        self.lab = lab
        self.samples: list[tuple[float, tuple[str, ...]]] = []

    def sample(self) -> None:
        t = time.monotonic()
        self.samples.append((t, holders(self.lab)))

    def after(self, t0: float) -> list[tuple[float, tuple[str, ...]]]:
        return [s for s in self.samples if s[0] >= t0]

    def settled(self, t0: float) -> tuple[float, float]:
        """When two holders were last seen after `t0` (`t0` if never) and the first sample
        from which no later one shows two: the moment one owner remained is in between."""
        after = self.after(t0)
        assert after, "no ownership sample after the event"
        last_dual = max((i for i, (_, h) in enumerate(after) if len(h) > 1), default=-1)
        assert last_dual + 1 < len(after), f"two holders until the last sample: {after[-1]}"
        return (after[last_dual][0] if last_dual >= 0 else t0), after[last_dual + 1][0]

    def max_interval(self) -> float:
        ts = [t for t, _ in self.samples]
        return max((b - a for a, b in zip(ts, ts[1:], strict=False)), default=0.0)


class ClientProbe(Sampler):
    """The client fetching http://VIP/ back to back: (start, end, answer or None)."""

    def __init__(self, client: Host, interval: float = 0.05, limit: float = 120,
                 timeout: float = 0.3) -> None:
        super().__init__(interval, limit)
        self.client = client
        self.timeout = timeout
        self.answers: list[tuple[float, float, str | None]] = []

    def sample(self) -> None:
        t = time.monotonic()
        r = self.client.run(["curl", "-s", "--max-time", str(self.timeout),
                             f"http://{VIP}/"], timeout=5)
        self.answers.append((t, time.monotonic(), r.stdout.strip() or None))

    def after(self, t0: float) -> list[tuple[float, float, str | None]]:
        return [a for a in self.answers if a[0] >= t0]

    def longest_gap(self, t0: float, t1: float) -> float:
        """Longest time in [t0, t1] without an answer (from t0 or the last answer)."""
        last, gap = t0, 0.0
        for start, end, answer in self.answers:
            if answer is None or end < t0 or start > t1:
                continue
            gap = max(gap, start - last)
            last = max(last, end)
        return max(gap, t1 - last)


def log_times(log: str, pattern: str) -> list[float]:
    """Unix times of the log lines matching `pattern` (their `YYYY/MM/DD_HH:MM:SS.mmm`
    stamps are local wall-clock time), in order."""
    out = []
    for line in log.splitlines():
        if re.search(pattern, line):
            m = re.search(r"\d{4}/\d\d/\d\d_\d\d:\d\d:\d\d(?:\.\d+)?", line)
            assert m, f"no timestamp in {line!r}"
            fmt = "%Y/%m/%d_%H:%M:%S.%f" if "." in m.group() else "%Y/%m/%d_%H:%M:%S"
            out.append(datetime.strptime(m.group(), fmt).timestamp())
    return out


def write_lines(path: Path, payloads: list[bytes]) -> None:
    """Payloads as hex lines (read back by the replay sender)."""
    path.write_text("".join(p.hex() + "\n" for p in payloads))
