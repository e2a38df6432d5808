"""The states of hapulse's cores, as enums whose values are Heartbeat's own words.

Each value is what Heartbeat writes on the wire or prints (``cl_status``),
so ``str(NodeState.ACTIVE) == "active"`` goes straight into a message.
"""

from __future__ import annotations

from enum import StrEnum


class NodeState(StrEnum):
    """A cluster node as membership sees it (Heartbeat's node status)."""

    INIT = "init"  # not heard from since this node started
    UP = "up"  # heard; still starting
    ACTIVE = "active"  # running and settled
    DEAD = "dead"  # silent past deadtime (initdead), or left

    @property
    def alive(self) -> bool:
        return self is NodeState.ACTIVE or self is NodeState.UP  # identity: hot in big clusters


class LinkState(StrEnum):
    """One (peer, local medium) pair."""

    UP = "up"
    DEAD = "dead"


class GroupState(StrEnum):
    """A resource group on this node."""

    STOPPED = "stopped"
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    FAILED = "failed"  # its stop failed: it may still run here

    @property
    def held(self) -> bool:
        """May be running here: until a stop completes, the group is still held (and a
        group whose stop failed is held until someone cleans it up)."""
        return self is not GroupState.STOPPED


class LogLevel(StrEnum):
    """Levels of the log lines the cores return (the daemon writes them)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


class GroupOp(StrEnum):
    """What the resource manager was asked to do with a group."""

    ACQUIRE = "acquire"
    RELEASE = "release"
