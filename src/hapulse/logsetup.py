"""Logging set up from ha.cf, in Heartbeat's line format.

Heartbeat writes ``heartbeat[PID]: YYYY/MM/DD_HH:MM:SS info: text``; existing
log checks grep for the text after the level, so hapulse writes the same
shape with its own program name: ``hapulse[PID]: 2026/11/24_12:00:00 info: ...``.
``logfile`` gets info and up, ``debugfile`` everything at ``debug`` > 0,
``logfacility`` sends to syslog; with none of them, stderr.

A log that cannot be written (a full or read-only disk, a syslog socket
gone) never stops the node nor prints a traceback: every failed write is
counted in :data:`LOG_FAILURES` (the daemon can show it), a file handler
drops its stream and reopens the file at its next line, so logging resumes
by itself once there is room again.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import logging.handlers
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

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


@dataclass
class LogFailures:
    """Log lines that could not be written since the start, and the last reason."""

    count: int = 0
    last: str = ""  # "/var/log/ha-log: No space left on device (ENOSPC)"


LOG_FAILURES = LogFailures()


def _why(where: str) -> str:
    exc = sys.exc_info()[1]
    if isinstance(exc, OSError) and exc.errno is not None:
        return f"{where}: {os.strerror(exc.errno)} ({errno.errorcode.get(exc.errno, exc.errno)})"
    return f"{where}: {exc!r}"


class _Counted(logging.Handler):
    """handleError counts instead of printing a traceback to stderr."""

    def where(self) -> str:
        return type(self).__name__

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        LOG_FAILURES.count += 1
        LOG_FAILURES.last = _why(self.where())


class CountedFileHandler(_Counted, logging.FileHandler):
    """A log file; after a failed write the stream is dropped and reopened at the next line
    (what was buffered is lost, and counted: memory stays bounded on a full disk)."""

    def where(self) -> str:
        return self.baseFilename

    def emit(self, record: logging.LogRecord) -> None:
        try:  # FileHandler reopens the file outside its own try: a read-only disk raises there
            super().emit(record)
        except Exception:
            self.handleError(record)

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802
        super().handleError(record)
        stream, self.stream = self.stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()


class CountedStreamHandler(_Counted, logging.StreamHandler[TextIO]):
    def where(self) -> str:
        return str(getattr(self.stream, "name", "stream"))


class CountedSysLogHandler(_Counted, logging.handlers.SysLogHandler):
    def where(self) -> str:
        return f"syslog {self.address}"


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
    for path, level, directive in ((logfile, logging.INFO, "logfile"),
                                   (debugfile, logging.DEBUG, "debugfile")):
        if path:
            fh = CountedFileHandler(path, encoding="utf-8", delay=True)
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                fh.stream = fh._open()
            except OSError as exc:
                LOG_FAILURES.count += 1
                LOG_FAILURES.last = _why(path)
                print(f"{program}: {path}: cannot open the log file: {exc.strerror}; lines for "
                      "it are counted as lost until it can be written (check the disk and "
                      f"the directory's rights, or change `{directive}` in ha.cf)",
                      file=sys.stderr, flush=True)
            fh.setLevel(level)
            fh.setFormatter(fmt)
            logger.addHandler(fh)
    if facility and facility.lower() != "none" and os.path.exists("/dev/log"):
        try:
            sh = CountedSysLogHandler(address="/dev/log", facility=_facility(facility))
        except (OSError, ValueError):
            sh = None
        if sh is not None:
            sh.setFormatter(HeartbeatFormatter(program, with_time=False))
            sh.setLevel(logging.INFO)
            logger.addHandler(sh)
    if stderr or not logger.handlers:
        eh = CountedStreamHandler(sys.stderr)
        eh.setFormatter(fmt)
        eh.setLevel(logging.DEBUG if debug > 0 else logging.INFO)
        logger.addHandler(eh)
    return logger
