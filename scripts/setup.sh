#!/usr/bin/env bash
# Installs everything hapulse's tests, demo and benchmarks need on Debian 12,
# as root: Debian packages (iproute2, tcpdump, socat, Heartbeat 3.0.6 and
# resource-agents as real peers, keepalived, ...) and a virtual environment
# in .venv with hapulse and its pinned Python dependencies.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
    echo "setup.sh: run as root (network namespaces and apt need it): sudo bash $0" >&2
    exit 1
fi

APT_PACKAGES=(
    python3 python3-venv python3-dev gcc
    iproute2 iputils-ping procps psmisc curl socat tcpdump util-linux
    heartbeat resource-agents keepalived stress-ng ethtool
    systemd  # systemd-analyze verifies the unit file (no running systemd needed)
    cluster-glue  # the stonith tool and its plugins (STONITH)
    pacemaker corosync crmsh  # `hapulse export pacemaker`: crm_verify, crm, and the live lab cluster
    prometheus  # promtool checks packaging/prometheus (and a lab-namespace Prometheus server)
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup.sh: installing Debian packages: ${missing[*]}"
    # The packages' maintainer scripts must not start heartbeat, keepalived
    # or pacemaker daemons on this host: a policy-rc.d that denies every
    # start, removed again afterwards if we put it there.
    made_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    trap '[ -n "$made_policy" ] && rm -f /usr/sbin/policy-rc.d' EXIT
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${missing[@]}"; then
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.hapulse-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e '.[test]'
    touch "$stamp"
fi
echo "setup.sh: ready (.venv/bin/hapulse)"
