"""hapulse: a high-availability cluster daemon, wire-compatible with Heartbeat 3.0.6."""

__version__ = "0.1.0"
