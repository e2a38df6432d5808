"""Heartbeat 3.0.6 wire protocol (pure, no I/O)."""
