"""The heartbeat path in-process: µs per heartbeat received and per heartbeat sent.

    bash bench/run.sh --micro [--heartbeats 1000] [--repeat 15] [--method sha1] [--json]
    .venv/bin/python -m bench.micro ...

received: verify both signatures and read the fields (the wire's status fast path,
          ``Authenticator.verify_status``) + the membership core's ``receive_status``,
          as the daemon does; other packets would take decode + verify + ``receive``
sent:     the membership core's ``tick`` that builds a heartbeat + sign + encode (a
          status heartbeat is written from its pre-hashed template)
Each is also timed in its parts, and through the general path (a full ``Message``
decoded / encoded), which every other message type takes.

Two cores of the seed's cluster (f801 hearing f802 on eth1, the seed's sha1 key,
deadtime 30 s) on a virtual clock. Each repetition replays N heartbeats through
fresh cores (their set-up untimed), timed with ``time.perf_counter`` with the
garbage collector off (as timeit does, and as the daemon runs the heartbeat path);
the figure is (loop time / N), median and min over the repetitions, after one
warm-up. Each half is also timed in its two parts. Seconds, no root, no network.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from bench.machine import machine
from hapulse.actions import Send
from hapulse.membership import Membership, Timers
from hapulse.wire.auth import Authenticator
from hapulse.wire.message import Message

LOCAL, PEER, LINK = "f801", "f802", "eth1"
SEED_KEY = (2, b"HI!")  # the seed's authkeys: `auth 2` / `2 sha1 HI!`
# The virtual clock starts at a Unix-like time, so `ts` has its width on the wire; a
# heartbeat every STEP virtual seconds keeps a peer heard at start alive (warntime 10 s)
# through any run, so every tick sends one heartbeat and checks one live peer.
T0 = 1_795_000_000.0
STEP = 1e-4
SEED_TIMERS = {"deadtime": 30.0, "warntime": 10.0, "initdead": 120.0}


# ---- the coupling to hapulse's cores: one function each ------------------------------
# Only these three functions know the cores' API (measured on the membership core; the
# daemon drives it through hapulse.node.Node, which adds the policy's routing).
def new_core(local: str, peer: str, now: float) -> Membership:
    """A membership core of the seed's two-node cluster, one link."""
    return Membership(local=local, nodes=(LOCAL, PEER), links=(LINK,),
                      timers=Timers(keepalive=STEP / 2, **SEED_TIMERS), generation=1,
                      uuid=hashlib.md5(local.encode()).digest(), now=now)


def feed(core: Membership, msg: Message, now: float) -> None:
    """A verified heartbeat arrives on the link."""
    core.receive(msg, LINK, now)


def feed_packet(core: Membership, auth: Authenticator, packet: bytes, now: float) -> None:
    """A packet arrives on the link, read as the daemon reads it (the status fast path,
    else the general one)."""
    hb = auth.verify_status(packet)
    if hb is not None:
        core.receive_status(hb, LINK, now)
    else:
        core.receive(auth.decode_and_verify(packet), LINK, now)


def heartbeats(core: Membership, now: float) -> list[Message]:
    """The core's tick at `now`: the messages it sends."""
    return [a.msg for a in core.tick(now) if isinstance(a, Send)]


# ---- the workload -------------------------------------------------------------------
class Workload:
    """N heartbeats from f802 to f801: messages, signed packets, verified messages."""

    def __init__(self, n: int, auth: Authenticator) -> None:
        self.n, self.auth = n, auth
        self.times = [T0 + (i + 1) * STEP for i in range(n)]
        sender = self.live_core(PEER, LOCAL)
        self.messages = [m for t in self.times for m in heartbeats(sender, t)]
        if len(self.messages) != n:
            raise RuntimeError(f"{n} ticks sent {len(self.messages)} heartbeats, not {n}")
        self.packets = [auth.sign_and_encode(m) for m in self.messages]
        self.verified = [auth.decode_and_verify(p) for p in self.packets]
        self.fast = [auth.verify_status(p) for p in self.packets]
        if any(hb is None for hb in self.fast):
            raise RuntimeError("a heartbeat did not take the fast path")

    def receiver(self) -> Membership:
        return new_core(LOCAL, PEER, T0)

    def sender(self) -> Membership:
        return self.live_core(LOCAL, PEER)

    def live_core(self, local: str, peer: str) -> Membership:
        """A core that has heard its peer once at T0: `active`, with a live peer, as in a
        running cluster (its heartbeats say st=active)."""
        core = new_core(local, peer, T0)
        for m in heartbeats(new_core(peer, local, T0), T0):
            feed(core, self.auth.decode_and_verify(self.auth.sign_and_encode(m)), T0)
        return core


