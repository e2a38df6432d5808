"""Membership: which nodes and links are alive (pure, sans-I/O)."""

from hapulse.membership.core import Membership, NodeView, Timers

__all__ = ["Membership", "NodeView", "Timers"]
