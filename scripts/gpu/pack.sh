#!/usr/bin/env bash
# Packs probe's CUDA build for a GPU machine that has a driver but no Rust: the release
# `--features cuda` binaries (the `probe` CLI, the `bench_cuda` benchmark) and the GPU test
# binaries (test targets named cuda_* or device_* of any workspace crate), stripped and compressed
# (one .tar.xz, else one .gz each) into the git-ignored `.gpu/pack/`, with scripts/gpu/run.sh
# (which unpacks them) and bench_torch.py.
#
#   bash scripts/gpu/pack.sh
#
# then, on the GPU machine, from a copy of this repository holding `.gpu/`: bash .gpu/run.sh
# (with the lent-GPU `run` tool: command "bash .gpu/run.sh", carry [".gpu"]; pack.sh prints it).
#
# Limits it checks:
# * size: the repository (git-tracked bytes plus untracked, not ignored files) plus `.gpu/` must
#   stay under 64 MiB, what the `run` tool carries to the GPU machine;
# * driver: nvcc's CUDA version must not be newer than PROBE_TARGET_CUDA (default 13.0, the
#   GPU machine's driver 580: `nvidia-smi` "CUDA Version"), since PTX from a newer nvcc fails to
#   load there (CUDA_ERROR_UNSUPPORTED_PTX_VERSION). MANIFEST records nvcc's version, the PTX
#   ISA `.version` and target, and the CUDA version the driver must support; run.sh checks them.
#
# Uses the CUDA toolkit on PATH if there is one, else the PyPI build toolchain of
# scripts/cuda/install_toolchain.sh (CUDA 13.0). CUDA_COMPUTE_CAP defaults to 90 (H100). Target
# dir: $CARGO_TARGET_DIR_CUDA, default ~/.cache/probe-target-cuda.
set -euo pipefail
cd "$(dirname "$0")/../.."
LIMIT=$((64 << 20))
TARGET_CUDA=${PROBE_TARGET_CUDA:-13.0}
log() { echo "pack: $*" >&2; }
die() {
    log "$*"
    exit 1
}

if ! command -v nvcc >/dev/null 2>&1; then
    eval "$(bash scripts/cuda/install_toolchain.sh)"
fi
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR_CUDA:-$HOME/.cache/probe-target-cuda}

# 1. The driver's limit: refuse an nvcc newer than the target CUDA version.
nvcc_line=$(nvcc --version | grep -o 'release [0-9]*\.[0-9]*.*' | head -1)
nvcc_ver=$(sed -E 's/release ([0-9]+\.[0-9]+).*/\1/' <<<"$nvcc_line")
[[ $nvcc_ver =~ ^[0-9]+\.[0-9]+$ ]] || die "cannot read nvcc's version from: $(nvcc --version | tail -1)"
[[ $TARGET_CUDA =~ ^[0-9]+\.[0-9]+$ ]] || die "PROBE_TARGET_CUDA=$TARGET_CUDA: expected MAJOR.MINOR, e.g. 13.0"
ver_num() { IFS=. read -r a b <<<"$1" && echo $((a * 1000 + b)); }
if [ "$(ver_num "$nvcc_ver")" -gt "$(ver_num "$TARGET_CUDA")" ]; then
    die "nvcc is CUDA $nvcc_ver ($(command -v nvcc)), newer than the GPU machine's driver supports \
(CUDA $TARGET_CUDA): its PTX would fail to load there with CUDA_ERROR_UNSUPPORTED_PTX_VERSION. \
Use a CUDA $TARGET_CUDA toolkit (e.g. take nvcc off PATH to use the PyPI CUDA 13.0 toolchain), or \
set PROBE_TARGET_CUDA to the CUDA version nvidia-smi reports on the GPU machine."
fi

# 2. Builds: the CLI, the benchmark, and only the GPU test targets (cuda_*, device_*).
out=.gpu
rm -rf "$out"
mkdir -p "$out/pack/bin" "$out/pack/tests" "$out/raw/bin" "$out/raw/tests"
log "release build (CUDA_COMPUTE_CAP=$CUDA_COMPUTE_CAP, nvcc $nvcc_line, target dir $CARGO_TARGET_DIR)"
cargo build --release --features cuda -p probe-cli --bin probe
cargo build --release --features cuda -p probe-estimators --example bench_cuda
cp "$CARGO_TARGET_DIR/release/probe" "$CARGO_TARGET_DIR/release/examples/bench_cuda" "$out/raw/bin/"
# The Python package with CUDA (its native module; the .py files are copied uncompressed below).
cargo build --release --features "cuda extension-module" -p probe-py
cp "$CARGO_TARGET_DIR/release/lib_probe.so" "$out/raw/bin/_probe.abi3.so"

