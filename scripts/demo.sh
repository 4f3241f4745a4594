#!/usr/bin/env bash
# Install Klatch into ./.venv and start the demo: embedded SQLite in ./klatch-data,
# a demo org and brand with example attributes. Extra arguments go to `klatch demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
ensure_venv
pip_install -e .
exec .venv/bin/klatch demo "$@"
