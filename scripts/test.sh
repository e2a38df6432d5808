#!/usr/bin/env bash
# The test command: installs what is needed (scripts/setup.sh), then runs three
# lanes, failing fast: (1) lint and types (ruff; mypy --strict over src, tests
# and bench), (2) unit, property and simulation tests, (3) the root-only
# network-namespace tests with real daemons and the interop tests with real
# Heartbeat 3.0.6 peers. Run as root.
# Extra arguments go to one pytest run after the lint lane, e.g.
# `bash scripts/test.sh tests/unit -k crc`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

lane() { printf '\n== %s\n' "$*"; }

lane "lane 1/3: lint and types"
.venv/bin/ruff check src tests bench
.venv/bin/mypy  # [tool.mypy] files: src, tests, bench

if [ "$#" -gt 0 ]; then
    lane "pytest $*"
    exec .venv/bin/python -m pytest -ra "$@"
fi

lane "lane 2/3: unit, property and simulation tests"
.venv/bin/python -m pytest -ra -m "not netns and not interop"

lane "lane 3/3: network-namespace and interop tests (real daemons, root)"
exec .venv/bin/python -m pytest -ra -m "netns or interop"
