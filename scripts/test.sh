#!/usr/bin/env bash
# The test command: installs what is needed (scripts/setup.sh), checks style
# and types, then runs the whole suite (unit, property, simulation, and the
# network-namespace tests with real Heartbeat 3.0.6 peers). Run as root.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/unit -k crc`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy src
exec .venv/bin/python -m pytest -ra "$@"
