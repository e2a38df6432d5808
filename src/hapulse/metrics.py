"""The Prometheus exporter: events in, /metrics out (prometheus_client).

The daemon imports this module only when `[metrics]` is enabled in
hapulse.toml, so prometheus_client stays out of its import otherwise.

Two kinds of series:
- **event-fed**: node and link states, deaths, failovers, group states and
  owners, split brains, monitor results and fail counts. The daemon calls the
  methods below from the asyncio loop as things happen.
- **scrape-time**: seconds since each peer was heard, heartbeat intervals,
  late heartbeats and rejected packets. Per-packet data never reaches this
  module: the membership core counts intervals in fixed buckets (plain ints)
  and the daemon's reject budget counts rejects by reason; a scrape asks the
  `source` (set with :meth:`Metrics.set_source`) for a :class:`ScrapeView`
  of those counts and the :class:`_ScrapeCollector` turns it into families.

Threading: `start()` serves /metrics from prometheus_client's own HTTP server
on a daemon thread. A scrape never runs on the asyncio loop (a slow scraper
cannot delay a heartbeat), and the loop never waits on a scrape: the event
methods only update prometheus_client's values, each under its own lock. The
daemon's `source` hands the view over from the loop (the scrape thread waits
for it briefly, the loop does not wait for the scrape).

Every series is labelled from this node's view (Prometheus adds `instance`):
`node` is a cluster node, `link` a local medium (eth1, /dev/ttyS0), `group`
a haresources group id, `resource` a resource as written in haresources.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest, start_http_server
from prometheus_client.registry import Collector

from hapulse.membership.core import INTERVAL_BUCKETS, NodeView
from hapulse.states import GroupState, LinkState, NodeState
from hapulse.wire.errors import RejectReason

log = logging.getLogger("hapulse")

# Heartbeat intervals: the membership core's buckets (from a keepalive of 100 ms to the
# seed's 2 s and late ones); counted there, exported here.
HEARTBEAT_BUCKETS = INTERVAL_BUCKETS
# Failovers: sub-second aims to deadtime (30 s) plus slow agents.
FAILOVER_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0)
MONITOR_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MONITOR_RESULTS = ("ok", "failed", "timeout")


@dataclass(frozen=True)
class ScrapeView:
    """What a scrape reads from the daemon, taken on its loop: the peers as the
    membership core shows them (`last_heard_ago`, `late`, `intervals`), the Unix time
    the view was taken, and the rejected packets by reason since start."""

    at: float
    peers: tuple[NodeView, ...] = ()
    rejected: Mapping[str, int] = field(default_factory=dict)


Source = Callable[[], ScrapeView | None]
# the `le` labels as prometheus_client's own histograms write them ("1.0", "+Inf")
_INTERVAL_LES = (*(repr(float(b)) for b in HEARTBEAT_BUCKETS), "+Inf")


class _ScrapeCollector(Collector):
    """The scrape-time series, from the latest :class:`ScrapeView` (see Metrics._refresh)."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def describe(self) -> Iterator[Metric]:
        """The families without samples: registering must not ask the source."""
        return self._families(None, ())

    def collect(self) -> Iterator[Metric]:
        return self._families(self._metrics.view, self._metrics.declared_peers())

    def _families(self, view: ScrapeView | None, declared: Iterable[str]) -> Iterator[Metric]:
        last = GaugeMetricFamily("hapulse_peer_last_heard_timestamp_seconds",
                                 "Unix time a fresh packet was last received from the node",
                                 labels=["node"])
        since = GaugeMetricFamily("hapulse_peer_seconds_since_heard", "Seconds since a fresh "
                                  "packet was last received from the node (at scrape time)",
                                  labels=["node"])
        late = CounterMetricFamily("hapulse_late_heartbeats", "Heartbeats received later than "
                                   "warntime after the previous one", labels=["node"])
        intervals = HistogramMetricFamily(
            "hapulse_heartbeat_interval_seconds", "Time between two fresh packets (heartbeats) "
            "received from the node on the link", labels=["node", "link"])
        rejected = CounterMetricFamily("hapulse_rejected_packets", "Packets dropped, by reason",
                                       labels=["reason"])
        peers = view.peers if view is not None else ()
        seen = set()
        for p in peers:
            seen.add(p.name)
            late.add_metric([p.name], p.late)
            if p.last_heard_ago is not None and view is not None:
                last.add_metric([p.name], view.at - p.last_heard_ago)
                since.add_metric([p.name], p.last_heard_ago)
            for li in p.intervals:
                cumulative, buckets = 0, []
                for le, n in zip(_INTERVAL_LES, li.counts, strict=True):
                    cumulative += n
                    buckets.append((le, float(cumulative)))
                intervals.add_metric([p.name, li.link], buckets, li.total)
        for node in declared:
            if node not in seen:  # declared, no view yet: counted from 0
                late.add_metric([node], 0)
        counts = view.rejected if view is not None else {}
        for reason in RejectReason:  # every reason, 0 included
            rejected.add_metric([reason.value], counts.get(reason.value, 0))
        yield from (last, since, late, intervals, rejected)


