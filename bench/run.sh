#!/usr/bin/env bash
# The benchmarks: hapulse beside Heartbeat 3.0.6 and keepalived on the lab's seed
# topology, in one run. Installs what it needs (scripts/setup.sh), then runs the
# bench package (python -m bench); the table is printed and written to docs/benchmarks.md.
#   bash bench/run.sh            # the full run (35 min + N to 100 + the 250 ms search with
#                                # 300 s idle per size: about 1.5 h; 5 repetitions, 10 min soak);
#                                # the hand-written sections of docs/benchmarks.md are kept
#   bash bench/run.sh --quick    # a smoke run (1 repetition, no soak, N = 2 and 8, the
#                                # 250 ms search at 16 and 32 with 20 s idle: ~10 min)
#   bash bench/run.sh --parts scale --sizes 2,10,25,50,100 --scale-idle 10
#                                # only the N-node table (see python -m bench --help)
#   bash bench/run.sh --micro    # the heartbeat path in-process, µs per heartbeat (seconds;
#                                # no root, no network; more options: --micro --help)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--micro" ]; then
    shift
    [ -x .venv/bin/python ] || bash scripts/setup.sh >/tmp/hapulse-setup.log 2>&1 \
        || { tail -30 /tmp/hapulse-setup.log >&2; exit 1; }
    exec .venv/bin/python -m bench.micro "$@"
fi
bash scripts/setup.sh >/tmp/hapulse-setup.log 2>&1 || { tail -30 /tmp/hapulse-setup.log >&2; exit 1; }
[ "${1:-}" = "--flood" ] && { shift; exec .venv/bin/python -m bench.flood "$@"; }  # bench/flood.py: a garbage flood (about 5 min)
exec .venv/bin/python -m bench "$@"
