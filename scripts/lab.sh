#!/usr/bin/env bash
# Sets up everything on a fresh machine and starts JupyterLab with jupyter-crdt on the examples folder.
# Usage: bash scripts/lab.sh [extra jupyter lab options]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
# Installing builds the JupyterLab extension (labextension/) with Node.js; nothing else needs Node.
if ! command -v node >/dev/null 2>&1; then
    echo "scripts/lab.sh: Node.js (18 or newer) is needed to build the JupyterLab extension: https://nodejs.org" >&2
    exit 1
fi
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# shellcheck disable=SC1091
source .venv/bin/activate
python -m pip install --quiet --disable-pip-version-check -e .

extra=()
# Containers and CI machines often run as root, which jupyter_server refuses without this flag.
if [ "$(id -u)" = 0 ]; then
    extra+=(--allow-root)
fi
exec jupyter lab --ServerApp.root_dir=examples --ServerApp.ip=127.0.0.1 "${extra[@]}" "$@"
