#!/usr/bin/env bash
# The seed's two-node web cluster, live: installs what it needs (scripts/setup.sh:
# Debian packages and .venv), then runs `hapulse demo` with the seed's files from
# ../shared/seed. Pass --fast for sub-second timers. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== installing what the demo needs (scripts/setup.sh)"
bash scripts/setup.sh >/tmp/hapulse-setup.log 2>&1 || {
    echo "demo.sh: setup failed; its output:" >&2
    tail -30 /tmp/hapulse-setup.log >&2
    exit 1
}
exec .venv/bin/hapulse demo "$@"
