"""The composition root: sockets, timers, signals and the control socket.

The daemon holds no protocol decisions. It feeds the pure node core
(:class:`~hapulse.node.Node`: membership and failover policy) with verified
packets, control commands, resource results and the monotonic time, and
carries out the actions it returns: packets to send, resource groups to
acquire or release (asynchronously, through
:class:`~hapulse.resources.ResourceManager`), log lines to write.

Every collaborator is built in ``__init__``; :meth:`Daemon.run` only opens
the sockets and waits. One timer, re-armed only when the node's next
deadline comes earlier than the armed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, assert_never

import hapulse
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
from hapulse.config import Config, ResourceGroup, hbparameters, load_config
from hapulse.config.settings import SETTINGS_FILE, HooksSettings, MonitorSettings
from hapulse.events import EventBus, EventKind
from hapulse.hooks import HookRunner
from hapulse.linebudget import ChurnBudget
from hapulse.logsetup import LOG_FAILURES, setup_logging
from hapulse.metrics_feed import MetricsFeed
from hapulse.monitors.checks import Check, make_check, run_check
from hapulse.monitors.policy import (
    FailCount,
    MonitorAction,
    MonitorPolicy,
    Move,
    Notify,
    Restart,
    RunCheck,
)
from hapulse.node import Node, NodeSettings
from hapulse.paths import DEFAULT_RUN_DIR, DEFAULT_STATE_DIR
from hapulse.reload import ReloadPlan, plan_reload
from hapulse.resources import ResourceManager
from hapulse.resources.stonith import StonithDevice, device_for, reset_node
from hapulse.respawn import Respawner, parse_respawn
from hapulse.runtime import ControlServer, Handler, Stream
from hapulse.states import GroupOp, GroupState, LogLevel, NodeState
from hapulse.transports import OnPacket, Transport, UdpTransport, make_transport
from hapulse.transports.ping import PingTransport, ping_targets
from hapulse.transports.udp import read_period
from hapulse.wire.auth import Authenticator
from hapulse.wire.errors import RejectReason, WireError
from hapulse.wire.message import Message
from hapulse.wire.rejects import RejectBudget

if TYPE_CHECKING:  # hapulse.metrics imports prometheus_client: only with [metrics] on
    from hapulse.metrics import Metrics

log = logging.getLogger("hapulse")
COLLECT_EVERY = 30.0  # s between the timer's full garbage collections (about 0.2 ms each)
Reply = dict[str, object]  # a control socket answer (JSON)

_LEVELS = {LogLevel.DEBUG: logging.DEBUG, LogLevel.INFO: logging.INFO,
           LogLevel.WARNING: logging.WARNING, LogLevel.ERROR: logging.ERROR,
           LogLevel.CRITICAL: logging.CRITICAL}


@dataclass
class DaemonOptions:
    confdir: Path
    node: str | None = None
    state_dir: Path = DEFAULT_STATE_DIR
    run_dir: Path = DEFAULT_RUN_DIR


@dataclass(frozen=True)
class Identity:
    """Who this node is on the wire: its generation (bumped each start) and uuid."""

    generation: int
    uuid: bytes


@dataclass
class Counters:
    """What only the daemon knows; packet counts live in each transport."""

    deaths: int = 0
    reloads: int = 0
    started: float = field(default_factory=time.time)


def _resource_log(level: str, text: str) -> None:
    log.log(logging.getLevelNamesMapping().get(level.upper(), logging.INFO), text)


def _clock_offset() -> float:
    return time.time() - time.monotonic()


def _hooks_settings(config: Config) -> HooksSettings:
    return config.settings.hooks if config.settings is not None else HooksSettings()


def _settings_path(config: Config) -> str:
    """hapulse.toml's path, for log lines (the file may not exist)."""
    if config.settings is not None and config.settings.path:
        return config.settings.path
    return str(config.confdir / SETTINGS_FILE)