class _Registry(CollectorRegistry):
    """A registry that refreshes the scrape-time view before each collection."""

    def __init__(self, refresh: Callable[[], None]) -> None:
        super().__init__(auto_describe=True)
        self._refresh = refresh

    def collect(self) -> Iterator[Metric]:
        self._refresh()
        yield from super().collect()


class Metrics:
    """All of hapulse's series in a private registry (no process/GC defaults)."""

    def __init__(self, local: str) -> None:
        self.local = local
        self.registry: CollectorRegistry = _Registry(self._refresh)
        r = self.registry
        self._source: Source | None = None
        self.view: ScrapeView | None = None  # the latest scrape-time view
        self._declared: tuple[str, ...] = ()  # ha.cf's nodes, this one aside
        self._nodes: set[str] = set()  # nodes with a state
        self._owners: dict[str, set[str]] = {}  # group -> every owner seen
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.node_state = Gauge("hapulse_node_state", "1 for the node's current state "
                                "(init, up, active, dead), 0 for the others",
                                ["node", "state"], registry=r)
        self.node_up = Gauge("hapulse_node_up", "1 when the node is alive (up or active)",
                             ["node"], registry=r)
        self.link_up = Gauge("hapulse_link_up", "1 when heartbeats from the node arrive on "
                             "the local link", ["node", "link"], registry=r)
        self.deaths = Counter("hapulse_node_deaths", "Times the node was declared dead",
                              ["node"], registry=r)
        self.failovers = Counter("hapulse_failovers", "Groups taken over by this node from "
                                 "a failed or leaving peer", ["group"], registry=r)
        self.failover_duration = Histogram(
            "hapulse_failover_duration_seconds", "From the peer's death declared here to the "
            "group acquired here", ["group"], buckets=FAILOVER_BUCKETS, registry=r)
        self.group_state = Gauge("hapulse_group_state", "1 for the group's current state "
                                 "on this node (stopped, starting, running, stopping, failed)",
                                 ["group", "state"], registry=r)
        self.group_owner = Gauge("hapulse_group_owner", "1 for the node this node believes "
                                 "holds the group, 0 for former owners", ["group", "node"],
                                 registry=r)
        self.monitor_checks = Counter("hapulse_monitor_checks", "Monitor runs by result "
                                      "(ok, failed, timeout)", ["resource", "result"],
                                      registry=r)
        self.monitor_up = Gauge("hapulse_monitor_up", "1 when the resource's last monitor "
                                "run succeeded", ["resource"], registry=r)
        self.monitor_duration = Histogram(
            "hapulse_monitor_duration_seconds", "How long a monitor run took",
            ["resource"], buckets=MONITOR_BUCKETS, registry=r)
        self.fail_count = Gauge("hapulse_fail_count", "Monitor failures of the group on the "
                                "node (cleared by hapulse cleanup)", ["group", "node"],
                                registry=r)
        self.split_brains = Counter("hapulse_split_brains", "Split brains detected (two "
                                    "owners of a group seen after a heal)", ["group"],
                                    registry=r)
        self.registry.register(_ScrapeCollector(self))

    # -- scrape time ---------------------------------------------------------------------

    def set_source(self, source: Source | None) -> None:
        """Where a scrape gets its :class:`ScrapeView` (None: no scrape-time data). Called
        on the scrape's thread: the source must hand over from the loop itself."""
        self._source = source

    def declared_peers(self) -> tuple[str, ...]:
        return self._declared

    def _refresh(self) -> None:
        source = self._source
        if source is None:
            return
        try:
            self.view = source()
        except Exception:  # a scrape must not take the exporter down
            log.exception("metrics: taking the scrape-time view failed")
            self.view = None

    # -- events --------------------------------------------------------------------------

    def declare(self, nodes: Iterable[str], groups: Iterable[str]) -> None:
        """Create the series of ha.cf's nodes and haresources' groups (so alerts on
        `== 0` see them before their first event). Call at start and after a reload."""
        nodes = list(nodes)
        self._declared = tuple(n for n in nodes if n.lower() != self.local.lower())
        for node in nodes:
            self.deaths.labels(node)
            if node not in self._nodes:
                self.node_status(node, NodeState.INIT)
        for group in groups:
            self.failovers.labels(group)
            self.split_brains.labels(group)
            if group not in self._owners:
                self.group_status(group, GroupState.STOPPED, None)

    def node_status(self, node: str, state: NodeState) -> None:
        self._nodes.add(node)
        for s in NodeState:
            self.node_state.labels(node, s.value).set(1 if s is state else 0)
        self.node_up.labels(node).set(1 if state.alive else 0)
        if state is NodeState.DEAD:
            self.deaths.labels(node).inc()

    def link_status(self, node: str, link: str, state: LinkState) -> None:
        self.link_up.labels(node, link).set(1 if state is LinkState.UP else 0)

    def failover(self, group: str, duration: float) -> None:
        self.failovers.labels(group).inc()
        self.failover_duration.labels(group).observe(duration)

    def group_status(self, group: str, state: GroupState, owner: str | None) -> None:
        for s in GroupState:
            self.group_state.labels(group, s.value).set(1 if s is state else 0)
        seen = self._owners.setdefault(group, set())
        if owner is not None:
            seen.add(owner)
        for node in seen:
            self.group_owner.labels(group, node).set(1 if node == owner else 0)

    def monitor_result(self, resource: str, result: str, duration: float) -> None:
        """`result`: ok, failed or timeout."""
        if result not in MONITOR_RESULTS:
            raise ValueError(f"monitor result {result!r}: expected one of {MONITOR_RESULTS}")
        self.monitor_checks.labels(resource, result).inc()
        self.monitor_up.labels(resource).set(1 if result == "ok" else 0)
        self.monitor_duration.labels(resource).observe(duration)

    def fail_count_set(self, group: str, node: str, count: int) -> None:
        self.fail_count.labels(group, node).set(count)

    def split_brain(self, group: str) -> None:
        self.split_brains.labels(group).inc()

    # -- exposition ----------------------------------------------------------------------

    def exposition(self) -> str:
        """The text a scrape gets (Prometheus text format 0.0.4)."""
        return generate_latest(self.registry).decode("utf-8")

    def start(self, address: str, port: int) -> int:
        """Serve /metrics on address:port from a daemon thread; the port bound (port 0:
        any free port). Raises OSError when the address cannot be bound."""
        if self._server is not None:
            raise RuntimeError("metrics server already started")
        server, thread = start_http_server(port, address, registry=self.registry)
        self._server, self._thread = server, thread
        return int(server.server_address[1])

    @property
    def serving(self) -> bool:
        return self._server is not None

    @property
    def bound(self) -> tuple[str, int] | None:
        """The address and port served, None when not serving."""
        server = self._server
        return None if server is None else (str(server.server_address[0]),
                                            int(server.server_address[1]))

    def stop(self) -> None:
        """Stop serving (idempotent); waits for the server thread to end."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)

