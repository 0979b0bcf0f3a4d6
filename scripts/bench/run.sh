#!/usr/bin/env bash
# The side-by-side benchmark harness (issue: performance against PyTorch). One command on a fresh
# machine: installs PyTorch, numpy and friends into .venv (scripts/setup_python.sh), builds probe in
# release mode, and runs scripts/bench/harness.py, which times probe and PyTorch/numpy on identical
# data, models, batch sizes and thread counts, prints the table and writes it into BENCHMARKS.md.
#
#   bash scripts/bench/run.sh
#
# Environment: BENCH_REPEATS (default 3 runs per figure), BENCH_THREADS (default 2, both sides),
# BENCH_PROTOCOL=0 to skip the full 12-bit protocol, BENCH_MODELS=0 to skip the CNN/Transformer/RNN, FASHION_MNIST_DIR (default
# /usr/share/datasets/fashion-mnist, the Debian package dataset-fashion-mnist, which
# scripts/get_fashion_mnist.sh installs).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup_python.sh
bash scripts/get_fashion_mnist.sh
cargo build --release -p probe-cli --bin probe --example bench_binned_file
cargo build --release -p probe-train --example bench_train --example bench_models
exec .venv/bin/python scripts/bench/harness.py
