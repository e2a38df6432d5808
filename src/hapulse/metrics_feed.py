"""The daemon's side of the metrics: hapulse.toml's `[metrics]` turned into a served,
fed exporter (docs/monitoring.md).

:class:`MetricsFeed` owns the :class:`~hapulse.metrics.Metrics` exporter when
`[metrics]` is enabled (None otherwise: prometheus_client is then never
imported), feeds it from the event bus, serves it, moves it on reload, and
answers its scrapes with a view taken on the event loop.

Threading: prometheus_client serves each scrape on its own thread. The loop
never waits for a scrape; a scrape waits for the loop at most
:data:`VIEW_WAIT` seconds (its scrape-time series are then left out).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from hapulse.config import Config
from hapulse.events import Event, EventBus, EventKind
from hapulse.reload import ReloadPlan, metrics_settings
from hapulse.states import GroupState, LinkState, NodeState
from hapulse.wire.rejects import RejectBudget

if TYPE_CHECKING:  # hapulse.metrics imports prometheus_client: only with [metrics] on
    from hapulse.metrics import Metrics, ScrapeView
    from hapulse.node import Node

log = logging.getLogger("hapulse")

VIEW_WAIT = 1.0  # seconds a scrape waits for the event loop's view
_HELD_HERE = frozenset({GroupState.STARTING, GroupState.RUNNING, GroupState.STOPPING})


class MetricsFeed:
    """The exporter of one daemon, or none; see the module's docstring."""

    def __init__(self, local: str, node: Node, events: EventBus, rejects: RejectBudget,
                 now: Callable[[], float], spawn: Callable[[Awaitable[None]], None]) -> None:
        self.local = local
        self.node = node
        self.events = events
        self.rejects = rejects
        self.now = now
        self.spawn = spawn
        self.metrics: Metrics | None = None
        self.config: Config | None = None
        self._off: Callable[[], None] | None = None  # the unsubscribe from the event bus
        self._failovers: dict[str, tuple[str, float]] = {}  # group -> (dead peer, when)
        self._local_state: NodeState | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    # ---- lifecycle --------------------------------------------------------------
    def configure(self, config: Config) -> None:
        """The exporter when [metrics] is enabled: declared, fed from the event bus."""
        self.config = config
        if not metrics_settings(config).enabled or self.metrics is not None:
            return
        from hapulse.metrics import Metrics  # prometheus_client only when asked for

        self.metrics = Metrics(config.node)
        self.metrics.declare(config.hacf.nodes, [g.id for g in config.groups])
        self.metrics.set_source(self._view)
        self._off = self.events.subscribe(self._on_event)
        self._take()  # this node's own state, the groups' states and owners

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """The running loop (scrapes hand their view request to it)."""
        self._loop, self._loop_thread = loop, threading.get_ident()

    def start(self) -> None:
        """Serve /metrics; a bind failure is an error line, never the daemon's end."""
        m, config = self.metrics, self.config
        if m is None or config is None:
            return
        want = metrics_settings(config)
        try:
            port = m.start(want.address, want.port)
        except OSError as exc:
            where = config.settings.path if config.settings is not None else None
            log.error("metrics: cannot serve /metrics on %s:%d: %s; running without it (fix "
                      "address/port in [metrics] of %s, then `hapulse reload`)",
                      want.address, want.port, exc.strerror or exc,
                      where or config.confdir / "hapulse.toml")
            return
        log.info("metrics: serving /metrics on %s:%d", want.address, port)

    def reload(self, config: Config, plan: ReloadPlan) -> None:
        """[metrics] changed: the endpoint stops (in a thread: a server's shutdown waits up
        to half a second) and starts again on the new address; its counts are kept."""
        self.config = config
        m = self.metrics
        if not metrics_settings(config).enabled:
            if m is not None:
                if self._off is not None:
                    self._off()
                self.metrics = self._off = None
                self._failovers.clear()
                self._local_state = None
                self.spawn(asyncio.to_thread(m.stop))
                log.info("metrics: endpoint stopped ([metrics] disabled)")
            return
        if m is None:
            self.configure(config)
            if self._loop is not None:
                self.start()
            return
        m.declare(config.hacf.nodes, [g.id for g in config.groups])
        self._take()
        if (plan.metrics_changed or not m.serving) and self._loop is not None:
            self.spawn(self._restart(m))

    async def close(self) -> None:
        if self.metrics is not None:
            await asyncio.to_thread(self.metrics.stop)

    async def _restart(self, m: Metrics) -> None:
        await asyncio.to_thread(m.stop)
        if self.metrics is m:  # not disabled meanwhile
            self.start()

    # ---- feeding ----------------------------------------------------------------
    def _on_event(self, e: Event) -> None:
        """The event bus's transitions into the exporter (on the loop, never blocking)."""
        m = self.metrics
        if m is None:
            return
        now = self.now()
        match e.kind:
            case EventKind.NODE:
                state = NodeState(e.state)
                m.node_status(e.subject, state)
                if state is NodeState.DEAD and e.old in (NodeState.UP, NodeState.ACTIVE):
                    # a failover starts: the groups not held here may come here now
                    for g in self.node.snapshot(now).policy.groups:
                        if g.here not in (GroupState.RUNNING, GroupState.STOPPING):
                            self._failovers[g.id] = (e.subject, now)
                elif state.alive:  # back: what it held is no failover any more
                    self._failovers = {gid: v for gid, v in self._failovers.items()
                                       if v[0] != e.subject}
            case EventKind.LINK:
                node, _, link = e.subject.partition(":")
                m.link_status(node, link, LinkState(e.state))
            case EventKind.GROUP if e.state == "acquired":
                pending = self._failovers.pop(e.subject, None)
                if pending is not None:
                    m.failover(e.subject, now - pending[1])
            case EventKind.SPLIT_BRAIN:
                m.split_brain(e.subject)
            case _:
                pass
        if e.kind is not EventKind.LINK:
            self._take()

    def _take(self) -> ScrapeView:
        """On the loop: the groups' states and owners into the exporter, and the view of
        the counts a scrape reads (the membership core's, the reject budget's)."""
        from hapulse.metrics import ScrapeView

        snap = self.node.snapshot(self.now())
        m = self.metrics
        if m is not None:
            state = next(n.status for n in snap.nodes if n.local)
            if state is not self._local_state and state.alive:  # leaving is no death
                self._local_state = state
                m.node_status(self.local, state)
            for g in snap.policy.groups:
                owner = self.local if g.here in _HELD_HERE else \
                    (g.peers[0] if g.peers else None)
                m.group_status(g.id, g.here, owner)
                if owner is not None and owner != self.local:
                    self._failovers.pop(g.id, None)  # a live peer has it
        return ScrapeView(time.time(), tuple(n for n in snap.nodes if not n.local),
                          self.rejects.counts())

    def _view(self) -> ScrapeView | None:
        """A scrape's view, taken on the loop (called on the HTTP server's thread)."""
        loop = self._loop
        if loop is None or threading.get_ident() == self._loop_thread:
            return self._take()
        done: concurrent.futures.Future[ScrapeView] = concurrent.futures.Future()

        def take() -> None:
            if done.set_running_or_notify_cancel():
                try:
                    done.set_result(self._take())
                except BaseException as exc:
                    done.set_exception(exc)

        try:
            loop.call_soon_threadsafe(take)
        except RuntimeError:  # the loop is closed: hapulse is stopping
            return None
        try:
            return done.result(timeout=VIEW_WAIT)
        except TimeoutError:
            done.cancel()
            log.warning("metrics: the event loop did not answer a scrape within %g s; "
                        "scrape-time series left out", VIEW_WAIT)
            return None
