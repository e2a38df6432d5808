"""The Prometheus exporter: events in, /metrics out (prometheus_client).

The daemon imports this module only when `[metrics]` is enabled in
hapulse.toml, so prometheus_client stays out of its import otherwise.

Threading: `start()` serves /metrics from prometheus_client's own HTTP server
on a daemon thread. A scrape never runs on the asyncio loop (a slow scraper
cannot delay a heartbeat), and the loop never waits on a scrape: the event
methods only update prometheus_client's values, each under its own lock.

Every series is labelled from this node's view (Prometheus adds `instance`):
`node` is a cluster node, `link` a local medium (eth1, /dev/ttyS0), `group`
a haresources group id, `resource` a resource as written in haresources.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import generate_latest, start_http_server
from prometheus_client.registry import Collector

from hapulse.states import GroupState, LinkState, NodeState
from hapulse.wire.errors import RejectReason

# Heartbeat intervals: from a keepalive of 100 ms to the seed's 2 s and late ones.
HEARTBEAT_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)
# Failovers: sub-second aims to deadtime (30 s) plus slow agents.
FAILOVER_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0, 120.0, 300.0)
MONITOR_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MONITOR_RESULTS = ("ok", "failed", "timeout")


class _SinceHeard(Collector):
    """hapulse_peer_seconds_since_heard, computed at scrape time."""

    def __init__(self, last: dict[str, float], clock: Callable[[], float]) -> None:
        self._last = last
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "hapulse_peer_seconds_since_heard",
            "Seconds since a fresh packet was last received from the node", labels=["node"])
        now = self._clock()
        for node, when in sorted(dict(self._last).items()):  # a copy: the loop may write
            family.add_metric([node], max(0.0, now - when))
        yield family


class Metrics:
    """All of hapulse's series in a private registry (no process/GC defaults)."""

    def __init__(self, local: str, clock: Callable[[], float] = time.time) -> None:
        self.local = local
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self._last_heard: dict[str, float] = {}
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
        self.heartbeat_interval = Histogram(
            "hapulse_heartbeat_interval_seconds", "Time between two heartbeats received from "
            "the node on the link", ["node", "link"], buckets=HEARTBEAT_BUCKETS, registry=r)
        self.last_heard = Gauge("hapulse_peer_last_heard_timestamp_seconds", "Unix time a "
                                "fresh packet was last received from the node", ["node"],
                                registry=r)
        self.late_heartbeats = Counter("hapulse_late_heartbeats", "Heartbeats later than "
                                       "warntime (Heartbeat's late-heartbeat warning)",
                                       ["node"], registry=r)
        self.deaths = Counter("hapulse_node_deaths", "Times the node was declared dead",
                              ["node"], registry=r)
        self.failovers = Counter("hapulse_failovers", "Groups taken over by this node from "
                                 "a failed or leaving peer", ["group"], registry=r)
        self.failover_duration = Histogram(
            "hapulse_failover_duration_seconds", "From the peer's death (or release) to the "
            "group running here", ["group"], buckets=FAILOVER_BUCKETS, registry=r)
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
        self.rejected = Counter("hapulse_rejected_packets", "Packets dropped, by reason",
                                ["reason"], registry=r)
        self.split_brains = Counter("hapulse_split_brains", "Split brains detected (two "
                                    "owners of a group seen after a heal)", ["group"],
                                    registry=r)
        for reason in RejectReason:
            self.rejected.labels(reason.value)  # every reason at 0 from the start
        self.registry.register(_SinceHeard(self._last_heard, clock))
        self._clock = clock

    # -- events --------------------------------------------------------------------------

    def declare(self, nodes: Iterable[str], groups: Iterable[str]) -> None:
        """Create the series of ha.cf's nodes and haresources' groups (so alerts on
        `== 0` see them before their first event). Call at start and after a reload."""
        for node in nodes:
            self.late_heartbeats.labels(node)
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

    def heartbeat(self, node: str, link: str, interval: float | None) -> None:
        """A fresh heartbeat; `interval` since the previous one on this link (None: first)."""
        if interval is not None:
            self.heartbeat_interval.labels(node, link).observe(interval)
        when = self._clock()
        self.last_heard.labels(node).set(when)
        self._last_heard[node] = when

    def late_heartbeat(self, node: str) -> None:
        self.late_heartbeats.labels(node).inc()

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

    def packet_rejected(self, reason: RejectReason, count: int = 1) -> None:
        self.rejected.labels(reason.value).inc(count)

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

    def stop(self) -> None:
        """Stop serving (idempotent); waits for the server thread to end."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)

