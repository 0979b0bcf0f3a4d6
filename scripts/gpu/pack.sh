#!/usr/bin/env bash
# Packs probe's CUDA build for a GPU machine that has CUDA libraries but no Rust: release
# `--features cuda` binaries (the `probe` CLI, the `bench_cuda` benchmark) and the GPU test
# binaries (test targets named cuda_* or device_*, from `cargo test --no-run
# --message-format=json`), stripped, into the git-ignored `.gpu/` (kept under 64 MiB), with
# scripts/gpu/run.sh and scripts/gpu/bench_torch.py beside them. Run it on the build machine:
#
#   bash scripts/gpu/pack.sh
#
# then, on the GPU machine, from a copy of this repository holding `.gpu/`: bash .gpu/run.sh
#
# Uses the CUDA toolkit on PATH if there is one, else the PyPI build toolchain of
# scripts/cuda/install_toolchain.sh (CUDA 13.0: the GPU machine then needs a driver for CUDA 13,
# >= 580, and the CUDA 13 libraries cublas, cublasLt, curand, nvrtc, cudart). CUDA_COMPUTE_CAP
# defaults to 90 (H100). Target dir: $CARGO_TARGET_DIR_CUDA, default ~/.cache/probe-target-cuda.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v nvcc >/dev/null 2>&1; then
    eval "$(bash scripts/cuda/install_toolchain.sh)"
fi
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR_CUDA:-$HOME/.cache/probe-target-cuda}
out=.gpu
rm -rf "$out"
mkdir -p "$out/bin" "$out/tests"

echo "pack: release build (CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP, $(nvcc --version | tail -1))" >&2
cargo build --release --features cuda -p probe-cli --bin probe
cargo build --release --features cuda -p probe-estimators --example bench_cuda
cp "$CARGO_TARGET_DIR/release/probe" "$CARGO_TARGET_DIR/release/examples/bench_cuda" "$out/bin/"

cargo test --release --workspace --features cuda --no-run --message-format=json >"$out/.tests.json"
python3 - "$out/.tests.json" "$out/tests" <<'PY'
import json, shutil, sys
seen = set()
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m.get("executable"):
        continue
    t = m["target"]
    if "test" in t["kind"] and (t["name"].startswith("cuda_") or t["name"].startswith("device_")):
        name = m["package_id"].split("#")[0].rsplit("/", 1)[-1] + "--" + t["name"]
        if name not in seen:
            seen.add(name)
            shutil.copy(m["executable"], f"{sys.argv[2]}/{name}")
            print(f"pack: test binary {name}", file=sys.stderr)
PY
rm "$out/.tests.json"
strip "$out"/bin/* "$out"/tests/*
cp scripts/gpu/run.sh scripts/gpu/bench_torch.py "$out/"
{
    echo "commit: $(git rev-parse HEAD 2>/dev/null)$(git diff --quiet 2>/dev/null || echo ' + uncommitted changes')"
    echo "built: $(date -u +%FT%TZ) on $(uname -n)"
    echo "toolkit: $(nvcc --version | tail -1)"
    echo "compute capability: $CUDA_COMPUTE_CAP"
    echo "needs: $(objdump -p "$out/bin/probe" | awk '/NEEDED/ {print $2}' | tr '\n' ' ')"
} >"$out/MANIFEST"
cat "$out/MANIFEST" >&2
size=$(du -sm "$out" | cut -f1)
du -ah "$out" | sort -h >&2
if [ "$size" -ge 64 ]; then
    echo "pack: $out is $size MiB, over the 64 MiB limit" >&2
    exit 1
fi
echo "pack: $out ready ($size MiB); on the GPU machine run: bash .gpu/run.sh" >&2
