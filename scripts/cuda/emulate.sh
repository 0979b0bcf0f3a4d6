#!/usr/bin/env bash
# Checks probe's CUDA kernels without a GPU: compiles kernels/*.cu as plain C++ against
# scripts/cuda/emulate/emu.h (one CPU thread per CUDA thread) and runs scripts/cuda/emulate/check.cpp,
# which compares every count the kernels produce with an independent reference. Needs g++ >= 12.
# Usage: bash scripts/cuda/emulate.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${TMPDIR:-/tmp}/probe-kernel-emulate
${CXX:-g++} -std=c++20 -O1 -pthread -Wall -Wno-unused-function \
    -I scripts/cuda/emulate -I kernels -o "$out" scripts/cuda/emulate/check.cpp
"$out"
