"""Progress lines on stderr, timestamped (the report itself goes to stdout)."""

from __future__ import annotations

import sys
import time


def log(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", file=sys.stderr, flush=True)