def _timed(loop: Callable[[], int], n: int) -> float:
    """Seconds per heartbeat of one run of `loop` (which returns how many it handled)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        done = loop()
        elapsed = time.perf_counter() - t0
    finally:
        if enabled:
            gc.enable()
    if done != n:
        raise RuntimeError(f"a run handled {done} heartbeats, not {n}")
    return elapsed / n


# ---- the cases: each builds its untimed state, then times one loop over N ------------
def received(w: Workload) -> float:
    core, auth = w.receiver(), w.auth

    def loop() -> int:
        for packet, now in zip(w.packets, w.times, strict=True):
            feed_packet(core, auth, packet, now)
        return len(w.packets)

    return _timed(loop, w.n)


def received_verify(w: Workload) -> float:
    auth = w.auth

    def loop() -> int:
        return len([auth.verify_status(packet) for packet in w.packets])

    return _timed(loop, w.n)


def received_membership(w: Workload) -> float:
    core = w.receiver()

    def loop() -> int:
        for hb, now in zip(w.fast, w.times, strict=True):
            assert hb is not None
            core.receive_status(hb, LINK, now)
        return len(w.fast)

    return _timed(loop, w.n)


def received_general(w: Workload) -> float:
    core, auth = w.receiver(), w.auth

    def loop() -> int:
        for packet, now in zip(w.packets, w.times, strict=True):
            feed(core, auth.decode_and_verify(packet), now)
        return len(w.packets)

    return _timed(loop, w.n)


def received_decode_verify(w: Workload) -> float:
    auth = w.auth

    def loop() -> int:
        return len([auth.decode_and_verify(packet) for packet in w.packets])

    return _timed(loop, w.n)


def received_membership_general(w: Workload) -> float:
    core = w.receiver()

    def loop() -> int:
        for msg, now in zip(w.verified, w.times, strict=True):
            feed(core, msg, now)
        return len(w.verified)

    return _timed(loop, w.n)


def sent(w: Workload) -> float:
    core, auth = w.sender(), w.auth

    def loop() -> int:
        out = []
        for now in w.times:
            for msg in heartbeats(core, now):
                out.append(auth.sign_and_encode(msg))
        return len(out)

    return _timed(loop, w.n)


def sent_membership(w: Workload) -> float:
    core = w.sender()

    def loop() -> int:
        return sum(len(heartbeats(core, now)) for now in w.times)

    return _timed(loop, w.n)


def sent_sign_encode(w: Workload) -> float:
    auth = w.auth

    def loop() -> int:
        return len([auth.sign_and_encode(msg) for msg in w.messages])

    return _timed(loop, w.n)


def sent_general(w: Workload) -> float:
    core, auth = w.sender(), w.auth

    def loop() -> int:
        out = []
        for now in w.times:
            for msg in heartbeats(core, now):
                out.append(auth.sign_and_encode_general(msg))
        return len(out)

    return _timed(loop, w.n)


def sent_sign_encode_general(w: Workload) -> float:
    auth = w.auth

    def loop() -> int:
        return len([auth.sign_and_encode_general(msg) for msg in w.messages])

    return _timed(loop, w.n)


CASES: tuple[tuple[str, str, Callable[[Workload], float]], ...] = (
    ("received", "received: verify_status + membership.receive_status", received),
    ("received.verify", "  verify_status (both signatures, the fields)", received_verify),
    ("received.membership", "  membership.receive_status", received_membership),
    ("received.general", "received, general path: decode + verify + receive",
     received_general),
    ("received.general.decode_verify", "  decode + verify (both signatures)",
     received_decode_verify),
    ("received.general.membership", "  membership.receive", received_membership_general),
    ("sent", "sent: membership.tick + sign + encode (template)", sent),
    ("sent.membership", "  membership.tick (builds the heartbeat)", sent_membership),
    ("sent.sign_encode", "  sign + encode (template)", sent_sign_encode),
    ("sent.general", "sent, general path: membership.tick + sign + encode", sent_general),
    ("sent.general.sign_encode", "  sign + encode (general)", sent_sign_encode_general),
)


@dataclass(frozen=True)
class Figure:
    name: str
    label: str
    median_us: float
    min_us: float


def run(heartbeats_per_run: int, repeat: int, auth: Authenticator) -> list[Figure]:
    w = Workload(heartbeats_per_run, auth)
    figures = []
    for name, label, case in CASES:
        case(w)  # warm-up
        per = [case(w) * 1e6 for _ in range(repeat)]
        figures.append(Figure(name, label, statistics.median(per), min(per)))
    return figures


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.micro", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--heartbeats", type=int, default=1000, help="heartbeats per run")
    p.add_argument("--repeat", type=int, default=15, help="timed runs per figure")
    p.add_argument("--method", choices=("sha1", "md5", "crc"), default="sha1",
                   help="signature method (the seed's is sha1)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    if args.heartbeats < 1 or args.repeat < 1:
        p.error("--heartbeats and --repeat must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    auth = Authenticator(args.method, SEED_KEY[0], SEED_KEY[1])
    figures = run(args.heartbeats, args.repeat, auth)
    if args.json:
        print(json.dumps({"unit": "µs per heartbeat", "heartbeats": args.heartbeats,
                          "repeat": args.repeat, "method": args.method, "machine": machine(),
                          "figures": [asdict(f) for f in figures]}, indent=2, ensure_ascii=False))
        return 0
    print(f"hapulse heartbeat path, µs per heartbeat: median (min) of {args.repeat} runs "
          f"x {args.heartbeats} heartbeats, {args.method}")
    print(f"Machine: {machine()}")
    width = max(len(f.label) for f in figures)
    for f in figures:
        print(f"{f.label:<{width}}  {f.median_us:7.1f} ({f.min_us:.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
