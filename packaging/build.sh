#!/usr/bin/env bash
# Build the desktop bundle into dist/albert-studio/ (see packaging/build.py --help and docs/packaging.md).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
exec "$PY" packaging/build.py "$@"
