"""hapulse.states and hapulse.actions: Heartbeat's words, and frozen, hashable actions."""

from __future__ import annotations

import dataclasses
from typing import get_args

import pytest

from hapulse.actions import (
    Acquire,
    Deliver,
    LinkStatus,
    Log,
    MembershipAction,
    NodeAction,
    NodeStatus,
    PolicyAction,
    Readvertise,
    Release,
    Send,
    SendCluster,
    ShutdownComplete,
)
from hapulse.states import GroupOp, GroupState, LinkState, LogLevel, NodeState
from hapulse.wire.message import Message


def test_node_states_are_heartbeats_words() -> None:
    assert [str(s) for s in NodeState] == ["init", "up", "active", "dead"]
    active: str = NodeState.ACTIVE
    assert active == "active"
    assert f"{NodeState.DEAD}" == "dead"
    assert NodeState("up") is NodeState.UP


def test_link_group_log_and_op_values() -> None:
    assert [str(s) for s in LinkState] == ["up", "dead"]
    assert [str(s) for s in GroupState] == ["stopped", "starting", "running", "stopping",
                                            "failed"]
    assert [str(s) for s in LogLevel] == ["debug", "info", "warning", "error", "critical"]
    assert [str(s) for s in GroupOp] == ["acquire", "release"]


def test_node_state_from_an_unknown_word_is_refused() -> None:
    with pytest.raises(ValueError):
        NodeState("ping")


@pytest.mark.parametrize(("state", "alive"), [
    (NodeState.INIT, False), (NodeState.UP, True), (NodeState.ACTIVE, True),
    (NodeState.DEAD, False),
])
def test_node_state_alive(state: NodeState, alive: bool) -> None:
    assert state.alive is alive


@pytest.mark.parametrize(("state", "held"), [
    (GroupState.STOPPED, False), (GroupState.STARTING, True), (GroupState.RUNNING, True),
    (GroupState.STOPPING, True), (GroupState.FAILED, True),
])
def test_group_state_held(state: GroupState, held: bool) -> None:
    assert state.held is held


HASHABLE = [
    NodeStatus("f802", NodeState.INIT, NodeState.UP),
    LinkStatus("f802", "eth1", LinkState.DEAD, LinkState.UP),
    Log(LogLevel.INFO, "hello"),
    Acquire("192.168.1.118"),
    Release("192.168.1.118"),
    Readvertise("192.168.1.118"),
    ShutdownComplete(),
]


@pytest.mark.parametrize("action", HASHABLE, ids=lambda a: type(a).__name__)
def test_actions_with_hashable_fields_are_hashable_and_equal_by_value(action: object) -> None:
    again = dataclasses.replace(action)  # type: ignore[type-var]
    assert again == action and again is not action
    assert hash(again) == hash(action)
    assert len({action, again}) == 1


def test_equal_actions_of_different_types_differ() -> None:
    acquire: object = Acquire("g")
    assert acquire != Release("g")
    assert len({Acquire("g"), Release("g"), Readvertise("g")}) == 3


MESSAGE = Message.from_pairs([("t", "status")])
ALL_ACTIONS = [*HASHABLE, Send(MESSAGE), Send(MESSAGE, "eth1"), Deliver(MESSAGE, "f802"),
               SendCluster(MESSAGE)]


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=lambda a: type(a).__name__)
def test_actions_are_frozen(action: object) -> None:
    assert dataclasses.is_dataclass(action)
    params = getattr(type(action), "__dataclass_params__")  # noqa: B009
    assert params.frozen
    for f in dataclasses.fields(action):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(action, f.name, "other")


@pytest.mark.parametrize("action", ALL_ACTIONS, ids=lambda a: type(a).__name__)
def test_actions_have_slots(action: object) -> None:
    # slots: no stray attribute can be set on an action either
    with pytest.raises((AttributeError, TypeError)):
        action.extra = 1  # type: ignore[attr-defined]


def test_actions_carrying_a_message_compare_by_its_fields() -> None:
    # Message is mutable and unhashable: actions holding one compare by value only
    assert Send(Message.from_pairs([("t", "status")])) == Send(MESSAGE)
    assert Send(MESSAGE) != Send(MESSAGE, "eth1")
    with pytest.raises(TypeError):
        hash(Send(MESSAGE))


def test_send_defaults_to_every_link() -> None:
    assert Send(MESSAGE).link is None


ACTION_TYPES = sorted({*get_args(MembershipAction), *get_args(PolicyAction),
                       *get_args(NodeAction)}, key=lambda c: c.__name__)


@pytest.mark.parametrize("cls", ACTION_TYPES, ids=lambda c: c.__name__)
def test_every_action_type_is_a_frozen_slotted_dataclass(cls: type) -> None:
    assert dataclasses.is_dataclass(cls)
    assert getattr(cls, "__dataclass_params__").frozen  # noqa: B009
    assert "__slots__" in vars(cls)


def test_node_actions_are_what_the_edges_see() -> None:
    # Deliver and SendCluster are routed inside the node; everything else reaches the edge
    node = set(get_args(NodeAction))
    assert Deliver not in node and SendCluster not in node
    assert (set(get_args(MembershipAction)) | set(get_args(PolicyAction))) - node == {
        Deliver, SendCluster}
