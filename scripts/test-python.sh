#!/usr/bin/env bash
# Builds the Python module into a FRESH virtual environment and runs every
# Python check: the pytest suite (tests/python, which also executes the
# quickstart notebook and the docs' quick start), the stub check
# `python -m mypy.stubtest chathaul._native`, and mypy over the package.
#
# Needs only python3 (3.9+, with venv and pip), cargo, and access to PyPI and
# crates.io. Usage: scripts/test-python.sh [extra pytest args]
#
#   PYTHON=python3.11       the interpreter to build the venv from (default: python3)
#   CHATHAUL_PY_BUILD=wheel `pip install .` (release wheel, the user's path; the default)
#   CHATHAUL_PY_BUILD=dev   `maturin develop` (debug build, faster when iterating)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv-test"
BUILD="${CHATHAUL_PY_BUILD:-wheel}"

step() { printf '\n== %s (%ss)\n' "$1" "$SECONDS"; }

step "fresh virtual environment $VENV from $("$PYTHON" --version)"
rm -rf "$VENV"
"$PYTHON" -m venv "$VENV"
PY="$VENV/bin/python"
# The build backend runs the venv's `maturin` binary.
export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
"$PY" -m pip install --quiet --upgrade pip
"$PY" -m pip install --quiet -r tests/python/requirements.txt

case "$BUILD" in
  wheel)
    step "pip install . (maturin, release)"
    "$PY" -m pip install --quiet . ;;
  dev)
    step "maturin develop (debug)"
    maturin develop --quiet ;;
  *)
    echo "CHATHAUL_PY_BUILD must be wheel or dev, not $BUILD" >&2; exit 2 ;;
esac

# Run from outside the source tree so `import chathaul` is the installed package.
cd "$ROOT/tests/python"

step "stubs: mypy.stubtest chathaul._native"
"$PY" -m mypy.stubtest chathaul._native

step "types: mypy --strict on the package"
"$PY" -m mypy --strict --ignore-missing-imports -p chathaul

step "pytest tests/python (notebook included)"
"$PY" -m pytest -q -p no:cacheprovider --rootdir "$ROOT/tests/python" "$@" .

step "all Python checks passed"
