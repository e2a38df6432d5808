"""Cluster transitions as typed events, for people and for programs.

The daemon turns the node's actions and the edges' results into
:class:`Event` values and publishes them on one :class:`EventBus`. Whoever
cares subscribes: `hapulse status` shows the recent ones, `hapulse events`
streams them, the notify hook runs a script on each, the metrics count them.

A subscriber is called synchronously on the event loop, so it must not block:
anything slow (a script, a socket write) is queued or spawned by the
subscriber itself. A subscriber that raises is logged and kept; the other
subscribers still get the event.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

log = logging.getLogger("hapulse")


class EventKind(StrEnum):
    """What changed; the meaning of `subject` and `state` for each kind."""

    NODE = "node"                # subject: a cluster node; state: a NodeState (dead, active, …)
    LINK = "link"                # subject: NODE:LINK (f802:eth1); state: a LinkState (up, dead)
    GROUP = "group"              # subject: a group id; state: acquired, released, failed
    SPLIT_BRAIN = "split_brain"  # subject: a group id; state: kept or released; detail: the peer
    FENCE = "fence"              # subject: the node reset; state: the STONITH outcome
    MONITOR = "monitor"          # subject: a resource; state: ok, failed, timeout, restarted, …


@dataclass(frozen=True, slots=True)
class Event:
    """One transition, seen from this node. `at` is Unix time (seconds)."""

    at: float
    kind: EventKind
    subject: str
    state: str
    old: str = ""
    detail: str = ""

    @property
    def text(self) -> str:
        """One line for people: `2026-11-26 13:43:57 node f801 active -> dead`."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.at))
        change = f"{self.old} -> {self.state}" if self.old else self.state
        extra = f" ({self.detail})" if self.detail else ""
        return f"{stamp} {self.kind} {self.subject} {change}{extra}"

    def as_dict(self) -> dict[str, str | float]:
        """For JSON: every field, `at` as a float."""
        return {"at": self.at, "kind": str(self.kind), "subject": self.subject,
                "state": self.state, "old": self.old, "detail": self.detail}


Subscriber = Callable[[Event], None]


class EventBus:
    """The recent events (bounded) and the subscribers to new ones."""

    def __init__(self, keep: int = 200, clock: Callable[[], float] = time.time) -> None:
        self.recent: deque[Event] = deque(maxlen=keep)
        self.clock = clock
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call `subscriber` with every event from now on; returns the unsubscribe."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, kind: EventKind, subject: str, state: str, old: str = "",
                detail: str = "") -> Event:
        event = Event(self.clock(), kind, subject, state, old, detail)
        self.recent.append(event)
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # one broken consumer must not cost the others their event
                log.exception("event subscriber %r failed on %s", subscriber, event.text)
        return event