class Daemon:
    """One hapulse node."""

    def __init__(self, config: Config, options: DaemonOptions, identity: Identity) -> None:
        self.config = config
        self.options = options
        self.identity = identity
        self.counters = Counters()
        self.auth = Authenticator.from_authkeys(config.authkeys)
        self._previous_auth: tuple[Authenticator, float] | None = None  # after a key change
        self.rejects = RejectBudget()
        self.churn = ChurnBudget()  # membership lines in a storm (a starved machine)
        self.node = Node(NodeSettings.from_config(config), identity.generation, identity.uuid,
                         self.now(), _clock_offset())
        self.resources = ResourceManager(config.confdir, log=_resource_log)
        self.transports: list[Transport] = [make_transport(m, config.hacf.udpport)
                                            for m in config.hacf.media]
        self.control = ControlServer(options.run_dir, self._control_handlers())
        raw = [(d.name, d.args) for d in config.hacf.directives]
        self.stonith: StonithDevice | None = device_for(raw, config.node)
        targets = ping_targets(raw)
        self.pinger = PingTransport(targets, self._on_ping_reply, _resource_log) \
            if targets else None
        self._next_ping = 0.0
        self._next_collect = 0.0  # the periodic garbage collection (see _on_timer)
        self.respawners = [Respawner(parse_respawn(d.args), _resource_log)
                           for d in config.hacf.directives if d.name == "respawn"
                           and d.args[1:2] and d.args[1].rsplit("/", 1)[-1] != "ipfail"]
        self._fence_results: list[str] = []
        self._groups: dict[str, ResourceGroup] = {g.id: g for g in config.groups}
        # the definition each group was started with: a release stops what was started
        self._started: dict[str, ResourceGroup] = {}
        self._group_since: dict[str, float] = {}
        self.events = EventBus()
        self.hooks = HookRunner(config.node, _hooks_settings(config), _settings_path(config))
        self.events.subscribe(self.hooks.notify)
        # hapulse.toml [metrics]: the exporter, served and fed (None unless enabled)
        self.feed = MetricsFeed(config.node, self.node, self.events, self.rejects,
                                lambda: self.now(), self._spawn)
        self.feed.configure(config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed_at: float | None = None
        # polled heartbeat sockets (transports.udp.read_period): read on each timer wake-up
        self._polled: list[UdpTransport] = []
        self._read_period: float | None = None
        self._next_read = 0.0
        self._fed = 0.0  # the latest time fed to the node: arrival stamps never go back
        # in a polled wake-up (our beat, then the drain): the timer is re-armed after, once,
        # from the deadlines as the drain left them (re-armed after the beat, it fired
        # again at a peer's deadline the drain was about to move: 190 wake-ups/s, not 100)
        self._draining = False
        self._stopping = False
        self._done: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        # resource monitors (hapulse.toml): the decisions pure, the checks at the edge
        self.monitors = MonitorPolicy(*_monitor_config(config), self.now())
        self._checks: dict[str, Check] = {}  # built on first use; a reload rebuilds them
        self._monitor_timer: asyncio.TimerHandle | None = None
        self._group_locks: dict[str, asyncio.Lock] = {}  # a restart in place vs start/stop

    @property
    def metrics(self) -> Metrics | None:
        """The Prometheus exporter, when hapulse.toml enables `[metrics]`."""
        return self.feed.metrics

    # ---- time -------------------------------------------------------------
    @staticmethod
    def now() -> float:
        return time.monotonic()

    # ---- lifecycle --------------------------------------------------------
    async def run(self) -> int:
        from hapulse import realtime

        cfg = self.config
        hacf = cfg.hacf
        self._loop = asyncio.get_running_loop()
        self.feed.attach(self._loop)
        self._done = self._loop.create_future()
        log.info(
            "hapulse starting: node %s, generation %d, keepalive %gs, warntime %gs, "
            "deadtime %gs, initdead %gs",
            cfg.node, self.identity.generation, hacf.keepalive, hacf.warntime, hacf.deadtime,
            hacf.initdead,
        )
        if any(r.agent.lower() in ("ipaddr", "ipaddr2") for g in cfg.groups
               for r in g.resources):
            # the netlink library takes ~0.1 s to import: pay it now, not in the
            # middle of a takeover (and before memory is locked and the GC frozen);
            # its rtnetlink socket alone (resources.netlink), not all of pyroute2
            from hapulse.resources.netlink import iproute_class

            iproute_class()
        for level, text in realtime.apply(hacf.realtime, hacf.rtprio):
            _resource_log(level, text)
        for t in self.transports:
            await t.start(self._packet_handler(t.link))
            log.info("%s: %s medium on %s ready", cfg.node, t.kind, t.link)
        self.node.media_up(self.now())  # initdead from now, however long the start took
        self._choose_reading()
        await self.control.start()
        self.feed.start()
        if self.pinger is not None:
            await self.pinger.start()
            log.info("ping nodes: %s (%s ICMP socket)",
                     ", ".join(t.name for t in self.pinger.targets), self.pinger.mode)
        for r in self.respawners:
            await r.start()
        self.hooks.start()
        self._install_signals()
        self._notify("READY=1")
        self._start_watchdog()
        log.info("Local status now set to: 'up'")
        self._dispatch(self.node.tick(self.now()))
        self._monitor_tick()
        try:
            await self._done
        finally:
            await self._close()
        return 0

    async def _close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._monitor_timer is not None:
            self._monitor_timer.cancel()
        for t in self.transports:
            with contextlib.suppress(Exception):
                await t.close()
        with contextlib.suppress(Exception):
            await self.control.close()
        if self.pinger is not None:
            with contextlib.suppress(Exception):
                await self.pinger.close()
        for r in self.respawners:
            with contextlib.suppress(Exception):
                await r.stop()
        with contextlib.suppress(Exception):  # the last events' hooks, bounded
            await self.hooks.close(grace=self.hooks.settings.timeout + 1.0)
        with contextlib.suppress(Exception):
            await self.feed.close()
        log.info("hapulse stopped")

    def _install_signals(self) -> None:
        assert self._loop is not None
        self._loop.add_signal_handler(signal.SIGTERM, self.request_shutdown)
        self._loop.add_signal_handler(signal.SIGINT, self.request_shutdown)
        self._loop.add_signal_handler(signal.SIGHUP, self.reload)

    def _start_watchdog(self) -> None:
        """systemd's WatchdogSec: ping at half the period while the loop runs."""
        usec = os.environ.get("WATCHDOG_USEC", "")
        if not usec.isascii() or not usec.isdigit() or self._loop is None:
            return
        period = int(usec) / 2e6

        def ping() -> None:
            self._notify("WATCHDOG=1")
            if self._done is not None and not self._done.done():
                assert self._loop is not None
                self._loop.call_later(period, ping)

        ping()

    def _notify(self, state: str) -> None:
        """sd_notify: READY=1, STOPPING=1, WATCHDOG=1 when run under systemd."""
        addr = os.environ.get("NOTIFY_SOCKET")
        if not addr:
            return
        if addr.startswith("@"):
            addr = "\0" + addr[1:]
        with contextlib.suppress(OSError), socket.socket(
            socket.AF_UNIX, socket.SOCK_DGRAM
        ) as s:
            s.sendto(state.encode(), addr)

    # ---- packets in -------------------------------------------------------
    def _packet_handler(self, link: str) -> OnPacket:
        def on_packet(data: bytes, source: str, when: float | None = None) -> None:
            self._on_packet(data, source, link, when)

        return on_packet

    def _choose_reading(self) -> None:
        """Poll the UDP sockets when heartbeats arrive faster than one per read period
        (fast timers, many nodes), else read each on readiness; again after a reload."""
        udp = [t for t in self.transports if isinstance(t, UdpTransport)]
        hacf = self.config.hacf
        peers = {n.lower() for n in hacf.nodes} - {self.config.node.lower()}
        period = read_period(hacf.keepalive, len(peers), len(udp))
        if period != self._read_period:
            log.info("heartbeat sockets: %s", "read on readiness" if period is None else
                     f"polled every {period * 1000:g} ms (kernel arrival times)")
        self._read_period = period
        for t in udp:
            t.set_polled(period is not None)
        self._polled = udp if period is not None else []
        self._next_read = self.now()

    def _on_packet(self, data: bytes, source: str, link: str,
                   when: float | None = None) -> None:
        if when is None:
            self._fed = now = self.now()
        else:  # waited in a polled socket: it counts from its arrival
            now = when if when > self._fed else self._fed
            self._fed = now
        msg: Message | None = None
        try:
            # a status heartbeat signed with the current keys is read without a Message;
            # anything else (or a doubt) takes the general path, which says why it rejects
            hb = self.auth.verify_status(data)
            if hb is None:
                msg = self._verify(data)
        except WireError as exc:
            if self.rejects.note(source, exc.reason, now):
                log.warning("rejected packet from %s on %s: %s", source, link, exc)
            return
        except Exception as exc:  # a decoder bug: drop the packet, keep the node alive
            if self.rejects.note(source, RejectReason.DECODER_BUG, now):
                log.error("packet from %s on %s dropped: the decoder failed on it (%r); "
                          "please report this as a hapulse bug", source, link, exc)
            return
        src = hb.src if hb is not None else msg.get("src") if msg is not None else None
        if src is not None and src.lower() == self.config.node.lower():
            return  # our own broadcast/multicast looped back
        if src is None or not self.node.knows(src):  # signed with our key, yet a stranger
            if self.rejects.note(source, RejectReason.UNKNOWN_NODE, now):
                log.warning("message from node %s (%s on %s) dropped: it is not in ha.cf's "
                            "node list; add `node %s` to ha.cf if it belongs", src, source,
                            link, src)
            return
        if msg is not None:
            self._dispatch(self.node.receive(msg, link, now))
            return
        assert hb is not None
        actions = self.node.receive_status(hb, link, now)
        if actions:
            self._dispatch(actions)
        # else: a heartbeat that changed nothing but the peer's and the link's last-heard
        # times, which only move their deadlines later; the armed timer (always one while
        # running) comes first and re-arms from the new deadline: no re-scheduling per packet

    def _verify(self, data: bytes) -> Message:
        """Decode and check the signature; after a key change the previous keys stay
        valid for one deadtime, so peers that reload a moment later are not lost."""
        try:
            return self.auth.decode_and_verify(data)
        except WireError:
            prev = self._previous_auth
            if prev is None or self.now() > prev[1]:
                self._previous_auth = None
                raise
            try:
                return prev[0].decode_and_verify(data)
            except WireError:
                pass
            raise

    # ---- actions ----------------------------------------------------------
    def _dispatch(self, actions: Iterable[NodeAction]) -> None:
        """Carry out the node's actions, then re-arm the timer if its deadline moved."""
        for a in actions:
            match a:
                case Send(msg=msg, link=link):
                    packet = self.auth.sign_and_encode(msg)
                    for t in self.transports:
                        if link is None or t.link == link:
                            t.send(packet)
                case NodeStatus(node=node, old=old, new=new):
                    if self.churn.take(node, self.now()):
                        log.info("Status update for node %s: status %s", node, new)
                    self.events.publish(EventKind.NODE, node, new, old)
                    if new is NodeState.DEAD:
                        self.counters.deaths += 1
                case LinkStatus(node=node, link=link, old=old, new=new):
                    if self.churn.take(node, self.now()):
                        log.info("Link %s:%s %s.", node, link, new)
                    self.events.publish(EventKind.LINK, f"{node}:{link}", new, old)
                case Log(level=level, text=text, churn=churn):
                    if not churn or self.churn.take(churn, self.now()):
                        log.log(_LEVELS[level], "%s", text)
                case Acquire(group_id=gid, takeover=takeover):
                    self._spawn(self._run_group(GroupOp.ACQUIRE, gid, takeover))
                case Release(group_id=gid):
                    self._spawn(self._run_group(GroupOp.RELEASE, gid))
                case Readvertise(group_id=gid):
                    self._spawn(self._readvertise(gid))
                case SplitBrain(peer=peer, group_id=gid, keeper=keeper):
                    kept = keeper.lower() == self.config.node.lower()
                    self.events.publish(EventKind.SPLIT_BRAIN, gid,
                                        "kept" if kept else "released",
                                        detail=f"also held by {peer}; {keeper} keeps it")
                case Fence(node=node):
                    self._spawn(self._fence(node))
                case ShutdownComplete():
                    self._finish_shutdown()
                case _:
                    assert_never(a)
        if not self._draining:  # a polled drain schedules once, after its last packet
            self._schedule()

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fence(self, node: str) -> None:
        if self.stonith is None:  # the policy only fences with a device configured
            self._dispatch(self.node.fence_done(node, False, self.now()))
            return
        result = await reset_node(self.stonith, node, _resource_log)
        self._fence_results.append(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {node}: "
                                   f"{result.outcome} ({result.seconds:.1f} s)")
        del self._fence_results[:-10]
        self.events.publish(EventKind.FENCE, node, result.outcome,
                            detail=f"{result.seconds:.1f} s")
        self._dispatch(self.node.fence_done(node, result.ok, self.now()))

    async def _replace_pinger(self, pinger: PingTransport | None) -> None:
        old, self.pinger = self.pinger, None
        if old is not None:
            await old.close()
        if pinger is not None and self._loop is not None:
            await pinger.start()
        self.pinger = pinger

    def _on_ping_reply(self, node: str, now: float) -> None:
        self._dispatch(self.node.ping_reply(node, now))

    async def _run_group(self, op: GroupOp, group_id: str, takeover: bool = False) -> None:
        acquire = op is GroupOp.ACQUIRE
        group = self._groups.get(group_id) if acquire else self._started.get(group_id)
        group = group or self._groups.get(group_id)
        if group is None:  # released before it was ever started here: nothing runs
            self._dispatch(self.node.resource_done(group_id, op, True, self.now()))
            return
        started = self.now()
        if takeover and self.pinger is not None:  # the LAN matters: is the address free?
            holder = await self.resources.answering(group)
            if holder is not None:
                self._dispatch(self.node.resource_done(group_id, op, False, self.now(),
                                                       contested=holder))
                return
        log.info("%s resource group %s", "Acquiring" if acquire else "Releasing", group_id)
        try:
            async with self._group_lock(group_id):  # never while a monitor restarts in it
                result = await (self.resources.acquire(group) if acquire
                                else self.resources.release(group))
            ok, reason = result.ok, result.reason
        except Exception as exc:  # an agent bug must not kill the daemon
            log.exception("resource group %s: %s raised", group_id, op)
            ok, reason = False, str(exc)
        took = self.now() - started
        if acquire:
            self._started[group_id] = group
        elif ok:
            self._started.pop(group_id, None)
        self._group_since[group_id] = time.time()
        if ok:
            log.info("%s of resource group %s complete in %.3f s",
                     "acquisition" if acquire else "release", group_id, took)
            self.events.publish(EventKind.GROUP, group_id,
                                "acquired" if acquire else "released",
                                detail=f"{took:.3f} s" + (", takeover" if takeover else ""))
        else:
            log.error("%s of resource group %s FAILED after %.3f s: %s",
                      op, group_id, took, reason)
            self.events.publish(EventKind.GROUP, group_id, "failed", detail=f"{op}: {reason}")
        self._dispatch(self.node.resource_done(group_id, op, ok, self.now()))
        self._monitor_tick()  # monitors start with a running group, pause with a stopped one
        # the operation's cyclic garbage (pyroute2 leaves about 900 objects a netlink
        # call), now: under realtime.apply's raised thresholds it piled up for hours and
        # left the arenas it had filled fragmented, +260 kB resident a switchover; with
        # the start-up heap frozen, a full collection costs about 0.2 ms
        gc.collect()

    async def _readvertise(self, group_id: str) -> None:
        group = self._started.get(group_id) or self._groups.get(group_id)
        if group is not None:
            log.info("resource group %s: announcing its addresses again", group_id)
            await self.resources.readvertise(group)

    # ---- timers -----------------------------------------------------------
    def _schedule(self) -> None:
        if self._loop is None or self._done is None or self._done.done():
            return
        deadline = self.node.next_deadline(self.now())
        for due in (self.rejects.next_deadline(), self.churn.next_deadline()):
            if due is not None:
                deadline = min(deadline, due)
        if self.pinger is not None:
            deadline = min(deadline, self._next_ping)
        if self._polled:
            deadline = min(deadline, self._next_read)
        if self._timer is not None and self._armed_at is not None and \
                self._armed_at <= deadline:
            return  # the armed timer comes first; it schedules the next one
        if self._timer is not None:
            self._timer.cancel()
        # asyncio's loop clock is time.monotonic(), the clock the node is fed.
        # Never a deadline in the past: a core that keeps one would spin the loop.
        self._armed_at = max(deadline, self._loop.time() + 0.001)
        self._timer = self._loop.call_at(self._armed_at, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = self._armed_at = None
        if self._polled:
            # our heartbeat first: a daemon that got no CPU for a while (a loaded machine)
            # tells the peers it lives before it reads its backlog; then what arrived, with
            # its arrival times; then the deadlines, judged with everything read
            emptied = True
            self._draining = True  # the timer is re-armed once, by the tick below
            try:
                self._dispatch(self.node.beat(self.now()))
                with self.node.batch():  # decided once, by the tick below
                    for t in self._polled:
                        emptied = t.drain() and emptied
            finally:
                self._draining = False
            assert self._read_period is not None
            # a socket left full (a flood) is read again at once, after this tick
            self._next_read = self.now() + (self._read_period if emptied else 0.0)
        self._fed = now = self.now()
        if now >= self._next_collect:
            # cyclic garbage (monitors, scrapes, control requests) is collected on the
            # timer's wake-ups, never left to the raised thresholds (see _run_group)
            self._next_collect = now + COLLECT_EVERY
            gc.collect()
        if self.pinger is not None and now >= self._next_ping:
            self.pinger.send()
            self._next_ping = now + self.node.settings.timers.keepalive
        for summary in (self.rejects.summary(now), self.churn.summary(now)):
            if summary is not None:
                log.warning("%s", summary)
        self._dispatch(self.node.tick(now))

    # ---- control ----------------------------------------------------------
    def request_shutdown(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        self._notify("STOPPING=1")
        log.info("hapulse shutdown requested: releasing resources")
        self._dispatch(self.node.shutdown(self.now()))
        # Bound a shutdown whose resources never finish stopping.
        if self._loop is not None:
            self._loop.call_later(max(30.0, self.config.hacf.deadtime), self._finish_shutdown)

    def _finish_shutdown(self) -> None:
        if self._done is not None and not self._done.done():
            # Tell peers we are leaving, as Heartbeat does on shutdown.
            self._dispatch(self.node.leave(self.now()))
            self._done.set_result(None)

    def reload(self) -> Reply:
        """Re-read the three files; apply what can change live, refuse what cannot."""
        config, diags = load_config(self.config.confdir, self.config.node)
        problems = [str(d) for d in diags]
        if config is None:
            log.error("reload refused: the configuration has errors; keeping the running one")
            for p in problems:
                log.error("%s", p)
            return {"ok": False, "error": "configuration has errors", "diagnostics": problems}
        plan = plan_reload(self.config, config)
        if plan.restart_needed:
            what = "; ".join(plan.restart_needed)
            log.error("reload refused: %s can only change with a restart (`hapulse restart`); "
                      "keeping the running configuration", what)
            return {"ok": False, "error": f"needs a restart: {what}",
                    "restart_needed": list(plan.restart_needed), "diagnostics": problems}
        self._apply(config, plan)
        log.info("configuration reloaded: %s", ", ".join(plan.changes) or "unchanged")
        return {"ok": True, "diagnostics": problems, "changed": plan.changed,
                "changes": list(plan.changes)}

    def _apply(self, config: Config, plan: ReloadPlan) -> None:
        now = self.now()
        if plan.keys_changed:
            self._previous_auth = (self.auth, now + max(config.hacf.deadtime,
                                                        self.config.hacf.deadtime))
            self.auth = Authenticator.from_authkeys(config.authkeys)
        if plan.logging_changed:
            setup_logging(config.hacf, stderr=True)
        self.config = config
        self._groups = {g.id: g for g in config.groups}
        self.counters.reloads += 1
        raw = [(d.name, d.args) for d in config.hacf.directives]
        self.stonith = device_for(raw, config.node)
        targets = ping_targets(raw)
        if self.pinger is None or targets != self.pinger.targets:
            self._spawn(self._replace_pinger(
                PingTransport(targets, self._on_ping_reply, _resource_log) if targets else None))
        if plan.hooks_changed:
            self.hooks.configure(_hooks_settings(config), _settings_path(config))
        self.node.set_clock_offset(_clock_offset())
        self._dispatch(self.node.reconfigure(NodeSettings.from_config(config),
                                             plan.groups_changed, now))
        self._choose_reading()
        self._schedule()
        self._checks.clear()  # monitors: added, removed, changed ones apply now
        self._monitor_do(self.monitors.configure(*_monitor_config(config), self.now()))
        self._monitor_tick()
        self.feed.reload(config, plan)

    def _control_handlers(self) -> dict[str, Handler]:
        return {
            "status": lambda **_: self.status(),
            "stop": lambda **_: self._ctl_stop(),
            "reload": lambda **_: self.reload(),
            "standby": lambda which="all", **_: self._ctl_group(self.node.standby, which),
            "takeover": lambda which="all", **_: self._ctl_group(self.node.takeover, which),
            "ping": lambda **_: {"ok": True, "pid": os.getpid()},
            "events": lambda history=True, since=None, **_: self._ctl_events(history, since),
            "cleanup": lambda group="", **_: self._ctl_cleanup(str(group)),
        }

    def _ctl_events(self, history: object, since: object) -> Stream:
        """`hapulse events`: the recent events (all, none, or those at or after `since`,
        Unix time), then each new one, as `Event.as_dict()` lines."""
        if since is not None and (isinstance(since, bool) or not isinstance(since, int | float)):
            raise ValueError("`since` is a Unix time in seconds")
        past = [e.as_dict() for e in self.events.recent
                if history and (since is None or e.at >= since)]
        return Stream({"ok": True, "node": self.config.node, "stream": "events"}, past,
                      lambda push: self.events.subscribe(lambda e: push(e.as_dict())))

    def _ctl_stop(self) -> Reply:
        assert self._loop is not None
        self._loop.call_soon(self.request_shutdown)
        return {"ok": True, "pid": os.getpid()}

    def _ctl_group(self, command: Callable[[str, float], list[NodeAction]],
                   which: str) -> Reply:
        self._dispatch(command(str(which), self.now()))
        return {"ok": True}

    def status(self) -> Reply:
        """What runs now (never what is merely on disk); reading it changes nothing."""
        cfg = self.config
        now = self.now()
        snap = self.node.snapshot(now)
        timers = self.node.settings.timers
        return {
            "ok": True,
            "node": cfg.node,
            "pid": os.getpid(),
            "uptime": round(time.time() - self.counters.started, 1),
            "hbstatus": "stopping" if self._stopping else "running",
            "generation": self.identity.generation,
            "timers": dataclasses.asdict(timers),
            "nodes": [{
                "name": n.name, "status": str(n.status), "type": "normal", "local": n.local,
                "generation": n.generation, "last_heard_ago": n.last_heard_ago,
                "links": {link.name: str(link.status) for link in n.links},
            } for n in snap.nodes] + [{
                "name": name, "status": str(state), "type": "ping", "local": False,
                "generation": None, "last_heard_ago": None, "links": {},
            } for name, state in snap.ping],
            "rscstatus": snap.rscstatus,
            "parameters": self._parameters(),
            "policy": {
                "rsc_hold": snap.policy.rsc_hold,
                "split_brains": snap.policy.split_brains,
                "groups": {g.id: {"preferred": g.preferred, "here": str(g.here),
                                  "peers": list(g.peers)} for g in snap.policy.groups},
            },
            "groups": [{
                "id": g.id, "preferred": g.preferred,
                "resources": [r.text for r in self._groups[g.id].resources]
                if g.id in self._groups else [],
                "local_state": str(g.here), "since": self._group_since.get(g.id),
                "fail_count": self.monitors.fail_count(g.id), "banned": g.id in snap.policy.banned,
            } for g in snap.policy.groups],
            "monitors": self._monitor_status(now),
            "fail_counts": {g.id: self.monitors.fail_count(g.id) for g in snap.policy.groups},
            "banned": list(snap.policy.banned),
            "counters": {
                "packets_in": sum(t.counters.packets_in for t in self.transports),
                "packets_out": sum(t.counters.packets_out for t in self.transports),
                "send_errors": sum(t.counters.errors for t in self.transports),
                "kernel_drops": sum(t.counters.kernel_drops for t in self.transports),
                "log_write_failures": LOG_FAILURES.count,
                "log_write_last_failure": LOG_FAILURES.last,
                "rejected": self.rejects.total(),
                "rejected_by_reason": self.rejects.counts(),
                "deaths_seen": self.counters.deaths,
                "split_brains": snap.policy.split_brains,
                "reloads": self.counters.reloads,
                "control": dict(self.control.counters),
            },
            "events": [e.text for e in list(self.events.recent)[-20:]],
            "ping_nodes": [{"name": name, "status": str(state)} for name, state in snap.ping],
            "fencing": {"device": self.stonith.type if self.stonith else None,
                        "fenced": list(snap.policy.fenced),
                        "failures": snap.policy.fence_failures,
                        "results": list(self._fence_results)},
            "respawn": [dataclasses.asdict(r.status()) for r in self.respawners],
            "hooks": {"notify": self.hooks.settings.notify, "waiting": self.hooks.waiting,
                      **dataclasses.asdict(self.hooks.counters)},
        }

    # ---- resource monitors (issue 16) ---------------------------------------
    # Off the heartbeat path: their own timer, each check a task (a subprocess or a
    # stream with a timeout), so a slow or hung check never delays a heartbeat.
    def _monitor_tick(self) -> None:
        """Feed the monitor policy the groups running here; run what is due; re-arm."""
        if self._loop is None or self._done is None or self._done.done() or self._stopping:
            return
        running = {g for g, st in self.node.policy.state.items() if st is GroupState.RUNNING}
        self._monitor_do(self.monitors.tick(self.now(), running))
        if self._monitor_timer is not None:
            self._monitor_timer.cancel()
            self._monitor_timer = None
        deadline = self.monitors.next_deadline()
        if deadline is not None:
            self._monitor_timer = self._loop.call_at(max(deadline, self._loop.time() + 0.001),
                                                     self._on_monitor_timer)

    def _on_monitor_timer(self) -> None:
        self._monitor_timer = None
        self._monitor_tick()

    def _monitor_do(self, actions: Iterable[MonitorAction]) -> None:
        for a in actions:
            match a:
                case RunCheck(resource=resource, token=token):
                    self._spawn(self._run_monitor(resource, token))
                case Restart(group=gid, resource=resource):
                    self._spawn(self._restart_in_place(gid, resource))
                case Move(group=gid):
                    self._dispatch(self.node.ban(gid, self.now()))
                case Notify(resource=resource, state=state, old=old, detail=detail):
                    self.events.publish(EventKind.MONITOR, resource, state, old, detail=detail)
                case FailCount(group=gid, count=count):
                    if self.metrics is not None:
                        self.metrics.fail_count_set(gid, self.config.node, count)
                case Log(level=level, text=text):
                    log.log(_LEVELS[level], "%s", text)
                case _:
                    assert_never(a)

    def _check_for(self, resource: str) -> Check | None:
        check = self._checks.get(resource)
        settings = self.config.settings
        m = settings.monitor_for(resource) if settings is not None else None
        spec = next((r for g in self.config.groups for r in g.resources if r.text == resource),
                    None)
        if check is None and m is not None and spec is not None:
            check = self._checks[resource] = make_check(m, spec, self.config.confdir,
                                                        _resource_log)
        return check

    async def _run_monitor(self, resource: str, token: int) -> None:
        settings = self.config.settings
        m = settings.monitor_for(resource) if settings is not None else None
        check = self._check_for(resource)
        if m is None or check is None:  # removed by a reload meanwhile
            return
        result = await run_check(check, m.timeout)
        if result.result != "ok":
            log.warning("monitor %s: %s: %s (%.3f s)", resource, result.result, result.reason,
                        result.duration)
        if self.metrics is not None:
            self.metrics.monitor_result(resource, result.result, result.duration)
        self._monitor_do(self.monitors.on_result(resource, token, result.result, result.reason,
                                                 result.duration, self.now()))
        self._monitor_tick()

    def _group_lock(self, group_id: str) -> asyncio.Lock:
        return self._group_locks.setdefault(group_id, asyncio.Lock())

    async def _restart_in_place(self, group_id: str, resource: str) -> None:
        """Stop `resource` and the resources after it (last first), then start them again
        in order: the later ones depend on it; the earlier ones (the address) stay up."""
        group = self._started.get(group_id) or self._groups.get(group_id)
        ok, reason = False, f"group {group_id} is not defined any more"
        if group is not None:
            async with self._group_lock(group_id):
                ok, reason = await self._restart_tail(group, resource)
        self._monitor_do(self.monitors.restart_done(group_id, resource, ok, reason, self.now()))
        self._monitor_tick()

    async def _restart_tail(self, group: ResourceGroup, resource: str) -> tuple[bool, str]:
        agents = self.resources.agents(group)
        first = next((i for i, a in enumerate(agents) if a.text == resource), None)
        if first is None:
            return False, f"{resource} is not in group {group.id} any more"
        tail = agents[first:]
        started = self.now()
        log.warning("monitor: restarting %s in group %s", ", ".join(a.text for a in tail),
                    group.id)
        try:
            for a in reversed(tail):
                res = await a.stop()
                if not res.ok:
                    return False, f"{a.text}: stop failed: {res.reason}"
            for a in tail:
                res = await a.start()
                if not res.ok:
                    return False, f"{a.text}: {res.reason}"
        except Exception as exc:  # an agent bug must not kill the daemon
            log.exception("monitor: restarting %s raised", resource)
            return False, repr(exc)
        log.info("monitor: %s restarted in %.3f s", resource, self.now() - started)
        return True, ""

    def _ctl_cleanup(self, group: str) -> Reply:
        """`hapulse cleanup GROUP`: the fail count and the ban forgotten here."""
        if group not in self._groups:
            known = ", ".join(self._groups) or "none"
            return {"ok": False, "error": f"no resource group {group!r} in haresources "
                                          f"(groups: {known})"}
        count = self.monitors.fail_count(group)
        banned = group in self.node.policy.banned
        self._monitor_do(self.monitors.cleanup(group))
        self._dispatch(self.node.cleanup(group, self.now()))
        self._monitor_tick()
        log.info("cleanup %s: fail count %d cleared%s", group, count,
                 ", ban lifted" if banned else "")
        return {"ok": True, "group": group, "fail_count": count, "was_banned": banned}

    def _monitor_status(self, now: float) -> list[dict[str, object]]:
        wall = time.time()
        return [{
            "resource": v.resource, "group": v.group, "kind": v.kind, "interval": v.interval,
            "active": v.active, "state": v.state or None, "last": v.last,
            "at": None if v.last_at is None else round(wall - (now - v.last_at), 3),
            "reason": v.reason, "duration": v.duration,
            "restarts_in_window": v.restarts_in_window,
        } for v in self.monitors.view(now)]

    def _parameters(self) -> dict[str, str]:
        """`cl_status hbparameter` answers, computed defaults included, as Heartbeat's."""
        return {**hbparameters(self.config.hacf), "hbversion": "hapulse-" + hapulse.__version__}


def _monitor_config(config: Config) -> tuple[tuple[MonitorSettings, ...],
                                              dict[str, tuple[str, ...]]]:
    """The monitors hapulse.toml asks for, and every group's resources as written."""
    monitors = config.settings.monitors if config.settings is not None else ()
    return monitors, {g.id: tuple(r.text for r in g.resources) for g in config.groups}


def run_foreground(options: DaemonOptions) -> int:
    """Load the configuration, set up logging, take the pid lock and run until stopped."""
    from hapulse.cli import UserError
    from hapulse.runtime import PidLock, StateDir

    config, diags = load_config(options.confdir, options.node)
    for d in diags:
        print(str(d), flush=True)
    if config is None:
        raise UserError(
            f"the configuration in {options.confdir} has errors (listed above); "
            "fix them and start again (`hapulse check` shows them)"
        )
    setup_logging(config.hacf, stderr=True)
    lock = PidLock(options.run_dir)  # makes the run dir; an I/O error is one clear line
    lock.acquire()
    try:
        state = StateDir(options.state_dir)
        identity = Identity(state.bump_generation(), state.uuid())
        return asyncio.run(Daemon(config, options, identity).run())
    finally:
        lock.release()
