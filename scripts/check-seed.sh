#!/usr/bin/env bash
# Checks the seed cluster's own files (../shared/seed, f801 and f802) with
# `hapulse check`, exactly as an administrator would on each node.
# Installs what it needs first (scripts/setup.sh). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null
seed=${SEED:-../shared/seed}
work=$(mktemp -d /tmp/hapulse-seed.XXXXXX)
trap 'rm -rf "$work"' EXIT
for node in f801 f802; do
    mkdir -p "$work/$node"
    cp "$seed/$node/ha.d/"* "$work/$node/"
    chmod 644 "$work/$node/"*
    chmod 600 "$work/$node/authkeys"
    echo "== $node: hapulse check -c $work/$node --node $node --json"
    .venv/bin/hapulse check -c "$work/$node" --node "$node" --json
done
