"""Membership: which nodes and links are alive (pure, sans-I/O)."""

from hapulse.membership.core import (
    ACTIVE,
    DEAD,
    INIT,
    UP,
    Action,
    Deliver,
    LinkStatus,
    Log,
    Membership,
    NodeStatus,
    Send,
)

__all__ = ["ACTIVE", "DEAD", "INIT", "UP", "Action", "Deliver", "LinkStatus", "Log",
           "Membership", "NodeStatus", "Send"]
