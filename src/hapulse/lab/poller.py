"""The client's view of a floating address: an HTTP poll every 20 ms, answers timed.

Used by the demo and the benchmarks to measure service gaps as a client sees
them: a GET starts every interval whatever earlier ones do, and each answer
is recorded with the time it arrived and the node that sent it.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from dataclasses import dataclass, field

from hapulse.lab.host import Host
from hapulse.lab.nodes import VIP

POLL_INTERVAL = 0.020

# runs inside the client's namespace: a GET / to VIP:80 starts every `interval` seconds,
# whether or not earlier ones have answered (one that hangs on a dead node does not
# delay the next); one line per try when it ends: "start end answer" (answer: the
# node's name, or - for no answer within `timeout`)
POLLER = textwrap.dedent("""
    import socket, sys, threading, time
    host = sys.argv[1]
    interval, limit, timeout = (float(a) for a in sys.argv[2:5])
    request = ("GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n" % host).encode()
    out = threading.Lock()

    def fetch(t):
        who = "-"
        try:
            with socket.create_connection((host, 80), timeout=timeout) as s:
                s.sendall(request)
                data = b""
                while len(data) < 65536:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    data += chunk
            body = data.split(b"\\r\\n\\r\\n", 1)[-1].decode(errors="replace").strip()
            who = body.split()[0] if body else "?"
        except OSError:
            pass
        with out:
            print(f"{t:.6f} {time.monotonic():.6f} {who}", flush=True)

    end = time.monotonic() + limit
    tick = time.monotonic()
    while tick < end:
        threading.Thread(target=fetch, args=(tick,), daemon=True).start()
        tick += interval
        time.sleep(max(0.0, tick - time.monotonic()))
""")


def start_poller(client: Host, vip: str = VIP, interval: float = POLL_INTERVAL,
                 timeout: float = 0.5, limit: float = 3600) -> Poller:
    """A client polling http://VIP/ from inside its namespace (bounded by `limit` seconds)."""
    return Poller(client.popen(
        [sys.executable, "-c", POLLER, vip, str(interval), str(limit), str(timeout)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))


@dataclass
class Poller:
    """The client's view: (answer time, answering node or '-') for every 20 ms poll."""

    proc: subprocess.Popen[str]
    answers: list[tuple[float, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 3:
                with self._lock:
                    self.answers.append((float(parts[1]), parts[2]))

    def since(self, t: float) -> list[tuple[float, str]]:
        with self._lock:
            return sorted(a for a in self.answers if a[0] >= t)

    def last(self) -> tuple[float, str] | None:
        with self._lock:
            return max(self.answers) if self.answers else None

    def longest_wait(self, since: float) -> float:
        """The longest time between two answers (from any node) from `since` on."""
        answered = [t for t, who in self.since(since) if who != "-"]
        return max((b - a for a, b in zip(answered, answered[1:], strict=False)), default=0.0)

    def gap(self, t0: float, old: str, new: str) -> tuple[float, float]:
        """From t0: (time to the first answer from `new`, the service gap: from the last
        answer by `old` to the first by `new`)."""
        answers = self.since(t0 - 1.0)
        first_new = next(t for t, who in answers if who == new and t >= t0)
        last_old = max((t for t, who in answers if who == old and t <= first_new), default=t0)
        return first_new - t0, first_new - last_old
