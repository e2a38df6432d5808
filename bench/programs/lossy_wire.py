"""A lossy cable: forwards every Ethernet frame between the interfaces `left` and
`right` of the namespace it runs in (AF_PACKET), dropping each with probability LOSS.

    python lossy_wire.py LOSS SECONDS

It stands in for tc netem, which this kernel may lack; run at SCHED_FIFO like a
wire would, so CPU load does not delay it. Every 1000 frames it prints
"FRAMES DROPPED"; it stops after SECONDS.
"""

from __future__ import annotations

import random
import select
import socket
import sys
import time

ETH_P_ALL = 3


def main(argv: list[str]) -> int:
    loss, limit = float(argv[0]), float(argv[1])
    a = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    a.bind(("left", 0))
    b = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    b.bind(("right", 0))
    other = {a: b, b: a}
    frames = dropped = 0
    end = time.monotonic() + limit
    while time.monotonic() < end:
        for s in select.select([a, b], [], [], 1.0)[0]:
            frame, addr = s.recvfrom(65536)
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            frames += 1
            if random.random() < loss:
                dropped += 1
                continue
            other[s].send(frame)
        if frames and frames % 1000 == 0:
            print(frames, dropped, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
