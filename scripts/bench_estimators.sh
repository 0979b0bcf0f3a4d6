#!/usr/bin/env bash
# Benchmarks probe's estimators against numpy / scipy / scikit-learn at 10 000 × 1024, in one run:
# probe's example writes the data and its own times and values, then the Python equivalents run
# on the same data, the values are checked against each other, and a markdown table of times and
# ratios is printed (the source of the estimator section of BENCHMARKS.md).
#
# Needs the Python environment: run `bash scripts/setup_python.sh` first (creates .venv).
# Usage: bash scripts/bench_estimators.sh [N D]      (default 10000 1024)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
    echo "error: .venv/bin/python not found; run: bash scripts/setup_python.sh" >&2
    exit 1
fi
DIR=$(mktemp -d "${TMPDIR:-/tmp}/probe-bench-estimators.XXXXXX")
trap 'rm -rf "$DIR"' EXIT
cargo build --release -q -p probe-estimators --example bench_estimators
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); load average $(cut -d' ' -f1-3 /proc/loadavg)"
./target/release/examples/bench_estimators "$DIR" "$@"
.venv/bin/python scripts/bench_estimators.py "$DIR"
