"""Who is alive: the membership state machine (pure, sans-I/O).

Fed verified messages and the monotonic time, it returns actions. It
behaves like Heartbeat 3.0.6 on the wire: a ``status`` heartbeat every
keepalive on every link, carrying the local status (``up``, then
``active``), sequence numbers within a generation (``hg``), retransmission
requests (``NS_rexmit``) for gaps in a peer's sequence, answered from a
bounded history, and duplicates and replays (an older generation, a
sequence already seen) dropped.

A peer is ``init`` until heard, then takes the status it announces (``up``,
``active``), and becomes ``dead`` after deadtime without a packet on any
link (initdead for a peer never heard since start). A link is a (peer,
local link name) pair, ``up`` while packets arrive on it and ``dead`` after
deadtime without one.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from hapulse.wire.message import Message

INIT, UP, ACTIVE, DEAD = "init", "up", "active", "dead"
LINK_UP, LINK_DEAD = "up", "dead"
HISTORY = 200  # messages kept for retransmission, as Heartbeat's MAXMSGHIST
MAX_REXMIT_GAP = 50  # at most this many missing messages asked for at once
REXMIT_RETRY = 1.0  # seconds before asking again for the same gap
# A message is retransmitted at most once per this many seconds, however many peers ask:
# after a stall every peer asks for the same gap, and answering each would flood the
# medium (broadcast) and stall the next node in turn
REXMIT_HOLD = 0.25
_STAMPED = frozenset(("src", "srcuuid", "seq", "hg", "ts", "ld", "ttl", "auth"))
SEEN_WINDOW = 400  # sequence numbers remembered per peer for duplicate detection

# Messages that are part of the membership protocol itself, never delivered upward.
PROTOCOL_TYPES = {"status", "NS_rexmit", "NS_ackmsg", "reqnodes", "repnodes"}


@dataclass(frozen=True)
class Send:
    msg: Message
    link: str | None = None  # None: every link


@dataclass(frozen=True)
class NodeStatus:
    node: str
    old: str
    new: str


@dataclass(frozen=True)
class LinkStatus:
    node: str
    link: str
    old: str
    new: str


@dataclass(frozen=True)
class Deliver:
    msg: Message
    node: str


@dataclass(frozen=True)
class Log:
    level: str
    text: str


Action = Send | NodeStatus | LinkStatus | Deliver | Log


@dataclass
class Peer:
    name: str
    status: str = INIT
    heard: float | None = None  # last packet on any link
    warned: bool = False
    generation: int | None = None
    high_seq: int = 0
    seen: set[int] = field(default_factory=set)
    missing: dict[int, float] = field(default_factory=dict)  # seq -> when last asked
    links: dict[str, str] = field(default_factory=dict)
    link_heard: dict[str, float] = field(default_factory=dict)
    uuid: bytes | None = None


@dataclass(frozen=True)
class PeerView:
    name: str
    status: str
    last_heard_ago: float | None
    generation: int | None
    links: dict[str, str]


class Membership:
    """The membership core of one node."""

    def __init__(
        self,
        local: str,
        nodes: Sequence[str],
        links: Sequence[str],
        keepalive: float,
        deadtime: float,
        warntime: float,
        initdead: float,
        generation: int,
        uuid: bytes,
        now: float,
        load: str = "0.00 0.00 0.00 1/1 1",
    ) -> None:
        self.local = local
        self.links = tuple(links)
        self.keepalive = keepalive
        self.deadtime = deadtime
        self.warntime = warntime
        self.initdead = initdead
        self.generation = generation
        self.uuid = uuid
        self.started = now
        self.load = load
        self.status = UP
        self.seq = 0
        self.next_heartbeat = now
        self.history: OrderedDict[int, Message] = OrderedDict()
        self.resent: dict[int, float] = {}  # seq -> when last retransmitted
        self.peers: dict[str, Peer] = {
            n.lower(): Peer(n, links={link: LINK_DEAD for link in self.links})
            for n in nodes
            if n.lower() != local.lower()
        }
        self.wallclock = 0.0  # Unix time for `ts`, set by the edge (never read here)

    # ---- outgoing -----------------------------------------------------------
    def _stamp(self, msg: Message, now: float, with_seq: bool = True) -> Message:
        out = msg.copy(without=_STAMPED)
        out.append("src", self.local)
        out.append("srcuuid", self.uuid)
        if with_seq:
            self.seq += 1
            out.append("seq", f"{self.seq:x}")
        out.append("hg", f"{self.generation:x}")
        out.append("ts", f"{int(self.wallclock or now):x}")
        out.append("ld", self.load)
        out.append("ttl", "3")
        if with_seq:
            self.history[self.seq] = out
            while len(self.history) > HISTORY:
                self.history.popitem(last=False)
        return out

    def heartbeat(self, now: float) -> Message:
        msg = Message.from_pairs([
            ("t", "status"),
            ("st", self.status),
            ("dt", f"{int(self.deadtime * 1000):x}"),
            ("protocol", "1"),
        ])
        return self._stamp(msg, now)

    def send_cluster(self, msg: Message, now: float) -> list[Action]:
        """Send a cluster message (resource, standby ...) reliably to every peer."""
        return [Send(self._stamp(msg, now))]

    def leave(self, now: float) -> list[Action]:
        """The last heartbeat of a graceful shutdown: status `dead`, as Heartbeat sends."""
        self.status = DEAD
        return [Send(self.heartbeat(now)), Log("info", f"{self.local}: leaving the cluster")]

    # ---- time ---------------------------------------------------------------
    def _dead_after(self, p: Peer) -> float:
        return self.deadtime if p.heard is not None else self.initdead

    def tick(self, now: float) -> list[Action]:
        out: list[Action] = []
        if now >= self.next_heartbeat:
            out.append(Send(self.heartbeat(now)))
            self.next_heartbeat += self.keepalive
            if self.next_heartbeat <= now:  # fell behind (a stalled loop): no burst
                self.next_heartbeat = now + self.keepalive
        for p in self.peers.values():
            for link, st in p.links.items():
                heard = p.link_heard.get(link)
                if st == LINK_UP and heard is not None and now - heard > self.deadtime:
                    p.links[link] = LINK_DEAD
                    out.append(LinkStatus(p.name, link, LINK_UP, LINK_DEAD))
            if p.status == DEAD:
                continue
            since = p.heard if p.heard is not None else self.started
            silent = now - since
            if p.heard is not None and silent > self.warntime and not p.warned:
                p.warned = True
                out.append(Log("warning", f"Late heartbeat: Node {p.name}: interval "
                               f"{int(silent * 1000)} ms (warntime {int(self.warntime * 1000)} "
                               f"ms, deadtime {int(self.deadtime * 1000)} ms)"))
            if silent > self._dead_after(p):
                old = p.status
                p.status = DEAD
                p.missing.clear()
                why = "deadtime" if p.heard is not None else "initdead"
                out.append(Log("warning", f"node {p.name}: is dead (silent {silent:.3f} s, "
                               f"{why} {self._dead_after(p):g} s)"))
                out.append(NodeStatus(p.name, old, DEAD))
                for link, st in p.links.items():
                    if st == LINK_UP:
                        p.links[link] = LINK_DEAD
                        out.append(LinkStatus(p.name, link, LINK_UP, LINK_DEAD))
        out.extend(self._maybe_active())
        return out

    def _maybe_active(self) -> list[Action]:
        """Local status goes `active` once every peer is heard from or declared dead."""
        if self.status == UP and all(p.status != INIT for p in self.peers.values()):
            self.status = ACTIVE
            return [Log("info", f"Local status now set to: '{ACTIVE}'")]
        return []

    def next_deadline(self) -> float:
        t = self.next_heartbeat
        for p in self.peers.values():
            for link, st in p.links.items():
                heard = p.link_heard.get(link)
                if st == LINK_UP and heard is not None:
                    t = min(t, heard + self.deadtime + 1e-6)
            if p.status == DEAD:
                continue
            since = p.heard if p.heard is not None else self.started
            if p.heard is not None and not p.warned:
                t = min(t, since + self.warntime + 1e-6)
            t = min(t, since + self._dead_after(p) + 1e-6)
        return t

    # ---- incoming -----------------------------------------------------------
    def receive(self, msg: Message, link: str, now: float) -> list[Action]:
        src = msg.get("src")
        if src is None:
            return [Log("warning", f"message without src on {link} dropped")]
        if src.lower() == self.local.lower():
            return []
        p = self.peers.get(src.lower())
        if p is None:
            return [Log("warning", f"message from node {src}, not in ha.cf's node list, on "
                                   f"{link}: dropped (add `node {src}` to ha.cf if it belongs)")]
        dest = msg.get("dest")
        out: list[Action] = []
        hg = msg.get_int("hg")
        if hg is not None:
            if p.generation is not None and hg < p.generation:
                return [Log("debug", f"replay from {p.name} (generation {hg} < "
                                     f"{p.generation}) dropped")]
            if p.generation is not None and hg > p.generation:
                out.append(Log("info", f"node {p.name} restarted: generation {p.generation} "
                                       f"-> {hg}"))
                p.high_seq, p.seen, p.missing = 0, set(), {}
            p.generation = hg
        uuid = msg.get_bytes("srcuuid")
        if uuid is not None:
            p.uuid = uuid

        # The link and the node are alive, whatever the message says.
        if link not in p.links or p.links[link] != LINK_UP:
            old = p.links.get(link, LINK_DEAD)
            p.links[link] = LINK_UP
            out.append(LinkStatus(p.name, link, old, LINK_UP))
        p.link_heard[link] = now
        if p.warned and p.heard is not None:
            out.append(Log("info", f"node {p.name}: heartbeat resumed after "
                                   f"{int((now - p.heard) * 1000)} ms"))
        p.heard = now
        p.warned = False

        seq = msg.get_int("seq")
        mtype = msg.get("t")
        if seq is not None:
            if seq in p.seen or (seq <= p.high_seq - SEEN_WINDOW):
                return out  # duplicate (several links, or a retransmission we had)
            p.seen.add(seq)
            p.missing.pop(seq, None)
            if seq > p.high_seq:
                if p.high_seq and seq > p.high_seq + 1:
                    for s in range(max(p.high_seq + 1, seq - MAX_REXMIT_GAP), seq):
                        p.missing.setdefault(s, -1e9)
                p.high_seq = seq
            if len(p.seen) > 2 * SEEN_WINDOW:  # pruned now and then, not per message
                floor = p.high_seq - SEEN_WINDOW
                p.seen = {s for s in p.seen if s > floor}
            out.extend(self._request_missing(p, now))

        if mtype == "status":
            new = msg.get("st") or UP
            if new == DEAD:  # a graceful leave
                new = DEAD
            if new != p.status:
                out.append(NodeStatus(p.name, p.status, new))
                p.status = new
        elif p.status in (DEAD, INIT):
            out.append(NodeStatus(p.name, p.status, UP))
            p.status = UP

        to_me = dest is None or dest.lower() == self.local.lower()
        if mtype == "NS_rexmit" and to_me:
            out.extend(self._answer_rexmit(msg, p, now))
        elif mtype == "reqnodes" and dest is not None and to_me:
            out.append(self._repnodes(p, now))
        elif mtype not in PROTOCOL_TYPES and (dest is None or dest.lower() == self.local.lower()):
            out.append(Deliver(msg, p.name))
        out.extend(self._maybe_active())
        return out

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

    def _request_missing(self, p: Peer, now: float) -> list[Action]:
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
        return [Send(self._stamp(req, now, with_seq=False)),
                Log("info", f"requesting retransmission of {p.name}'s messages "
                            f"{first}..{last}")]

    def _answer_rexmit(self, msg: Message, p: Peer, now: float) -> list[Action]:
        first, last = msg.get_int("firstseq"), msg.get_int("lastseq")
        if first is None or last is None or last < first:
            return [Log("warning", f"malformed NS_rexmit from {p.name} dropped")]
        out: list[Action] = []
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
            out.append(Log("info", f"{p.name} asked for {missing} message(s) no longer in "
                                   f"history ({first}..{last})"))
        return out

    # ---- views --------------------------------------------------------------
    def snapshot(self, now: float | None = None) -> dict[str, object]:
        nodes: list[dict[str, object]] = [{
            "name": self.local, "status": self.status, "type": "normal", "local": True,
            "generation": self.generation, "links": {link: LINK_UP for link in self.links},
        }]
        for p in self.peers.values():
            nodes.append({
                "name": p.name, "status": p.status, "type": "normal", "local": False,
                "generation": p.generation,
                "last_heard_ago": None if p.heard is None or now is None
                else round(now - p.heard, 3),
                "links": dict(p.links),
            })
        return {"local": self.local, "status": self.status, "generation": self.generation,
                "seq": self.seq, "nodes": nodes}

    def peer_status(self, node: str) -> str | None:
        if node.lower() == self.local.lower():
            return self.status
        p = self.peers.get(node.lower())
        return p.status if p else None

    def live_peers(self) -> Iterable[str]:
        return [p.name for p in self.peers.values() if p.status not in (DEAD, INIT)]
