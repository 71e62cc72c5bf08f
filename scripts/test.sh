#!/usr/bin/env bash
# The whole test suite: lint, types, then every test (slow ones included). Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
