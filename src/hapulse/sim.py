"""A virtual clock and an in-memory network driving real membership cores.

Deterministic from a seed: per link loss, delay, jitter (which reorders),
duplication and partitions; nodes can be killed and restarted with a new
generation. Packets go through the real codec and signatures
(``hapulse.wire``) unless ``codec=False``. Simulated minutes run in
milliseconds, so protocol scenarios are ordinary unit tests.

    sim = Sim(["f801", "f802"], links=["eth1", "eth0"], keepalive=1, deadtime=10)
    sim.start_all()
    sim.run_for(60)
    sim.kill("f801")
    sim.run_for(15)
    assert sim.status("f802", "f801") == "dead"
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from hapulse.membership import Deliver, LinkStatus, Log, Membership, NodeStatus, Send
from hapulse.wire.auth import Authenticator
from hapulse.wire.message import Message


@dataclass
class LinkParams:
    loss: float = 0.0
    delay: float = 0.0005
    jitter: float = 0.0
    duplicate: float = 0.0
    up: bool = True


@dataclass
class TraceEvent:
    time: float
    node: str
    kind: str  # "node", "link", "log", "deliver", "send"
    detail: Any


@dataclass
class SimNode:
    name: str
    links: tuple[str, ...]
    core: Membership | None = None
    generation: int = 0
    cut: set[str] = field(default_factory=set)  # links unplugged on this node
    version: int = 0  # invalidates scheduled ticks after a restart
    tick_at: float | None = None  # the one tick that counts; others queued are stale


class Sim:
    def __init__(
        self,
        nodes: Sequence[str],
        links: Sequence[str] = ("eth1",),
        keepalive: float = 1.0,
        deadtime: float = 10.0,
        warntime: float | None = None,
        initdead: float | None = None,
        seed: int = 0,
        codec: bool = True,
        on_action: Callable[[str, Any, float], list[Any]] | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        self.now = 0.0
        self.keepalive = keepalive
        self.deadtime = deadtime
        self.warntime = warntime if warntime is not None else deadtime * 0.75
        self.initdead = initdead if initdead is not None else deadtime * 2
        self.names = list(nodes)
        self.link_names = tuple(links)
        self.nodes = {n: SimNode(n, self.link_names) for n in nodes}
        self.params: dict[str, LinkParams] = {link: LinkParams() for link in self.link_names}
        self.partitions: list[set[str]] | None = None
        self.trace: list[TraceEvent] = []
        self._queue: list[tuple[float, int, str, Any]] = []
        self._counter = 0
        self.auth = Authenticator("sha1", 1, b"sim-secret") if codec else None
        self.on_action = on_action
        self.packets = 0

    # ---- scheduling ---------------------------------------------------------
    def _push(self, t: float, kind: str, payload: Any) -> None:
        self._counter += 1
        heapq.heappush(self._queue, (t, self._counter, kind, payload))

    def _schedule_tick(self, node: SimNode) -> None:
        """One live tick per node, like the daemon's single timer (a re-armed timer)."""
        if node.core is None:
            return
        when = max(node.core.next_deadline(), self.now)
        if node.tick_at is not None and self.now <= node.tick_at <= when:
            return  # an earlier tick is due; it schedules the next one
        node.tick_at = when
        self._push(when, "tick", (node.name, node.version))

    def run_until(self, t: float, max_events: int = 5_000_000) -> None:
        for _ in range(max_events):
            if not self._queue or self._queue[0][0] > t:
                break
            when, _, kind, payload = heapq.heappop(self._queue)
            self.now = when
            if kind == "tick":
                name, version = payload
                node = self.nodes[name]
                if node.core is None or node.version != version or when != node.tick_at:
                    continue
                node.tick_at = None
                self._apply(node, node.core.tick(self.now))
                self._schedule_tick(node)
            elif kind == "packet":
                name, version, link, data = payload
                node = self.nodes[name]
                if node.core is None or node.version != version or link in node.cut:
                    continue
                msg = self.auth.decode_and_verify(data) if self.auth else data
                self._apply(node, node.core.receive(msg, link, self.now))
                self._schedule_tick(node)
            elif kind == "call":
                payload()
        else:  # pragma: no cover - a runaway scenario
            raise RuntimeError(f"simulation did not reach t={t} within {max_events} events")
        self.now = max(self.now, t)

    def run_for(self, dt: float) -> None:
        self.run_until(self.now + dt)

    def at(self, t: float, fn: Callable[[], None]) -> None:
        self._push(t, "call", fn)

    # ---- node control -------------------------------------------------------
    def start(self, name: str) -> None:
        node = self.nodes[name]
        node.generation += 1
        node.version += 1
        node.tick_at = None
        node.core = Membership(
            local=name, nodes=self.names, links=node.links, keepalive=self.keepalive,
            deadtime=self.deadtime, warntime=self.warntime, initdead=self.initdead,
            generation=node.generation, uuid=bytes([len(name)]) * 16, now=self.now,
        )
        self.trace.append(TraceEvent(self.now, name, "start", node.generation))
        self._schedule_tick(node)

    def start_all(self) -> None:
        for n in self.names:
            self.start(n)

    def kill(self, name: str) -> None:
        node = self.nodes[name]
        node.core = None
        node.version += 1
        node.tick_at = None
        self.trace.append(TraceEvent(self.now, name, "kill", None))

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start(name)

    def cut(self, name: str, link: str) -> None:
        self.nodes[name].cut.add(link)

    def plug(self, name: str, link: str) -> None:
        self.nodes[name].cut.discard(link)

    def set_link(self, link: str, **kw: Any) -> None:
        for k, v in kw.items():
            setattr(self.params[link], k, v)

    def partition(self, *groups: Iterable[str]) -> None:
        self.partitions = [set(g) for g in groups]

    def heal(self) -> None:
        self.partitions = None

    def send_cluster(self, name: str, msg: Message) -> None:
        node = self.nodes[name]
        assert node.core is not None
        self._apply(node, node.core.send_cluster(msg, self.now))

    # ---- the network --------------------------------------------------------
    def _connected(self, a: str, b: str) -> bool:
        if self.partitions is None:
            return True
        return any(a in g and b in g for g in self.partitions)

    def _apply(self, node: SimNode, actions: list[Any]) -> None:
        pending = list(actions)
        for _ in range(100_000):
            if not pending:
                return
            a = pending.pop(0)
            if isinstance(a, Send):
                self._transmit(node, a)
            elif isinstance(a, NodeStatus):
                self.trace.append(TraceEvent(self.now, node.name, "node", (a.node, a.old, a.new)))
            elif isinstance(a, LinkStatus):
                self.trace.append(TraceEvent(self.now, node.name, "link",
                                             (a.node, a.link, a.old, a.new)))
            elif isinstance(a, Log):
                self.trace.append(TraceEvent(self.now, node.name, "log", (a.level, a.text)))
            elif isinstance(a, Deliver):
                self.trace.append(TraceEvent(self.now, node.name, "deliver", (a.node, a.msg)))
            if self.on_action is not None:
                pending.extend(self.on_action(node.name, a, self.now))

    def _transmit(self, node: SimNode, send: Send) -> None:
        data: Any = self.auth.sign_and_encode(send.msg) if self.auth else send.msg.copy()
        links = [send.link] if send.link else list(node.links)
        for link in links:
            if link in node.cut:
                continue
            p = self.params[link]
            if not p.up:
                continue
            for peer in self.nodes.values():
                if peer is node or link not in peer.links or peer.core is None:
                    continue
                if not self._connected(node.name, peer.name):
                    continue
                copies = 2 if self.rng.random() < p.duplicate else 1
                for _ in range(copies):
                    if self.rng.random() < p.loss:
                        continue
                    delay = p.delay + (self.rng.random() * p.jitter if p.jitter else 0.0)
                    self.packets += 1
                    self._push(self.now + delay, "packet", (peer.name, peer.version, link, data))

    # ---- queries ------------------------------------------------------------
    def status(self, observer: str, node: str) -> str | None:
        core = self.nodes[observer].core
        return core.peer_status(node) if core else None

    def link_status(self, observer: str, node: str, link: str) -> str | None:
        core = self.nodes[observer].core
        if core is None:
            return None
        peer = core.peers.get(node.lower())
        return peer.links.get(link) if peer else None

    def events(self, kind: str, node: str | None = None) -> list[TraceEvent]:
        return [e for e in self.trace if e.kind == kind and (node is None or e.node == node)]

    def deaths(self, observer: str) -> list[TraceEvent]:
        return [e for e in self.events("node", observer) if e.detail[2] == "dead"]
