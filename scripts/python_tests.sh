#!/usr/bin/env bash
# The Python package's tests: a venv in .venv-py/ (git-ignored), `pip install ./crates/probe-py`
# (PEP 517 through maturin, reusing the workspace's target dir), then pytest. torch only with
# PROBE_PY_TORCH=1 (its default PyPI wheel is gigabytes; the torch tests skip, saying so, without
# it). Exits non-zero on any failure, and when no test was collected.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${PROBE_PY_VENV:-.venv-py}
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# --no-cache-dir: torch's wheel and its CUDA libraries are gigabytes; a cached copy would double it.
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check --no-cache-dir -q)
"${PIP[@]}" install pytest pandas numpy  # numpy: the package's one dependency
if [ "${PROBE_PY_TORCH:-0}" = 1 ]; then
    # e.g. PROBE_PY_TORCH_INDEX=https://download.pytorch.org/whl/cpu for the CPU-only wheel
    "${PIP[@]}" install torch ${PROBE_PY_TORCH_INDEX:+--index-url "$PROBE_PY_TORCH_INDEX"}
fi
# maturin builds in the workspace's target dir: dependencies compiled by cargo are reused.
CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target} "${PIP[@]}" install --force-reinstall --no-deps ./crates/probe-py
# The CLI the tests compare against (cargo: a no-op when up to date).
cargo build --release --quiet -p probe-cli
export PROBE_BIN=$PWD/target/release/probe

"$VENV/bin/python" -m pytest -rs crates/probe-py/tests "$@"
