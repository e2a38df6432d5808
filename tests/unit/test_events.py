"""The event bus: bounded history, every subscriber served, a broken one kept apart."""

from __future__ import annotations

import pytest

from hapulse.events import Event, EventBus, EventKind


def test_publish_keeps_recent_and_feeds_subscribers_in_order() -> None:
    clock = iter(range(100, 200))
    bus = EventBus(keep=3, clock=lambda: float(next(clock)))
    seen: list[Event] = []
    bus.subscribe(seen.append)
    for i in range(5):
        bus.publish(EventKind.NODE, f"n{i}", "dead", "active")
    assert [e.subject for e in seen] == ["n0", "n1", "n2", "n3", "n4"]
    assert [e.subject for e in bus.recent] == ["n2", "n3", "n4"]  # bounded
    assert seen[0].at == 100.0


def test_a_failing_subscriber_does_not_starve_the_others(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("boom")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    bus.publish(EventKind.GROUP, "192.168.1.118", "acquired")
    assert len(seen) == 1
    assert "event subscriber" in caplog.text and "boom" in caplog.text


def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    seen: list[Event] = []
    stop = bus.subscribe(seen.append)
    bus.publish(EventKind.LINK, "f802:eth1", "dead", "up")
    stop()
    stop()  # twice is harmless
    bus.publish(EventKind.LINK, "f802:eth1", "up", "dead")
    assert len(seen) == 1


def test_text_and_dict() -> None:
    e = Event(0.0, EventKind.SPLIT_BRAIN, "192.168.1.118", "kept", detail="also held by f802")
    assert e.text.endswith("split_brain 192.168.1.118 kept (also held by f802)")
    assert Event(0.0, EventKind.NODE, "f801", "dead", "active").text.endswith(
        "node f801 active -> dead")
    assert e.as_dict() == {"at": 0.0, "kind": "split_brain", "subject": "192.168.1.118",
                           "state": "kept", "old": "", "detail": "also held by f802"}
