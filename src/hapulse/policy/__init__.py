"""Who should own which resource group (pure, sans-I/O): see :mod:`hapulse.policy.failover`."""

from hapulse.policy.failover import ANNOUNCE_WAIT, GroupView, Policy, PolicyView

__all__ = ["ANNOUNCE_WAIT", "GroupView", "Policy", "PolicyView"]
