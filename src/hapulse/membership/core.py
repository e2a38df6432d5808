"""Who is alive: the membership state machine (pure, sans-I/O).

Fed verified messages and the monotonic time, it returns actions. It
behaves like Heartbeat 3.0.6 on the wire: a ``status`` heartbeat every
keepalive on every link, carrying the local status (``up``, then
``active``), sequence numbers within a generation (``hg``), the sender's
Unix time in hex (``ts``), retransmission requests (``NS_rexmit``) for gaps
in a peer's sequence, answered from a bounded history, and acknowledgements
(``NS_ackmsg``) as Heartbeat sends them: a Heartbeat peer keeps every
message in its history until acknowledged, and logs an error on every
message once that history is half full. A peer that has shown it runs
hapulse (its resource announcement carries ``hp_held``) gets none: hapulse
keeps a bounded history and reads no acknowledgement, and on a broadcast
medium each one reaches every node, N x (N - 1) / 10 a keepalive, ten times
the heartbeats at 100 nodes.

A peer is ``init`` until heard, then takes the status it announces (``up``,
``active``), and becomes ``dead`` after deadtime without a fresh packet on
any link (initdead for a peer never heard since start). A link is a (peer,
local link name) pair, ``up`` while packets arrive on it and ``dead`` after
deadtime without one.

Only fresh packets keep a node or a link alive: a message from an older
generation, or whose sequence number was already seen, refreshes nothing
(a replay of a dead node's heartbeats does not keep it alive). The one
exception is the same message arriving on a second link moments after the
first (that is what a second link is for). A peer whose generation went
*backwards* restarted with its state lost when its message is newer than
anything it sent before (``ts``, which a replayer cannot forge without the
key); it rejoins as a restart.
"""

from __future__ import annotations

import zlib
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hapulse.actions import Deliver, LinkStatus, Log, MembershipAction, NodeStatus, Send
from hapulse.states import LinkState, LogLevel, NodeState
from hapulse.wire.fastpath import StatusHeartbeat
from hapulse.wire.message import Field, FieldType, Message

HISTORY = 200  # messages kept for retransmission, as Heartbeat's MAXMSGHIST
MAX_REXMIT_GAP = 50  # at most this many missing messages asked for at once
REXMIT_RETRY = 1.0  # seconds before asking again for the same gap
# A message is retransmitted at most once per this many seconds, however many peers ask:
# after a stall every peer asks for the same gap, and answering each would flood the
# medium (broadcast) and stall the next node in turn
REXMIT_HOLD = 0.25
_STAMPED = frozenset(("src", "srcuuid", "seq", "hg", "ts", "ld", "ttl", "auth"))
SEEN_WINDOW = 400  # sequence numbers remembered per peer for duplicate detection
NOSEQ_PREFIX = "NS_"  # message types without a sequence number (Heartbeat's rule)
ACK_DIV = 10  # Heartbeat's ACK_MSG_DIV: one acknowledgement per ten messages

# Messages that are part of the membership protocol itself, never delivered upward.
PROTOCOL_TYPES = frozenset({"status", "NS_rexmit", "NS_ackmsg", "reqnodes", "repnodes"})

_INFO, _WARN, _DEBUG = LogLevel.INFO, LogLevel.WARNING, LogLevel.DEBUG
_STR = FieldType.STRING

# Intervals between fresh packets on a link, counted in fixed buckets (upper bounds in
# seconds, Prometheus's `le`; one more bucket for anything longer): plain ints, so the
# receive path pays a bisect and an addition, and the memory is fixed per (peer, link).
INTERVAL_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class Timers:
    """Heartbeat's timers, in seconds."""

    keepalive: float
    deadtime: float
    warntime: float
    initdead: float


