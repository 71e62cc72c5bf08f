#!/usr/bin/env bash
# Set up tflite-farm on a fresh Debian 12 machine (as root): system packages, a virtualenv in
# .venv, and the package itself (editable). Safe to run again; it only installs what is missing.
#
#   bash scripts/bootstrap.sh          # to use the farm
#   bash scripts/bootstrap.sh --dev    # to run the test suite too
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
[ "${1:-}" = "--dev" ] && dev=1

# libusb-1.0-0: tflite-support's native module links it. adb: the real adb server for phones.
packages=(libusb-1.0-0 adb)
# The test suite starts its own throwaway PostgreSQL cluster, Redis servers and adb servers, and
# drives Debian's chromium through Playwright (never `playwright install`: no browser download).
[ "$dev" = 1 ] && packages+=(postgresql redis-server chromium)

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bootstrap: need root to install ${missing[*]} (run as root or install them first)" >&2
        exit 1
    fi
    # Installing postgresql must not start a cluster of its own on port 5432: the tests make
    # throwaway ones, and a user's server there must stay undisturbed.
    if [[ " ${missing[*]} " == *" postgresql "* ]] && [ ! -e /etc/postgresql-common/createcluster.conf ]; then
        mkdir -p /etc/postgresql-common
        echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
    echo "bootstrap: tflite-farm needs Python 3.11 (found $("$python" --version))" >&2; exit 1; }
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
if [ "$dev" = 1 ]; then
    .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
else
    .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
# The regression detector's change points come from apache-otava, whose metadata pins numpy 2.2 and
# pulls google-cloud-bigquery (protobuf >= 4, against tflite-support's < 4); the module we use needs
# only numpy and scipy, so it is installed without its dependencies (see pyproject.toml).
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps "apache-otava>=0.8,<0.9"
echo "bootstrap: ready (.venv/bin/farm)"
