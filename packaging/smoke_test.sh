#!/usr/bin/env bash
# Build the bundle, then smoke-test it from the bundle only (see packaging/smoke_test.py --help).
#   packaging/smoke_test.sh              build + check
#   packaging/smoke_test.sh --no-build   check the bundle already in dist/
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
exec "$PY" packaging/smoke_test.py "$@"