@dataclass
class Intervals:
    """One link's intervals between fresh packets: counts per bucket (not cumulative,
    the last one past INTERVAL_BUCKETS[-1]) and their sum in seconds."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(INTERVAL_BUCKETS) + 1))
    total: float = 0.0

    def add(self, seconds: float) -> None:
        self.counts[bisect_left(INTERVAL_BUCKETS, seconds)] += 1
        self.total += seconds


@dataclass
class Peer:
    name: str
    status: NodeState = NodeState.INIT
    heard: float | None = None  # last fresh packet on any link
    warned: bool = False
    generation: int | None = None
    last_ts: int = 0  # the newest `ts` it sent (Unix seconds)
    high_seq: int = 0
    acked: int = 0  # the highest of its sequence numbers acknowledged to it
    seen: dict[int, float] = field(default_factory=dict)  # seq -> when first received
    missing: dict[int, float] = field(default_factory=dict)  # seq -> when last asked
    links: dict[str, LinkState] = field(default_factory=dict)
    link_heard: dict[str, float] = field(default_factory=dict)
    uuid: bytes | None = None
    added: float = 0.0  # when it joined the node list (its initdead counts from then)
    intervals: dict[str, Intervals] = field(default_factory=dict)  # link -> its intervals
    late: int = 0  # fresh packets that came later than warntime after the previous one
    hapulse: bool = False  # announced as hapulse since its generation began: no acks to it
    taken: int = 0  # sequenced messages taken from it in this generation (acks wait for 10)


@dataclass(frozen=True)
class LinkView:
    name: str
    status: LinkState


@dataclass(frozen=True)
class LinkIntervals:
    """A copy of one link's :class:`Intervals` (counts per bucket, not cumulative)."""

    link: str
    counts: tuple[int, ...]
    total: float


@dataclass(frozen=True)
class NodeView:
    """One node as `status` shows it."""

    name: str
    status: NodeState
    local: bool
    generation: int | None
    last_heard_ago: float | None
    links: tuple[LinkView, ...]
    late: int = 0  # fresh packets later than warntime (a peer's only)
    intervals: tuple[LinkIntervals, ...] = ()  # per link, the intervals between them


