#!/usr/bin/env bash
# Runs probe's packed CUDA build (scripts/gpu/pack.sh) on a GPU machine with a driver and no Rust,
# from the repository root (the training runs read configs/ and datasets/):
#
#   bash .gpu/run.sh [STEP...]     # steps: tests bench train python sanitizer (default: all)
#
# Results go to $OUT (the folder the lent-GPU `run` tool brings back), else .gpu/out. Always first:
# 1. unpack: the compressed binaries of .gpu/pack/ into .gpu/bin and .gpu/tests;
# 2. libraries: `ldd` says what the binaries miss; only those are searched for, in the
#    PROBE_LIB_DIRS and LD_LIBRARY_PATH folders, /usr/local/nvidia/lib64, the CUDA folders, the
#    nvidia-* wheels of the machine's Python (nvidia-cublas, nvidia-curand, nvidia-cuda-runtime),
#    then `ldconfig -p`,
#    taking x86-64 copies only; it prints what it found and stops naming what it did not;
# 3. driver: nvidia-smi's driver must support the CUDA version the PTX was built with (MANIFEST),
#    and the GPU's compute capability must be at least the build's; then one tiny CUDA test
#    (load, launch, copy back) runs, and if it fails, nothing else does.
# Then the steps asked for, each with a time limit, within PROBE_BUDGET_S (default 560) seconds
# in all (a step that would start too late is skipped, and says so):
# * tests: every packed GPU test binary (their CPU and CUDA instances);
# * bench: scripts/gpu/bench_torch.py (if Python has a CUDA PyTorch), then bench_cuda, which
#   validates the GPU's terms against the CPU before timing;
# * train: short `probe train --device cuda` runs (the 12-bit tanh network; a 784-1024-20-20-20-10
#   MLP on the committed Fashion-MNIST subset) whose GPU-measured binned/floor/adaptive rows must
#   equal `probe analyze` of their dumped activations on the CPU, byte for byte;
# * python: scripts/gpu/python_cuda.py with the packed CUDA build of the Python package: CUDA
#   torch tensors through DLPack (device to device) against host copies, InfoPlane on a CUDA model;
# * sanitizer: the GPU tests once more under compute-sanitizer (memcheck, then racecheck on the
#   kernels with shared memory), if it is installed; last, as it is the slowest.
# A summary table ends the output (and $OUT/summary.md). Exit status: 0 iff nothing failed.
# PROBE_DEVICE (default cuda) and PROBE_BIN (default .gpu/bin) exist to dry-run `train` on a CPU.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
out=${OUT:-$here/out}
bin=${PROBE_BIN:-$here/bin}
device=${PROBE_DEVICE:-cuda}
budget=${PROBE_BUDGET_S:-560}
steps=${*:-tests bench train python sanitizer}
case " $steps " in *" help "* | *" -h "* | *" --help "*)
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac
mkdir -p "$out"
start=$SECONDS
status=0
rows=()
: >"$out/log.txt"
say() { echo "run.sh: $*" | tee -a "$out/log.txt"; }
# record STEP RESULT SECONDS DETAIL: one row of the summary; FAIL makes the exit status 1.
record() {
    rows+=("| $1 | $2 | $3 | $4 |")
    say "$2 $1 ($3 s) $4"
    [ "$2" != FAIL ] || status=1
}
summary() {
    {
        echo
        echo "## probe GPU run: $(date -u +%FT%TZ), $(head -1 "$out/gpu.txt" 2>/dev/null || echo 'GPU unknown')"
        echo
        echo "| step | result | seconds | detail |"
        echo "| --- | --- | --- | --- |"
        printf '%s\n' "${rows[@]}"
        echo
        if [ $status -eq 0 ]; then echo "ALL SELECTED GPU CHECKS PASSED"; else echo "SOME GPU CHECKS FAILED"; fi
    } | tee "$out/summary.md"
}
stop() { # a preflight failure: nothing after it can run
    record "$1" FAIL "$2" "$3"
    summary
    exit 1
}
left() { echo $((budget - (SECONDS - start))); }
# run_limited LIMIT LOG CMD...: CMD with a time limit (capped by the budget left), output to LOG.
# Returns CMD's status, 124 on a timeout.
run_limited() {
    local lim=$1 logf=$2
    shift 2
    [ "$(left)" -lt "$lim" ] && lim=$(left)
    [ "$lim" -gt 5 ] || return 125
    timeout -k 10 "$lim" "$@" >"$logf" 2>&1
}