targets=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    tests = [t["name"] for t in p["targets"] if "test" in t["kind"]
             and t["name"].startswith(("cuda_", "device_"))]
    if tests:
        print(p["name"], " ".join(tests))')
[ -n "$targets" ] || die "no test target named cuda_* or device_* in the workspace"
while read -r pkg tests; do
    args=()
    for t in $tests; do args+=(--test "$t"); done
    cargo test --release --features cuda -p "$pkg" "${args[@]}" --no-run --message-format=json |
        python3 -c '
import json, shutil, sys
pkg, dest = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and "test" in m["target"]["kind"]:
        name = pkg + "--" + m["target"]["name"]
        shutil.copy(m["executable"], f"{dest}/{name}")
        print(f"pack: test binary {name}", file=sys.stderr)' "$pkg" "$out/raw/tests"
done <<<"$targets"

# 3. The PTX the binaries embed (build.rs writes it to OUT_DIR): ISA version and target.
ptx=$(ls -t "$CARGO_TARGET_DIR"/release/build/probe-estimators-*/out/binned_keys.ptx 2>/dev/null | head -1)
[ -n "$ptx" ] || die "no binned_keys.ptx under $CARGO_TARGET_DIR/release/build (build.rs output)"
ptx_version=$(awk '$1 == ".version" {print $2; exit}' "$ptx")
ptx_target=$(awk '$1 == ".target" {print $2; exit}' "$ptx")

# 4. Strip, compress. Every binary embeds the same ~32 MB of candle's PTX text: one xz stream
#    over all of them (a dictionary larger than a binary) stores it about once, 229 MB -> 8.2 MiB;
#    gzip (a 32 KiB window) only takes each to about a quarter, ~57 MB in all. gzip per file
#    is the fallback where xz is missing.
strip "$out"/raw/bin/* "$out"/raw/tests/*
needs=$(objdump -p "$out/raw/bin/probe" | awk '/NEEDED/ {print $2}' | tr '\n' ' ')
if command -v xz >/dev/null 2>&1; then
    log "compressing with xz (a few minutes)"
    rmdir "$out/pack/bin" "$out/pack/tests"
    tar -C "$out/raw" -cf - bin tests | xz -T1 -9 --lzma2=preset=9,dict=128MiB -c >"$out/pack/binaries.tar.xz"
else
    for f in "$out"/raw/bin/* "$out"/raw/tests/*; do
        kind=$(basename "$(dirname "$f")")
        gzip -9 -n -c "$f" >"$out/pack/$kind/$(basename "$f").gz"
    done
fi
raw_bytes=$(du -sb "$out/raw" | cut -f1)
rm -rf "$out/raw"
cp scripts/gpu/run.sh scripts/gpu/bench_torch.py scripts/gpu/python_cuda.py "$out/"
mkdir -p "$out/python/probe"
cp crates/probe-py/python/probe/*.py "$out/python/probe/"
{
    echo "commit: $(git rev-parse HEAD 2>/dev/null)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
    echo "built: $(date -u +%FT%TZ) on $(uname -n) ($(uname -m))"
    echo "nvcc: $nvcc_ver ($nvcc_line)"
    echo "ptx_version: $ptx_version"
    echo "ptx_target: $ptx_target"
    echo "needs_cuda: $nvcc_ver"
    echo "compute_capability: $CUDA_COMPUTE_CAP"
    echo "needs_libraries: $needs"
} >"$out/MANIFEST"
cat "$out/MANIFEST" >&2

# 5. Size: repository + pack under the limit.
repo_bytes=$(git ls-files -z --cached --others --exclude-standard |
    xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
pack_bytes=$(find "$out" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
total=$((repo_bytes + pack_bytes))
mib() { awk -v b="$1" 'BEGIN {printf "%.1f MiB", b / 1048576}'; }
find "$out" -type f -printf '%s %p\n' | sort -n | awk '{printf "  %7.1f MiB  %s\n", $1 / 1048576, $2}' >&2
log "binaries $(mib "$raw_bytes") stripped, $(mib "$pack_bytes") packed; repository $(mib "$repo_bytes") + $out $(mib "$pack_bytes") = $(mib "$total") of the 64 MiB limit"
if [ "$total" -ge "$LIMIT" ]; then
    die "over the 64 MiB limit by $(mib $((total - LIMIT))): nothing more can be carried"
fi
log "$out is ready. On a GPU machine, from the repository root: bash .gpu/run.sh"
echo "run: command \"bash .gpu/run.sh\", carry [\".gpu\"], timeout_s 600   (steps: bash .gpu/run.sh help)"