class Membership:
    """The membership core of one node."""

    def __init__(
        self,
        local: str,
        nodes: Sequence[str],
        links: Sequence[str],
        timers: Timers,
        generation: int,
        uuid: bytes,
        now: float,
        clock_offset: float = 0.0,
        load: str = "0.00 0.00 0.00 1/1 1",
    ) -> None:
        self.local = local
        self.links = tuple(links)
        self.timers = timers
        self.generation = generation
        self.uuid = uuid
        self.started = now
        # Unix time minus the monotonic clock: `ts` on the wire is now + clock_offset
        self.clock_offset = clock_offset
        self.load = load
        self.status = NodeState.UP
        self.seq = 0
        self.next_heartbeat = now
        self.history: OrderedDict[int, Message] = OrderedDict()
        self.resent: dict[int, float] = {}  # seq -> when last retransmitted
        self.peers: dict[str, Peer] = {}
        self._now = now  # the latest time this core was fed
        self.set_nodes(nodes)

    # ---- configuration --------------------------------------------------------
    def set_nodes(self, nodes: Sequence[str], now: float | None = None) -> list[str]:
        """The cluster's node list (at start and on reload); returns the peers removed. A
        peer added now has its initdead from now to be heard."""
        added = self._now if now is None else now
        wanted = {n.lower(): n for n in nodes if n.lower() != self.local.lower()}
        removed = [p.name for key, p in self.peers.items() if key not in wanted]
        self.peers = {key: self.peers.get(key) or Peer(name, links=dict.fromkeys(
            self.links, LinkState.DEAD), added=added) for key, name in wanted.items()}
        return removed

    def media_up(self, now: float) -> None:
        """The media are ready: a peer never heard has initdead from now (a start that
        took seconds on a loaded machine does not eat into it)."""
        self.started = max(self.started, now)

    def set_timers(self, timers: Timers, now: float) -> None:
        """New timers take effect at once: the next heartbeat within the new keepalive."""
        self.timers = timers
        self.next_heartbeat = min(self.next_heartbeat, now + timers.keepalive)

    # ---- outgoing -----------------------------------------------------------
    def _stamp(self, msg: Message, now: float) -> Message:
        """Heartbeat's stamp; types named NS_* (retransmission requests, acknowledgements)
        carry no sequence number, as in Heartbeat (a peer would ask for it again)."""
        with_seq = not (msg.get("t") or "").startswith(NOSEQ_PREFIX)
        out = msg.copy(without=_STAMPED)
        out.append("src", self.local)
        out.append("srcuuid", self.uuid)
        if with_seq:
            self.seq += 1
            out.append("seq", f"{self.seq:x}")
        out.append("hg", f"{self.generation:x}")
        out.append("ts", f"{int(now + self.clock_offset):x}")
        out.append("ld", self.load)
        out.append("ttl", "3")
        if with_seq:
            self._remember(out)
        return out

    def _remember(self, msg: Message) -> None:
        """Keep a sequenced message (the last one stamped) for retransmission."""
        self.history[self.seq] = msg
        while len(self.history) > HISTORY:
            self.history.popitem(last=False)

    def heartbeat(self, now: float) -> Message:
        """The status heartbeat, stamped: exactly what :meth:`_stamp` makes of `t st dt
        protocol`, built field by field (one every keepalive on every link is most of
        what a node sends)."""
        self.seq += 1
        out = Message([
            Field("t", _STR, "status"),
            Field("st", _STR, str(self.status)),
            Field("dt", _STR, f"{int(self.timers.deadtime * 1000):x}"),
            Field("protocol", _STR, "1"),
            Field("src", _STR, self.local),
            Field("srcuuid", FieldType.BINARY, self.uuid),
            Field("seq", _STR, f"{self.seq:x}"),
            Field("hg", _STR, f"{self.generation:x}"),
            Field("ts", _STR, f"{int(now + self.clock_offset):x}"),
            Field("ld", _STR, self.load),
            Field("ttl", _STR, "3"),
        ])
        self._remember(out)
        return out

    def send_cluster(self, msg: Message, now: float) -> Send:
        """A cluster message (resource, standby ...), sequenced so peers can ask again."""
        return Send(self._stamp(msg, now))

    def leave(self, now: float) -> list[MembershipAction]:
        """The last heartbeat of a graceful shutdown: status `dead`, as Heartbeat sends."""
        self.status = NodeState.DEAD
        return [Send(self.heartbeat(now)), Log(_INFO, f"{self.local}: leaving the cluster")]

    # ---- time ---------------------------------------------------------------
    def _dead_after(self, p: Peer) -> float:
        return self.timers.deadtime if p.heard is not None else self.timers.initdead

    def beat(self, now: float) -> list[MembershipAction]:
        """This node's status heartbeat, if one is due; nothing judged (see `tick`)."""
        if now < self.next_heartbeat:
            return []
        self._now = max(self._now, now)
        out: list[MembershipAction] = [Send(self.heartbeat(now))]
        self.next_heartbeat += self.timers.keepalive
        if self.next_heartbeat <= now:  # fell behind (a stalled loop): no burst
            self.next_heartbeat = now + self.timers.keepalive
        return out

    def tick(self, now: float) -> list[MembershipAction]:
        out = self.beat(now)
        self._now = now
        t = self.timers
        for p in self.peers.values():
            for link, st in p.links.items():
                heard = p.link_heard.get(link)
                if st is LinkState.UP and heard is not None and now - heard > t.deadtime:
                    p.links[link] = LinkState.DEAD
                    out.append(LinkStatus(p.name, link, LinkState.UP, LinkState.DEAD))
            if p.status is NodeState.DEAD:
                continue
            since = p.heard if p.heard is not None else max(self.started, p.added)
            silent = now - since
            if p.heard is not None and silent > t.warntime and not p.warned:
                p.warned = True
                out.append(Log(_WARN, f"Late heartbeat: Node {p.name}: interval "
                               f"{int(silent * 1000)} ms (warntime {int(t.warntime * 1000)} "
                               f"ms, deadtime {int(t.deadtime * 1000)} ms)", churn=p.name))
            if silent > self._dead_after(p):
                out.extend(self._declare_dead(p, silent))
        out.extend(self._maybe_active())
        return out

    def _declare_dead(self, p: Peer, silent: float) -> list[MembershipAction]:
        old = p.status
        p.status = NodeState.DEAD
        p.missing.clear()
        why = "deadtime" if p.heard is not None else "initdead"
        out: list[MembershipAction] = [
            Log(_WARN, f"node {p.name}: is dead (silent {silent:.3f} s, "
                       f"{why} {self._dead_after(p):g} s)", churn=p.name),
            NodeStatus(p.name, old, NodeState.DEAD)]
        for link, st in p.links.items():
            if st is LinkState.UP:
                p.links[link] = LinkState.DEAD
                out.append(LinkStatus(p.name, link, LinkState.UP, LinkState.DEAD))
        return out

    def _maybe_active(self) -> list[MembershipAction]:
        """Local status goes `active` once every peer is heard from or declared dead."""
        if self.status is NodeState.UP and all(
                p.status is not NodeState.INIT for p in self.peers.values()):
            self.status = NodeState.ACTIVE
            return [Log(_INFO, f"Local status now set to: '{NodeState.ACTIVE}'")]
        return []

    def next_deadline(self) -> float:
        t = self.next_heartbeat
        timers = self.timers
        for p in self.peers.values():
            for link, st in p.links.items():
                heard = p.link_heard.get(link)
                if st is LinkState.UP and heard is not None:
                    t = min(t, heard + timers.deadtime + 1e-6)
            if p.status is NodeState.DEAD:
                continue
            since = p.heard if p.heard is not None else max(self.started, p.added)
            if p.heard is not None and not p.warned:
                t = min(t, since + timers.warntime + 1e-6)
            t = min(t, since + self._dead_after(p) + 1e-6)
        return t

    # ---- incoming -----------------------------------------------------------
    def _fresh(self, p: Peer, hg: int | None, ts: int, seq: int | None,
               now: float) -> tuple[bool, list[MembershipAction]]:
        """Is this message (its `hg`, `ts`, `seq`) new from this peer (not a replay, not a
        duplicate)?"""
        out: list[MembershipAction] = []
        if hg is not None and p.generation is not None and hg != p.generation:
            if hg < p.generation and ts <= p.last_ts:
                return False, [Log(_DEBUG, f"replay from {p.name} (generation {hg} < "
                                           f"{p.generation}) dropped")]
            if hg < p.generation:
                out.append(Log(_WARN, f"node {p.name} restarted with an older generation "
                                      f"({p.generation} -> {hg}): its state was lost; "
                                      "taking it as a restart"))
            else:
                out.append(Log(_INFO, f"node {p.name} restarted: generation {p.generation} "
                                      f"-> {hg}"))
            p.high_seq, p.seen, p.missing, p.acked = 0, {}, {}, 0
            p.hapulse = False  # it may have come back as Heartbeat (a rolling migration)
            p.taken = 0
        if hg is not None:
            p.generation = hg
        p.last_ts = max(p.last_ts, ts)
        if seq is None:
            # unsequenced (NS_rexmit): nothing proves it new, so it keeps nobody alive;
            # it is answered only while its sender is alive
            return p.status.alive, out
        first = p.seen.get(seq)
        if first is not None or seq <= p.high_seq - SEEN_WINDOW:
            # the same message on a second link moments later still says that link works
            return first is not None and now - first < self.timers.keepalive, out
        return True, out

    def receive(self, msg: Message, link: str, now: float) -> list[MembershipAction]:
        self._now = now
        src = msg.get("src")
        if src is None:
            return [Log(_WARN, f"message without src on {link} dropped")]
        if src.lower() == self.local.lower():
            return []
        p = self.peers.get(src.lower())
        if p is None:
            return [self._stranger(src, link)]
        hg = msg.get_int("hg")
        ts = msg.get_int("ts") or 0
        seq = msg.get_int("seq")
        fresh, out = self._fresh(p, hg, ts, seq, now)
        if not fresh:
            return out
        if not self._sequenced(p, seq, msg.get_bytes("srcuuid"), link, now, out):
            return out

        mtype = msg.get("t")
        if mtype == "resource" and msg.get("hp_held") is not None:
            p.hapulse = True
        if mtype == "status":
            self._announced(p, msg.get("st"), out)
        elif p.status in (NodeState.DEAD, NodeState.INIT):
            out.append(NodeStatus(p.name, p.status, NodeState.UP))
            p.status = NodeState.UP

        dest = msg.get("dest")
        to_me = dest is None or dest.lower() == self.local.lower()
        if mtype == "NS_rexmit" and to_me:
            out.extend(self._answer_rexmit(msg, p, now))
        elif mtype == "reqnodes" and dest is not None and to_me:
            out.append(self._repnodes(p, now))
        elif mtype not in PROTOCOL_TYPES and to_me:
            out.append(Deliver(msg, p.name))
        out.extend(self._maybe_active())
        return out

    def receive_status(self, hb: StatusHeartbeat, link: str,
                       now: float) -> list[MembershipAction]:
        """A verified status heartbeat read by the wire's fast path: the same actions and
        state as :meth:`receive` given the same packet decoded (`t=status`), without a
        :class:`Message`."""
        self._now = now
        src = hb.src
        if src.lower() == self.local.lower():
            return []
        p = self.peers.get(src.lower())
        if p is None:
            return [self._stranger(src, link)]
        fresh, out = self._fresh(p, hb.hg, hb.ts, hb.seq, now)
        if not fresh:
            return out
        if not self._sequenced(p, hb.seq, hb.uuid, link, now, out):
            return out
        self._announced(p, hb.st, out)
        out.extend(self._maybe_active())
        return out

    def _stranger(self, src: str, link: str) -> Log:
        return Log(_WARN, f"message from node {src}, not in ha.cf's node list, on "
                          f"{link}: dropped (add `node {src}` to ha.cf if it belongs)")

    def _sequenced(self, p: Peer, seq: int | None, uuid: bytes | None, link: str, now: float,
                   out: list[MembershipAction]) -> bool:
        """A fresh message's uuid and sequence number: the link and the node are alive,
        gaps asked for, acknowledgements sent (into `out`). False: a duplicate on a second
        link, counted for that link only; nothing more to do."""
        if uuid is not None:
            p.uuid = uuid
        if seq is None:
            return True
        out.extend(self._refresh(p, link, now))
        if seq in p.seen:
            return False
        p.seen[seq] = now
        p.taken += 1
        p.missing.pop(seq, None)
        if seq > p.high_seq:
            if p.high_seq and seq > p.high_seq + 1:
                for s in range(max(p.high_seq + 1, seq - MAX_REXMIT_GAP), seq):
                    p.missing.setdefault(s, -1e9)
            p.high_seq = seq
        if len(p.seen) > 2 * SEEN_WINDOW:  # pruned now and then, not per message
            floor = p.high_seq - SEEN_WINDOW
            p.seen = {s: t for s, t in p.seen.items() if s > floor}
        out.extend(self._request_missing(p, now))
        out.extend(self._acknowledge(p, now))
        return True

    def _announced(self, p: Peer, word: str | None, out: list[MembershipAction]) -> None:
        """A status heartbeat's `st`: the peer's new state, if it changed."""
        new = _node_state(word)
        if new is not p.status:
            out.append(NodeStatus(p.name, p.status, new))
            p.status = new

    def _refresh(self, p: Peer, link: str, now: float) -> list[MembershipAction]:
        out: list[MembershipAction] = []
        old_link = p.links.get(link, LinkState.DEAD)
        # statistics for the metrics: the interval on a live link, and a late packet from a
        # live peer (a peer back from the dead is a rejoin, counted as its death was)
        previous = p.link_heard.get(link)
        if previous is not None and old_link is LinkState.UP:
            iv = p.intervals.get(link)
            if iv is None:
                iv = p.intervals[link] = Intervals()
            iv.add(now - previous)
        if p.heard is not None and p.status is not NodeState.DEAD and \
                now - p.heard > self.timers.warntime:
            p.late += 1
        if old_link is not LinkState.UP:
            p.links[link] = LinkState.UP
            out.append(LinkStatus(p.name, link, old_link, LinkState.UP))
        p.link_heard[link] = now
        if p.warned and p.heard is not None:
            out.append(Log(_INFO, f"node {p.name}: heartbeat resumed after "
                                  f"{int((now - p.heard) * 1000)} ms"))
        p.heard = now
        p.warned = False
        return out

    def _acknowledge(self, p: Peer, now: float) -> list[MembershipAction]:
        """NS_ackmsg as Heartbeat sends it: for the highest sequence number received with
        none missing below it, rounded down to this peer's trigger residue (mod ACK_DIV),
        once per ACK_DIV messages, once ACK_DIV were taken. None to a hapulse peer: it
        does not read them."""
        if p.hapulse:
            return []
        contiguous = min(p.missing) - 1 if p.missing else p.high_seq
        trigger = zlib.crc32(p.name.lower().encode()) % ACK_DIV
        ack = contiguous - (contiguous - trigger) % ACK_DIV
        # none before ACK_DIV of its messages were taken here: a hapulse peer's hello
        # (hp_held) comes among them, and a Heartbeat peer keeps far more in its history
        if ack <= p.acked or ack <= 0 or p.taken <= ACK_DIV:
            return []
        p.acked = ack
        msg = Message.from_pairs([("t", "NS_ackmsg"), ("dest", p.name), ("ackseq", f"{ack:x}")])
        return [Send(self._stamp(msg, now))]

    def _repnodes(self, p: Peer, now: float) -> Send:
        """Answer a starting node's `reqnodes` with the node list, as Heartbeat does.

        A Heartbeat node that starts asks a live peer for the node list and
        does not finish start-up (nor accept cl_status) until it gets it.
        """
        nodes = [self.local, *(q.name for q in self.peers.values())]
        rep = Message.from_pairs([("dest", p.name), ("t", "repnodes"),
                                  ("nodelist", "".join(f"{n} " for n in sorted(nodes))),
                                  ("delnodelist", " ")])
        if p.uuid is not None:
            rep.append("destuuid", p.uuid)
        return Send(self._stamp(rep, now))

    def _request_missing(self, p: Peer, now: float) -> list[MembershipAction]:
        floor = p.high_seq - 2 * MAX_REXMIT_GAP  # too old to ask for: give up on them
        for s in [s for s in p.missing if s < floor]:
            del p.missing[s]
        due = sorted(s for s, asked in p.missing.items() if now - asked >= REXMIT_RETRY)
        if not due:
            return []
        for s in due:
            p.missing[s] = now
        first, last = due[0], due[-1]
        req = Message.from_pairs([("t", "NS_rexmit"), ("dest", p.name),
                                  ("firstseq", f"{first:x}"), ("lastseq", f"{last:x}")])
        return [Send(self._stamp(req, now)),
                Log(_INFO, f"requesting retransmission of {p.name}'s messages "
                           f"{first}..{last}")]

    def _answer_rexmit(self, msg: Message, p: Peer, now: float) -> list[MembershipAction]:
        first, last = msg.get_int("firstseq"), msg.get_int("lastseq")
        if first is None or last is None or last < first:
            return [Log(_WARN, f"malformed NS_rexmit from {p.name} dropped")]
        out: list[MembershipAction] = []
        kept = 0
        for s in range(first, min(last, first + MAX_REXMIT_GAP - 1) + 1):
            old = self.history.get(s)
            if old is None:
                continue
            kept += 1
            if now - self.resent.get(s, -1e9) < REXMIT_HOLD:
                continue  # just retransmitted (another peer asked): it is on the wire
            self.resent[s] = now
            out.append(Send(old))
        if len(self.resent) > 2 * HISTORY:
            oldest = self.seq - HISTORY
            self.resent = {s: t for s, t in self.resent.items() if s > oldest}
        missing = (last - first + 1) - kept
        if missing > 0:
            out.append(Log(_INFO, f"{p.name} asked for {missing} message(s) no longer in "
                                  f"history ({first}..{last})"))
        return out

    # ---- views --------------------------------------------------------------
    def view(self, now: float) -> list[NodeView]:
        """Every node, this one first (read-only)."""
        nodes = [NodeView(self.local, self.status, True, self.generation, None,
                          tuple(LinkView(link, LinkState.UP) for link in self.links))]
        for p in self.peers.values():
            nodes.append(NodeView(
                p.name, p.status, False, p.generation,
                None if p.heard is None else round(now - p.heard, 3),
                tuple(LinkView(link, st) for link, st in p.links.items()), p.late,
                tuple(LinkIntervals(link, tuple(i.counts), i.total)
                      for link, i in p.intervals.items())))
        return nodes

    def peer_status(self, node: str) -> NodeState | None:
        if node.lower() == self.local.lower():
            return self.status
        p = self.peers.get(node.lower())
        return p.status if p else None

    def live_peers(self) -> Iterable[str]:
        return [p.name for p in self.peers.values() if p.status.alive]


def _node_state(word: str | None) -> NodeState:
    """A peer's announced status; words hapulse does not know count as `up`."""
    try:
        return NodeState(word or "up")
    except ValueError:
        return NodeState.UP