cat "$here/MANIFEST" 2>/dev/null | tee -a "$out/log.txt"
manifest() { awk -F': ' -v k="$1" '$1 == k {print $2; exit}' "$here/MANIFEST" 2>/dev/null; }

# 1. Unpack: .gpu/pack/binaries.tar.xz (xz, else Python's tarfile) or .gpu/pack/*/*.gz.
t0=$SECONDS
xzpack="$here/pack/binaries.tar.xz"
if [ -f "$xzpack" ]; then
    if [ ! -x "$bin/probe" ] || [ "$xzpack" -nt "$bin/probe" ]; then
        if command -v xz >/dev/null 2>&1; then
            xz -dc "$xzpack" | tar -x -C "$here"
        else
            python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$xzpack" "$here"
        fi || stop unpack $((SECONDS - t0)) "cannot unpack $xzpack (no xz and no python3, or disk full)"
        touch "$bin"/* "$here"/tests/* 2>/dev/null && chmod +x "$bin"/* "$here"/tests/*
    fi
fi
for gz in "$here"/pack/bin/*.gz "$here"/pack/tests/*.gz; do
    [ -e "$gz" ] || continue
    dest="$here/$(basename "$(dirname "$gz")")/$(basename "$gz" .gz)"
    mkdir -p "$(dirname "$dest")"
    if [ ! -x "$dest" ] || [ "$gz" -nt "$dest" ]; then
        gzip -dc "$gz" >"$dest.tmp" && chmod +x "$dest.tmp" && mv "$dest.tmp" "$dest" ||
            stop unpack $((SECONDS - t0)) "cannot unpack $gz (disk full?)"
    fi
done
[ -x "$bin/probe" ] || stop unpack $((SECONDS - t0)) "no $bin/probe: run scripts/gpu/pack.sh first and carry .gpu"
record unpack PASS $((SECONDS - t0)) "$(find "$bin" "$here/tests" -maxdepth 1 -type f -perm -u+x 2>/dev/null | wc -l) binaries"
tests=("$here"/tests/*)
[ -e "${tests[0]}" ] || tests=()

# 2. Libraries: ldd first; search only for what it reports missing.
t0=$SECONDS
is_x86_64() { # an ELF64 file for x86-64 (class 2, machine 0x3e)
    [ "$(od -An -tx1 -j4 -N1 "$1" 2>/dev/null | tr -d ' ')" = 02 ] &&
        [ "$(od -An -tx1 -j18 -N2 "$1" 2>/dev/null | tr -d ' ')" = 3e00 ]
}
missing() { for b in "$bin"/* "${tests[@]}"; do ldd "$b" 2>/dev/null; done | awk '/=> not found/ {print $1}' | sort -u; }
lib_dirs() {
    tr ':' '\n' <<<"${PROBE_LIB_DIRS:-}:${LD_LIBRARY_PATH:-}"
    echo /usr/local/nvidia/lib64 /usr/local/nvidia/lib /usr/local/cuda/lib64 \
        /usr/local/cuda/targets/x86_64-linux/lib /usr/lib/x86_64-linux-gnu /usr/lib64 | tr ' ' '\n'
    ls -d /usr/local/cuda-*/lib64 /usr/local/cuda-*/targets/x86_64-linux/lib 2>/dev/null
    for py in python3 .venv/bin/python /usr/bin/python3; do # the CUDA wheels' folders
        command -v "$py" >/dev/null 2>&1 || [ -x "$py" ] || continue
        "$py" - 2>/dev/null <<'PY'
import glob, os, site, sys
roots = list(getattr(site, "getsitepackages", lambda: [])()) + [site.getusersitepackages()] + sys.path
for r in dict.fromkeys(roots):
    for d in sorted(glob.glob(os.path.join(r, "nvidia", "*", "lib")) + glob.glob(os.path.join(r, "nvidia", "*", "*", "lib"))):
        print(d)
PY
    done
}
if ! command -v ldd >/dev/null 2>&1; then
    stop libraries 0 "ldd is not installed: cannot tell which libraries the binaries miss"
