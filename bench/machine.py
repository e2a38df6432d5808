"""The machine a run was taken on, in one line (CPUs, memory, kernel, Python)."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024
    return (f"{os.cpu_count()} CPUs ({cpu}), {mem} MB, Linux {platform.release()}, "
            f"Python {platform.python_version()}")
