#!/usr/bin/env bash
# The whole test suite: lint, types, then every test (slow ones included), in two processes
# (pytest-xdist; each test file stays in one process, so its module fixtures are built once, and
# each process starts its own adb server, PostgreSQL cluster and Redis servers). Extra args go to
# pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -n 2 --dist loadfile "$@"