fi
miss=$(missing)
found=""
add_dirs=""
for lib in $miss; do
    path=""
    while read -r dir; do
        [ -n "$dir" ] && [ -e "$dir/$lib" ] && is_x86_64 "$(readlink -f "$dir/$lib")" && { path="$dir/$lib" && break; }
    done < <(lib_dirs | awk 'NF && !seen[$0]++')
    if [ -z "$path" ]; then # the loader cache, x86-64 entries only
        path=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l && /x86-64/ {print $NF; exit}')
    fi
    if [ -n "$path" ]; then
        found="$found $lib=$path"
        add_dirs="$add_dirs:$(dirname "$path")"
    else
        others=$(timeout 20 find / -xdev -name "$lib" 2>/dev/null | head -3 | tr '\n' ' ')
        say "MISSING $lib: no x86-64 copy in the LD_LIBRARY_PATH folders, /usr/local/nvidia/lib64, the CUDA folders, the nvidia-* wheels, ldconfig${others:+ (other copies: $others)}"
    fi
done
[ -z "$add_dirs" ] || export LD_LIBRARY_PATH="${add_dirs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
still=$(missing | tr '\n' ' ')
say "libraries the binaries did not find by themselves: ${miss:-none}"
[ -z "$found" ] || say "found:$found"
say "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"
if [ -n "$still" ]; then
    stop libraries $((SECONDS - t0)) "missing: $still; install them (pip install nvidia-cublas nvidia-curand nvidia-cuda-runtime, CUDA $(manifest needs_cuda)) or set LD_LIBRARY_PATH"
fi
if [ -n "$miss" ]; then
    record libraries PASS $((SECONDS - t0)) "$(wc -w <<<"$miss") found by the search:$found"
else
    record libraries PASS $((SECONDS - t0)) "all found by the loader"
fi

# 3. Driver and PTX, then one tiny CUDA test.
t0=$SECONDS
command -v nvidia-smi >/dev/null 2>&1 || stop driver 0 "nvidia-smi not found: no NVIDIA driver here"
nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || stop driver 0 "nvidia-smi failed: $(tail -1 "$out/nvidia-smi.txt")"
head -15 "$out/nvidia-smi.txt"
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv,noheader >"$out/gpu.txt" 2>&1
read -r drv_cuda < <(grep -o 'CUDA Version: *[0-9.]*' "$out/nvidia-smi.txt" | grep -o '[0-9.]*$')
need=$(manifest needs_cuda)
cap=$(head -1 "$out/gpu.txt" | awk -F', ' '{gsub(/\./, "", $3); print $3}')
want_cap=$(manifest compute_capability)
ver_num() { IFS=. read -r a b <<<"$1" && echo $((a * 1000 + ${b:-0})); }
detail="GPU $(head -1 "$out/gpu.txt"); driver supports CUDA ${drv_cuda:-?}; PTX $(manifest ptx_version) ($(manifest ptx_target)) from nvcc ${need:-?}"
if [ -n "$need" ] && [ -n "${drv_cuda:-}" ] && [ "$(ver_num "$drv_cuda")" -lt "$(ver_num "$need")" ]; then
    stop driver $((SECONDS - t0)) "$detail: the driver is older than the build's CUDA $need and cannot load its PTX (CUDA_ERROR_UNSUPPORTED_PTX_VERSION); rebuild with PROBE_TARGET_CUDA=$drv_cuda and a CUDA $drv_cuda toolkit"
fi
if [ -n "$cap" ] && [ -n "$want_cap" ] && [ "$cap" -lt "$want_cap" ] 2>/dev/null; then
    stop driver $((SECONDS - t0)) "$detail: PTX for compute_$want_cap cannot run on compute capability $cap; rebuild with CUDA_COMPUTE_CAP=$cap"
