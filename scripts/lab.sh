#!/usr/bin/env bash
# Sets up everything on a fresh machine and starts JupyterLab with jupyter-crdt on a scratch copy of examples/.
#
# Usage: bash scripts/lab.sh [extra jupyter lab options]
#
# Environment:
#   LAB_IP=0.0.0.0    listen on every network interface (default 127.0.0.1: this machine only); others then
#                     open the printed URL with this machine's address and its token
#   LAB_PORT=N        the port (default: JupyterLab's, 8888 or the next free one)
#   LAB_FRESH=1       start again from a new copy of examples/ (the old copy is removed)
#   LAB_VENV=DIR      use this existing virtualenv as is (nothing is installed; for tests and reuse)
#   PYTHON=python3.x  the Python that creates .venv
#
# The notebooks are served from .lab/examples/ (ignored by git), a copy made on the first run, so opening
# and editing them (their histories, checkpoints) never changes the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "scripts/lab.sh: $*" >&2
    exit 1
}

PYTHON="${PYTHON:-python3}"
if [ -n "${LAB_VENV:-}" ]; then
    [ -x "$LAB_VENV/bin/python" ] || die "LAB_VENV=$LAB_VENV is not a virtualenv (no bin/python)"
    VENV="$LAB_VENV"
else
    VENV=.venv
    command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found: install Python 3.10 or newer"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
        || die "Python 3.10 or newer is needed ($PYTHON is $("$PYTHON" -V 2>&1))"
    # Debian and Ubuntu ship venv (its ensurepip) separately from Python.
    if [ ! -x "$VENV/bin/python" ] && ! "$PYTHON" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        pyver="$("$PYTHON" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
        die "$PYTHON cannot create virtualenvs (venv/ensurepip missing). On Debian or Ubuntu:
    sudo apt install python3-venv      (or python${pyver}-venv)"
    fi
    # Installing builds the JupyterLab extension (labextension/) with Node.js; its build tools (rspack)
    # need Node ^20.19 or >= 22.12. Nothing else needs Node.
    command -v node >/dev/null 2>&1 \
        || die "Node.js ^20.19 or >= 22.12 is needed to build the JupyterLab extension: https://nodejs.org"
    node_version="$(node -p 'process.versions.node')"
    IFS=. read -r node_major node_minor _ <<<"$node_version"
    if ! { [ "$node_major" -eq 20 ] && [ "$node_minor" -ge 19 ]; } \
        && ! { [ "$node_major" -eq 22 ] && [ "$node_minor" -ge 12 ]; } && [ "$node_major" -lt 23 ]; then
        die "Node.js $node_version is too old to build the JupyterLab extension: ^20.19 or >= 22.12 is needed"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        "$PYTHON" -m venv "$VENV"
    fi
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
if [ -z "${LAB_VENV:-}" ]; then
    python -m pip install --quiet --disable-pip-version-check -e .
fi

# A scratch copy of the examples: the served folder collects histories (.NAME.ipynb.crdt), checkpoints
# and whatever the user writes; none of it belongs in the checkout.
root=.lab/examples
if [ -n "${LAB_FRESH:-}" ]; then
    rm -rf "$root"
fi
if [ ! -d "$root" ]; then
    mkdir -p .lab
    cp -R examples "$root.tmp.$$"
    mv "$root.tmp.$$" "$root"
    echo "scripts/lab.sh: serving a copy of examples/ in $root (LAB_FRESH=1 starts from a new copy)"
fi

ip="${LAB_IP:-127.0.0.1}"
args=(--ServerApp.root_dir="$root" --ServerApp.ip="$ip")
if [ -n "${LAB_PORT:-}" ]; then
    args+=(--ServerApp.port="$LAB_PORT" --ServerApp.port_retries=0)
fi
if [ "$ip" != 127.0.0.1 ] && [ "$ip" != localhost ]; then
    # Others need the token: it is in the URL JupyterLab prints ("http://<host>:<port>/lab?token=...").
    echo "scripts/lab.sh: listening on $ip; share the URL with the token that JupyterLab prints below," \
         "with this machine's address in place of the host name" >&2
    args+=(--no-browser)
fi
# Containers and CI machines often run as root, which jupyter_server refuses without this flag.
if [ "$(id -u)" = 0 ]; then
    args+=(--allow-root)
fi
exec jupyter lab "${args[@]}" "$@"
