#!/usr/bin/env bash
# The whole test suite: lint, types, then every test (slow ones included), in three processes
# (pytest-xdist; each test file stays in one process, so its module fixtures are built once, and
# each process starts its own adb server, PostgreSQL cluster and Redis servers). Three on two cores
# because much of the suite waits on real servers, phones and timeouts (measured from a clean
# clone: 9 min 24 s with two, 8 min 0 s with three; four failed a timing bound under the load).
# The longest files start first (tests/conftest.py). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest -n 3 --dist loadfile "$@"