fi
record driver PASS $((SECONDS - t0)) "$detail"
t0=$SECONDS
smoke=$(ls "$here"/tests/*cuda_streams 2>/dev/null | head -1)
if [ -z "$smoke" ]; then
    stop smoke 0 "no cuda_streams test binary in the pack"
fi
if ! run_limited 120 "$out/smoke.txt" "$smoke" smoke_one_estimate --exact --test-threads=1; then
    tail -25 "$out/smoke.txt"
    stop smoke $((SECONDS - t0)) "the first CUDA kernels failed (load, launch or copy): see smoke.txt; nothing else was run"
fi
record smoke PASS $((SECONDS - t0)) "one estimate on the GPU equals the CPU's"

want() { case " $steps " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# skipped STEP: records a SKIP when too little of the budget is left to start STEP.
skipped() {
    [ "$(left)" -gt 20 ] && return 1
    record "$1" SKIP 0 "out of time (PROBE_BUDGET_S=$budget)"
}

# 4. GPU test suite.
if want tests; then
    for t in "${tests[@]}"; do
        name=$(basename "$t")
        skipped "tests $name" && continue
        t0=$SECONDS
        run_limited 300 "$out/test-$name.txt" "$t" --test-threads=1
        rc=$?
        n_ok=$(grep -c '\.\.\. ok' "$out/test-$name.txt")
        if [ $rc -eq 0 ]; then
            record "tests $name" PASS $((SECONDS - t0)) "$n_ok tests"
        else
            grep -E "FAILED|panicked|^---- " "$out/test-$name.txt" | head -20 | tee -a "$out/log.txt"
            record "tests $name" FAIL $((SECONDS - t0)) "$([ $rc -ge 124 ] && echo 'timed out; ')$n_ok passed; see test-$name.txt"
        fi
    done
fi

# 5. Benchmark (bench_cuda validates GPU terms against the CPU before timing).
if want bench && ! skipped bench; then
    torch_arg=()
    py=$(command -v python3 || true)
    [ -x .venv/bin/python ] && py=.venv/bin/python
    t0=$SECONDS
    if [ -n "$py" ] && "$py" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
        if run_limited 120 "$out/bench_torch.txt" "$py" "$here/bench_torch.py" --out "$out/torch.json"; then
            torch_arg=(--torch "$out/torch.json")
            record bench_torch.py PASS $((SECONDS - t0)) ""
        else
            record bench_torch.py FAIL $((SECONDS - t0)) "see bench_torch.txt"
        fi
    else
        record bench_torch.py SKIP 0 "no Python with a CUDA PyTorch here"
    fi
    t0=$SECONDS
    if run_limited 240 "$out/bench_cuda.md" "$bin/bench_cuda" "${torch_arg[@]}"; then
        record bench_cuda PASS $((SECONDS - t0)) "table in bench_cuda.md"
        cat "$out/bench_cuda.md"
    else
        tail -20 "$out/bench_cuda.md"
        record bench_cuda FAIL $((SECONDS - t0)) "see bench_cuda.md"
    fi
fi

# 6. Short training runs on the GPU, checked against probe analyze on the CPU.
train_and_check() { # name config-file
    local name=$1 cfg=$2 run="$out/train-$1" t0=$SECONDS
    skipped "train $name" && return
    if ! run_limited 150 "$out/train-$name.txt" "$bin/probe" train --config "$cfg" \
        --device "$device" --out "$run" --overwrite --quiet; then
        tail -20 "$out/train-$name.txt"
        record "train $name" FAIL $((SECONDS - t0)) "see train-$name.txt"
        return
    fi
    local last gpu cpu
    last=$(ls "$run"/activations-epoch*.safetensors | sed 's/.*epoch\([0-9]*\)\.safetensors/\1/' | sort -n | tail -1)
    run_limited 120 "$out/analyze-$name.txt" "$bin/probe" analyze \
        --activations "$run/activations-epoch$last.safetensors" --labels "$run/labels.safetensors" \
        --inputs "$run/inputs.safetensors" --config "$run/config.toml" --out "$out/analyze-$name" --overwrite
    gpu=$(grep "^$last," "$run/infoplane.csv" | grep -E ",(binned|floor|adaptive)," | cut -d, -f2-5 | sort)
    cpu=$(grep -E ",(binned|floor|adaptive)," "$out/analyze-$name/analysis.csv" 2>/dev/null | cut -d, -f2-5 | sort)
    if [ -n "$gpu" ] && [ "$gpu" = "$cpu" ]; then
        record "train $name" PASS $((SECONDS - t0)) "epoch $last: $(echo "$gpu" | wc -l) GPU binned rows equal the CPU's"
    else
        diff <(echo "$gpu") <(echo "$cpu") | head -20 | tee -a "$out/log.txt"
        record "train $name" FAIL $((SECONDS - t0)) "epoch $last: GPU rows differ from probe analyze on the CPU"
    fi
}
if want train; then
    estimators='
[[measure.estimators]]
kind = "floor"
width = 0.5

[[measure.estimators]]
kind = "adaptive"
bins = 30
'
    sed -e 's/^epochs = .*/epochs = 40/' -e 's/^points = .*/points = 10/' \
        -e 's/^\[measure\]/[measure]\ndump_activations = "measured"/' configs/tishby_tanh.toml \
        >"$out/tishby_gpu.toml"
    echo "$estimators" >>"$out/tishby_gpu.toml"
    train_and_check tishby "$out/tishby_gpu.toml"
    cat >"$out/fashion_gpu.toml" <<TOML
name = "fashion_subset_gpu"
seed = 0
[data]
dataset = "fashion-mnist-subset"
[model]
widths = [784, 1024, 20, 20, 20, 10]
activation = "relu"
[train]
optimizer = "sgd"
lr = 0.001
batch_size = 128
epochs = 5
[measure]
schedule = "every"
on = "test"
dump_activations = [5]
[[measure.estimators]]
kind = "binned"
lo = 0.0
hi = 4.0
edges = 30
$estimators
TOML
    train_and_check fashion "$out/fashion_gpu.toml"
fi

# 7. The Python package's CUDA path (the native module unpacked into .gpu/bin).
if want python && ! skipped python; then
    py=$(command -v python3 || true)
    [ -x .venv/bin/python ] && py=.venv/bin/python
    t0=$SECONDS
    if [ -z "$py" ] || ! "$py" -c 'import numpy, torch; assert torch.cuda.is_available()' 2>/dev/null; then
        record python SKIP 0 "no Python with numpy and a CUDA PyTorch here"
    elif ! cp "$bin/_probe.abi3.so" "$here/python/probe/"; then
        record python FAIL 0 "no packed native module ($bin/_probe.abi3.so)"
    elif PYTHONPATH="$here/python" run_limited 180 "$out/python.txt" "$py" "$here/python_cuda.py"; then
        record python PASS $((SECONDS - t0)) "$(grep -c '^PASS' "$out/python.txt") checks"
    else
        tail -20 "$out/python.txt"
        record python FAIL $((SECONDS - t0)) "see python.txt"
    fi
fi

# 8. compute-sanitizer over the GPU tests (CUDA instances only; the stream test's smallest case).
sanitizer_filter() { # the tests of a binary worth running under the sanitizer
    case $1 in
    *cuda_streams) echo smoke_one_estimate ;;
    *device_binned) echo cuda:: ;;
    *) echo "" ;;
    esac
}
if want sanitizer; then
    cs=$(command -v compute-sanitizer || ls /usr/local/cuda*/bin/compute-sanitizer /usr/local/cuda*/compute-sanitizer/compute-sanitizer 2>/dev/null | head -1)
    if [ -z "$cs" ]; then
        record sanitizer SKIP 0 "compute-sanitizer is not installed here"
    else
        for tool in memcheck racecheck; do
            for t in "${tests[@]}"; do
                name=$(basename "$t")
                skipped "$tool $name" && continue
                t0=$SECONDS
                filter=$(sanitizer_filter "$name")
                run_limited 150 "$out/$tool-$name.txt" "$cs" --tool "$tool" --error-exitcode 86 \
                    "$t" --test-threads=1 $filter
                rc=$?
                errors=$(grep -o 'ERROR SUMMARY: [0-9]* error' "$out/$tool-$name.txt" | tail -1)
                if [ $rc -eq 0 ]; then
                    record "$tool $name" PASS $((SECONDS - t0)) "${errors:-no report}${filter:+ (tests: $filter)}"
                elif [ $rc -ge 124 ] && [ $rc -ne 86 ]; then
                    record "$tool $name" SKIP $((SECONDS - t0)) "timed out (incomplete, not a failure)${filter:+ (tests: $filter)}"
                else
                    grep -E "=========  (Invalid|Race|Error)|ERROR SUMMARY" "$out/$tool-$name.txt" | head -10 | tee -a "$out/log.txt"
                    record "$tool $name" FAIL $((SECONDS - t0)) "${errors:-exit $rc}; see $tool-$name.txt"
                fi
            done
        done
    fi
fi

summary
exit $status
