"""Logging set up from ha.cf, in Heartbeat's line format.

Heartbeat writes ``heartbeat[PID]: YYYY/MM/DD_HH:MM:SS info: text``; existing
log checks grep for the text after the level, so hapulse writes the same
shape with its own program name: ``hapulse[PID]: 2026/11/24_12:00:00 info: ...``.
``logfile`` gets info and up, ``debugfile`` everything at ``debug`` > 0,
``logfacility`` sends to syslog; with none of them, stderr.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time
from pathlib import Path

from hapulse.config import HaCf

LOGGER_NAME = "hapulse"

_LEVEL_WORDS = {
    logging.DEBUG: "debug",
    logging.INFO: "info",
    logging.WARNING: "WARN",
    logging.ERROR: "ERROR",
    logging.CRITICAL: "CRIT",
}

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class HeartbeatFormatter(logging.Formatter):
    """``hapulse[PID]: 2026/11/24_12:00:00.123 info: text``."""

    def __init__(self, program: str = "hapulse", with_time: bool = True) -> None:
        super().__init__()
        self.program = program
        self.with_time = with_time

    def format(self, record: logging.LogRecord) -> str:
        level = _LEVEL_WORDS.get(record.levelno, record.levelname)
        text = record.getMessage()
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        if not self.with_time:
            return f"{self.program}[{record.process}]: {level}: {text}"
        ts = time.strftime("%Y/%m/%d_%H:%M:%S", time.localtime(record.created))
        ms = int(record.msecs)
        return f"{self.program}[{record.process}]: {ts}.{ms:03d} {level}: {text}"


def _facility(name: str) -> int:
    value = logging.handlers.SysLogHandler.facility_names.get(name.lower())
    if value is None:
        raise ValueError(f"unknown syslog facility {name!r}")
    return int(value)


def setup_logging(
    hacf: HaCf | None = None,
    *,
    stderr: bool = True,
    program: str = "hapulse",
) -> logging.Logger:
    """Configure the ``hapulse`` logger from an HaCf (or defaults) and return it."""
    logger = logging.getLogger(LOGGER_NAME)
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.propagate = False
    hacf = hacf or HaCf()
    debug = hacf.debug
    logger.setLevel(logging.DEBUG if debug > 0 else logging.INFO)
    fmt = HeartbeatFormatter(program)

    logfile, debugfile, facility = hacf.logfile, hacf.debugfile, hacf.logfacility
    for path, level in ((logfile, logging.INFO), (debugfile, logging.DEBUG)):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fh = logging.FileHandler(path, encoding="utf-8")
            fh.setLevel(level)
            fh.setFormatter(fmt)
            logger.addHandler(fh)
    if facility and facility.lower() != "none" and os.path.exists("/dev/log"):
        try:
            sh = logging.handlers.SysLogHandler(address="/dev/log", facility=_facility(facility))
        except (OSError, ValueError):
            sh = None
        if sh is not None:
            sh.setFormatter(HeartbeatFormatter(program, with_time=False))
            sh.setLevel(logging.INFO)
            logger.addHandler(sh)
    if stderr or not logger.handlers:
        eh = logging.StreamHandler(sys.stderr)
        eh.setFormatter(fmt)
        eh.setLevel(logging.DEBUG if debug > 0 else logging.INFO)
        logger.addHandler(eh)
    return logger
