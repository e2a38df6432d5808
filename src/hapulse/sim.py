"""A virtual clock and an in-memory network driving real node cores.

Deterministic from a seed: per link loss, delay, jitter (which reorders),
duplication and partitions; nodes can be killed, restarted with a new
generation (or with their state lost), frozen and resumed (their packets
wait in the socket's queue meanwhile). Each node is a real
:class:`~hapulse.node.Node` (membership + failover policy); resource groups
take ``resource_time`` to start or stop, and can be made to fail. Packets
go through the real codec and signatures (``hapulse.wire``) unless
``codec=False``. An adversary can replay any packet a node sent. Simulated
minutes run in milliseconds, so protocol scenarios are ordinary unit tests.

    sim = Sim(["f801", "f802"], links=["eth1", "eth0"], keepalive=1, deadtime=10,
              groups=[("192.168.1.118", "f801")], auto_failback="on")
    sim.start_all()
    sim.run_for(60)
    sim.kill("f801")
    sim.run_for(15)
    assert sim.status("f802", "f801") == "dead"
    assert sim.owners("192.168.1.118") == ["f802"]
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import assert_never

from hapulse.actions import (
    Acquire,
    Fence,
    LinkStatus,
    Log,
    NodeAction,
    NodeStatus,
    Readvertise,
    Release,
    Send,
    ShutdownComplete,
    SplitBrain,
)
from hapulse.membership import Timers
from hapulse.node import Node, NodeSettings
from hapulse.states import GroupOp, LinkState, NodeState
from hapulse.wire.auth import Authenticator
from hapulse.wire.message import Message

CLOCK_OFFSET = 1_800_000_000.0  # the simulated Unix time at t=0 (for `ts`)

Packet = bytes | Message  # signed bytes, or the message itself with codec=False


@dataclass(frozen=True)
class _Tick:
    node: str
    version: int


@dataclass(frozen=True)
class _Arrival:
    node: str
    version: int
    link: str
    data: Packet


@dataclass(frozen=True)
class _Ping:
    node: str
    version: int


Event = _Tick | _Arrival | _Ping | Callable[[], None]


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
    kind: str  # "start", "kill", "node", "link", "log", "acquire", "release", "readvertise"
    detail: object

    @property
    def text(self) -> str:
        """A log event's text (any other event's detail, as text)."""
        if self.kind == "log" and isinstance(self.detail, tuple):
            return str(self.detail[1])
        return str(self.detail)


@dataclass
class SimNode:
    name: str
    links: tuple[str, ...]
    core: Node | None = None
    generation: int = 0
    cut: set[str] = field(default_factory=set)  # links unplugged on this node
    version: int = 0  # invalidates scheduled events after a restart
    tick_at: float | None = None  # the one tick that counts; others queued are stale
    owned: set[str] = field(default_factory=set)  # groups that may run here
    frozen: bool = False
    backlog: list[tuple[str, Packet]] = field(default_factory=list)  # packets while frozen
    sent: list[tuple[str, Packet]] = field(default_factory=list)  # what it sent (for replays)


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
        groups: Sequence[tuple[str, str]] = (),
        auto_failback: str = "legacy",
        resource_time: float = 0.3,
        keep_sent: int = 0,
        ping_nodes: Sequence[str] = (),
        stonith: bool = False,
        reboot_time: float = 5.0,
    ) -> None:
        self.rng = random.Random(seed)
        self.now = 0.0
        self.timers = Timers(keepalive, deadtime,
                             warntime if warntime is not None else deadtime * 0.75,
                             initdead if initdead is not None else deadtime * 2)
        self.names = list(nodes)
        self.link_names = tuple(links)
        self.groups = tuple(groups)
        self.auto_failback = auto_failback
        self.resource_time = resource_time
        self.keep_sent = keep_sent  # packets remembered per node for the replay adversary
        self.failing: set[tuple[str, str, GroupOp]] = set()  # (node, group, op) that fail
        # The LAN: ping nodes answer a node whose LAN is plugged in, and a takeover's
        # address probe hears a live holder on it (its kernel answers, frozen or not)
        self.ping_nodes = tuple(ping_nodes)
        self.lan_cut: set[str] = set()
        self.stonith = stonith
        self.fence_fails = False  # the STONITH device fails every reset
        self.reboot_time = reboot_time
        self.fenced: list[tuple[float, str, str]] = []  # (time, by, target) resets done
        self.nodes = {n: SimNode(n, self.link_names) for n in nodes}
        self.params: dict[str, LinkParams] = {link: LinkParams() for link in self.link_names}
        self.partitions: list[set[str]] | None = None
        self.trace: list[TraceEvent] = []
        self.violations: list[str] = []  # moments two live, connected nodes owned a group
        self._queue: list[tuple[float, int, Event]] = []
        self._counter = 0
        self.auth = Authenticator("sha1", 1, b"sim-secret") if codec else None
        self.packets = 0

    # ---- scheduling ---------------------------------------------------------
    def _push(self, t: float, event: Event) -> None:
        self._counter += 1
        heapq.heappush(self._queue, (t, self._counter, event))

    def _schedule_tick(self, node: SimNode) -> None:
        """One live tick per node, like the daemon's single timer."""
        if node.core is None or node.frozen:
            return
        when = max(node.core.next_deadline(self.now), self.now)
        if node.tick_at is not None and self.now <= node.tick_at <= when:
            return  # an earlier tick is due; it schedules the next one
        node.tick_at = when
        self._push(when, _Tick(node.name, node.version))

    def run_until(self, t: float, max_events: int = 5_000_000) -> None:
        for _ in range(max_events):
            if not self._queue or self._queue[0][0] > t:
                break
            when, _, event = heapq.heappop(self._queue)
            self.now = when
            match event:
                case _Tick(name, version):
                    node = self.nodes[name]
                    if node.core is None or node.version != version or when != node.tick_at:
                        continue
                    node.tick_at = None
                    self._apply(node, node.core.tick(self.now))
                case _Ping(name, version):
                    node = self.nodes[name]
                    if node.core is None or node.version != version:
                        continue
                    self._push(self.now + self.timers.keepalive, _Ping(name, version))
                    if node.frozen or name in self.lan_cut:
                        continue
                    for ping in self.ping_nodes:
                        self._apply(node, node.core.ping_reply(ping, self.now))
                case _Arrival(name, version, link, data):
                    node = self.nodes[name]
                    if node.core is None or node.version != version or link in node.cut:
                        continue
                    if node.frozen:
                        node.backlog.append((link, data))
                        continue
                    self._deliver(node, link, data)
                case _:
                    event()
        else:  # pragma: no cover - a runaway scenario
            raise RuntimeError(f"simulation did not reach t={t} within {max_events} events")
        self.now = max(self.now, t)

    def _deliver(self, node: SimNode, link: str, data: Packet) -> None:
        assert node.core is not None
        msg = data if isinstance(data, Message) else self._verified(data)
        self._apply(node, node.core.receive(msg, link, self.now))

    def _verified(self, data: bytes) -> Message:
        assert self.auth is not None
        return self.auth.decode_and_verify(data)

    def run_for(self, dt: float) -> None:
        self.run_until(self.now + dt)

    def at(self, t: float, fn: Callable[[], None]) -> None:
        self._push(t, fn)

    # ---- node control -------------------------------------------------------
    def settings(self, name: str) -> NodeSettings:
        return NodeSettings(local=name, nodes=tuple(self.names), links=self.link_names,
                            timers=self.timers, groups=self.groups,
                            auto_failback=self.auto_failback, ping_nodes=self.ping_nodes,
                            stonith=self.stonith, ipfail=bool(self.ping_nodes))

    def start(self, name: str, lost_state: bool = False) -> None:
        """Start (or restart) a node; `lost_state`: its generation starts again at 1."""
        node = self.nodes[name]
        node.generation = 1 if lost_state else node.generation + 1
        node.version += 1
        node.tick_at = None
        node.frozen = False
        node.backlog.clear()
        node.owned.clear()  # a start after power loss: nothing runs
        node.core = Node(self.settings(name), node.generation, bytes([len(name)]) * 16,
                         self.now, CLOCK_OFFSET)
        self.trace.append(TraceEvent(self.now, name, "start", node.generation))
        if self.ping_nodes:
            self._push(self.now, _Ping(name, node.version))
        self._schedule_tick(node)

    def start_all(self) -> None:
        for n in self.names:
            self.start(n)

    def kill(self, name: str) -> None:
        """Power off: the node and everything it ran are gone."""
        node = self.nodes[name]
        node.core = None
        node.version += 1
        node.tick_at = None
        node.owned.clear()
        node.backlog.clear()
        self.trace.append(TraceEvent(self.now, name, "kill", None))

    def restart(self, name: str) -> None:
        self.kill(name)
        self.start(name)

    def freeze(self, name: str) -> None:
        """SIGSTOP: no ticks, packets wait in the queue; what runs keeps running."""
        self.nodes[name].frozen = True
        self.trace.append(TraceEvent(self.now, name, "freeze", None))

    def resume(self, name: str) -> None:
        """SIGCONT: the timer fires (it is overdue), then the queued packets are read."""
        node = self.nodes[name]
        node.frozen = False
        self.trace.append(TraceEvent(self.now, name, "resume", None))
        if node.core is None:
            return
        node.tick_at = None
        self._apply(node, node.core.tick(self.now))
        backlog, node.backlog = node.backlog, []
        for link, data in backlog:
            if node.core is not None and not node.frozen:
                self._deliver(node, link, data)

    def cut(self, name: str, link: str) -> None:
        self.nodes[name].cut.add(link)

    def plug(self, name: str, link: str) -> None:
        self.nodes[name].cut.discard(link)

    def set_link(self, link: str, **kw: float | bool) -> None:
        for k, v in kw.items():
            setattr(self.params[link], k, v)

    def partition(self, *groups: Iterable[str]) -> None:
        self.partitions = [set(g) for g in groups]

    def heal(self) -> None:
        self.partitions = None

    def control(self, name: str, command: str, which: str = "all") -> None:
        """`standby`, `takeover` or `shutdown` on a node, as its control socket would."""
        node = self.nodes[name]
        core = node.core
        assert core is not None
        actions = {"standby": lambda: core.standby(which, self.now),
                   "takeover": lambda: core.takeover(which, self.now),
                   "shutdown": lambda: core.shutdown(self.now)}[command]()
        self._apply(node, actions)

    def send_cluster(self, name: str, msg: Message) -> None:
        node = self.nodes[name]
        assert node.core is not None
        self._transmit(node, node.core.membership.send_cluster(msg, self.now))

    def replay(self, sender: str, link: str | None = None, last: int | None = None) -> int:
        """The adversary re-sends packets `sender` sent before (needs `keep_sent`)."""
        sent = self.nodes[sender].sent[-last:] if last else self.nodes[sender].sent
        count = 0
        for lnk, data in sent:
            if link is None or lnk == link:
                self._fanout(self.nodes[sender], lnk, data, respect_sender=False)
                count += 1
        return count

    # ---- the network --------------------------------------------------------
    def _connected(self, a: str, b: str) -> bool:
        if self.partitions is None:
            return True
        return any(a in g and b in g for g in self.partitions)

    def _apply(self, node: SimNode, actions: Iterable[NodeAction]) -> None:
        for a in actions:
            match a:
                case Send():
                    self._transmit(node, a)
                case NodeStatus(node=peer, old=old, new=new):
                    self.trace.append(TraceEvent(self.now, node.name, "node", (peer, old, new)))
                case LinkStatus(node=peer, link=link, old=old, new=new):
                    self.trace.append(TraceEvent(self.now, node.name, "link",
                                                 (peer, link, old, new)))
                case Log(level=level, text=text):
                    self.trace.append(TraceEvent(self.now, node.name, "log", (level, text)))
                case Acquire(group_id=gid, takeover=takeover):
                    holder = self._answering(node, gid) if takeover and self.ping_nodes else None
                    if holder is not None:  # the address probe hears a live holder
                        self.trace.append(TraceEvent(self.now, node.name, "contested", gid))
                        self._later(node, gid, GroupOp.ACQUIRE, f"answered by {holder}")
                        continue
                    node.owned.add(gid)
                    self.trace.append(TraceEvent(self.now, node.name, "acquire", gid))
                    self._check()
                    self._later(node, gid, GroupOp.ACQUIRE)
                case Fence(node=target):
                    self._fence(node, target)
                case Release(group_id=gid):
                    self.trace.append(TraceEvent(self.now, node.name, "release", gid))
                    self._later(node, gid, GroupOp.RELEASE)
                case Readvertise(group_id=gid):
                    self.trace.append(TraceEvent(self.now, node.name, "readvertise", gid))
                case SplitBrain(peer=peer, group_id=gid, keeper=keeper):
                    self.trace.append(TraceEvent(self.now, node.name, "split_brain",
                                                 (peer, gid, keeper)))
                case ShutdownComplete():
                    if node.core is not None:
                        self._apply(node, node.core.leave(self.now))
                    self.kill(node.name)
                case _:
                    assert_never(a)
        self._schedule_tick(node)

    def _answering(self, node: SimNode, gid: str) -> str | None:
        """Who else answers on the LAN for this group's address (a live holder)."""
        if node.name in self.lan_cut:
            return None
        for other in self.nodes.values():
            if other is not node and other.core is not None and gid in other.owned \
                    and other.name not in self.lan_cut:
                return other.name
        return None

    def _fence(self, by: SimNode, target: str) -> None:
        """The STONITH device power-cycles `target` (it boots after reboot_time)."""
        version = by.version
        ok = not self.fence_fails

        def done() -> None:
            if ok:
                self.fenced.append((self.now, by.name, target))
                self.kill(target)
                self.at(self.now + self.reboot_time, lambda: self.start(target))
            if by.version == version and by.core is not None:
                self._apply(by, by.core.fence_done(target, ok, self.now))

        self.at(self.now + 0.1, done)

    def _later(self, node: SimNode, gid: str, op: GroupOp, contested: str | None = None) -> None:
        version = node.version
        ok = (node.name, gid, op) not in self.failing and contested is None

        def done() -> None:
            if node.version != version or node.core is None:
                return  # the node died meanwhile
            if op is GroupOp.RELEASE and ok:
                node.owned.discard(gid)
            if op is GroupOp.ACQUIRE and not ok:
                node.owned.discard(gid)  # a failed start stops what it started
            if node.frozen:  # the result waits for the process to run again
                self.at(self.now + self.resource_time, done)
                return
            self._apply(node, node.core.resource_done(gid, op, ok, self.now, contested))

        self.at(self.now + self.resource_time, done)

    def _check(self) -> None:
        live = [n for n in self.nodes.values() if n.core is not None and not n.frozen]
        for i, a in enumerate(live):
            for b in live[i + 1:]:
                both = a.owned & b.owned
                if both and self._connected(a.name, b.name):
                    self.violations.append(f"t={self.now:.2f}: {a.name} and {b.name} both own "
                                           f"{sorted(both)}")

    def _transmit(self, node: SimNode, send: Send) -> None:
        data: Packet = self.auth.sign_and_encode(send.msg) if self.auth else send.msg.copy()
        links = [send.link] if send.link else list(node.links)
        for link in links:
            if link in node.cut:
                continue
            if self.keep_sent:
                node.sent.append((link, data))
                del node.sent[:-self.keep_sent]
            self._fanout(node, link, data)

    def _fanout(self, node: SimNode, link: str, data: Packet,
                respect_sender: bool = True) -> None:
        p = self.params[link]
        if not p.up:
            return
        for peer in self.nodes.values():
            if peer is node or link not in peer.links or peer.core is None:
                continue
            if respect_sender and not self._connected(node.name, peer.name):
                continue
            copies = 2 if self.rng.random() < p.duplicate else 1
            for _ in range(copies):
                if self.rng.random() < p.loss:
                    continue
                delay = p.delay + (self.rng.random() * p.jitter if p.jitter else 0.0)
                self.packets += 1
                self._push(self.now + delay, _Arrival(peer.name, peer.version, link, data))

    # ---- queries ------------------------------------------------------------
    def status(self, observer: str, node: str) -> NodeState | None:
        core = self.nodes[observer].core
        return core.membership.peer_status(node) if core else None

    def link_status(self, observer: str, node: str, link: str) -> LinkState | None:
        core = self.nodes[observer].core
        if core is None:
            return None
        peer = core.membership.peers.get(node.lower())
        return peer.links.get(link) if peer else None

    def owners(self, gid: str) -> list[str]:
        """The nodes that may run this group now (from the acquisition to the release)."""
        return sorted(n.name for n in self.nodes.values() if gid in n.owned)

    def events(self, kind: str, node: str | None = None) -> list[TraceEvent]:
        return [e for e in self.trace if e.kind == kind and (node is None or e.node == node)]

    def deaths(self, observer: str) -> list[TraceEvent]:
        return [e for e in self.events("node", observer)
                if isinstance(e.detail, tuple) and e.detail[2] is NodeState.DEAD]
