"""How many examples the simulator's property tests run: a few in CI, more on demand.

`HAPULSE_SIM_EXAMPLES=500 bash scripts/test.sh tests/sim` hunts harder.
"""

from __future__ import annotations

import os


def examples(default: int) -> int:
    return int(os.environ.get("HAPULSE_SIM_EXAMPLES", default))
