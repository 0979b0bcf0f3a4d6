#!/usr/bin/env bash
# Runs probe's packed CUDA build (scripts/gpu/pack.sh) on a GPU machine with CUDA libraries and no
# Rust, from the repository root (the short training runs read configs/ and datasets/):
#
#   bash .gpu/run.sh [tests] [bench] [train]    # default: all three; results in $OUT, else .gpu/out
#
# 1. finds the CUDA libraries the binaries need (ldconfig -p, then a search of /usr, /opt, the
#    Python site-packages) and sets LD_LIBRARY_PATH; stops with the missing names if any is absent;
# 2. the GPU test suite: every packed test binary (their CPU and CUDA instances);
# 3. the GPU benchmark: scripts/gpu/bench_torch.py (if Python has a CUDA PyTorch) and bench_cuda;
# 4. short `probe train --device cuda` runs (the 12-bit tanh network; a 784-1024-20-20-20-10 MLP
#    on the committed Fashion-MNIST subset) that dump their activations, and `probe analyze` of
#    those dumps on the CPU: every binned/floor/adaptive row measured on the GPU must equal the
#    CPU's byte for byte.
# Exit status: non-zero if any step failed; a summary is printed at the end.
# PROBE_DEVICE (default cuda) and PROBE_BIN (default .gpu/bin) exist to dry-run step 4 on a CPU build.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/.."
out=${OUT:-$here/out}
bin=${PROBE_BIN:-$here/bin}
device=${PROBE_DEVICE:-cuda}
steps=${*:-tests bench train}
want() { case " $steps " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
mkdir -p "$out"
log() { echo "run.sh: $*" | tee -a "$out/summary.txt"; }
: >"$out/summary.txt"
status=0

cat "$here/MANIFEST" 2>/dev/null | tee -a "$out/summary.txt"
nvidia-smi 2>&1 | tee "$out/nvidia-smi.txt" | head -15

# 1. Libraries.
need=$(objdump -p "$bin/probe" 2>/dev/null | awk '/NEEDED/ {print $2}')
[ -n "$need" ] || need="libcuda.so.1 libcudart.so.13 libcublas.so.13 libcublasLt.so.13 libcurand.so.10 libnvrtc.so.13"
dirs=""
for lib in $need; do
    case $lib in libc.so* | libm.so* | libgcc_s.so* | libstdc++.so* | libdl.so* | libpthread.so* | librt.so* | ld-linux*) continue ;; esac
    path=$(ldconfig -p 2>/dev/null | awk -v l="$lib" '$1 == l {print $NF; exit}')
    if [ -z "$path" ]; then
        path=$(find /usr /opt /usr/local /root /home -xdev \( -name "$lib" -o -name "$lib.*" \) 2>/dev/null | head -1)
    fi
    if [ -n "$path" ]; then
        dirs="$dirs:$(dirname "$path")"
    else
        log "MISSING library $lib"
        status=1
    fi
done
export LD_LIBRARY_PATH="${dirs#:}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
log "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
if [ $status -ne 0 ]; then
    log "install the missing CUDA libraries (e.g. pip install nvidia-cublas nvidia-curand nvidia-cuda-nvrtc nvidia-cuda-runtime, all ==13.0.*) or rebuild with the machine's toolkit"
    exit 1
fi
if ldd "$bin/probe" | grep -q "not found"; then
    ldd "$bin/probe" | grep "not found" | tee -a "$out/summary.txt"
    exit 1
fi

# 2. GPU test suite.
want tests && for t in "$here"/tests/*; do
    name=$(basename "$t")
    if "$t" --test-threads=1 >"$out/test-$name.txt" 2>&1; then
        log "PASS tests $name ($(grep -c '\.\.\. ok' "$out/test-$name.txt") tests)"
    else
        log "FAIL tests $name (see $out/test-$name.txt)"
        grep -E "FAILED|panicked" "$out/test-$name.txt" | head -20 | tee -a "$out/summary.txt"
        status=1
    fi
done

# 3. Benchmark (validates GPU terms against the CPU before timing).
bench() {
torch_arg=()
py=$(command -v python3 || true)
[ -x .venv/bin/python ] && py=.venv/bin/python
if [ -n "$py" ] && "$py" -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then
    if "$py" "$here/bench_torch.py" --out "$out/torch.json" >"$out/bench_torch.txt" 2>&1; then
        torch_arg=(--torch "$out/torch.json")
        log "PASS bench_torch.py"
    else
        log "FAIL bench_torch.py (see $out/bench_torch.txt)"
        status=1
    fi
else
    log "SKIP bench_torch.py: no Python with a CUDA PyTorch here (PyTorch column will read n/a)"
fi
if "$bin/bench_cuda" "${torch_arg[@]}" >"$out/bench_cuda.md" 2>&1; then
    log "PASS bench_cuda"
    cat "$out/bench_cuda.md"
else
    log "FAIL bench_cuda (see $out/bench_cuda.md)"
    tail -20 "$out/bench_cuda.md"
    status=1
fi
}
want bench && bench

# 4. Short training runs on the GPU, checked against probe analyze on the CPU.
train_and_check() { # name config-file
    local name=$1 cfg=$2 run="$out/train-$1"
    local t0=$SECONDS
    if ! "$bin/probe" train --config "$cfg" --device "$device" --out "$run" --overwrite --quiet \
        >"$out/train-$name.txt" 2>&1; then
        log "FAIL train $name (see $out/train-$name.txt)"
        tail -20 "$out/train-$name.txt"
        status=1
        return
    fi
    log "PASS train $name on $device in $((SECONDS - t0)) s"
    local last
    last=$(ls "$run"/activations-epoch*.safetensors | sed 's/.*epoch\([0-9]*\)\.safetensors/\1/' | sort -n | tail -1)
    "$bin/probe" analyze --activations "$run/activations-epoch$last.safetensors" \
        --labels "$run/labels.safetensors" --inputs "$run/inputs.safetensors" \
        --config "$run/config.toml" --out "$out/analyze-$name" --overwrite >"$out/analyze-$name.txt" 2>&1
    local gpu cpu
    gpu=$(grep "^$last," "$run/infoplane.csv" | grep -E ",(binned|floor|adaptive)," | cut -d, -f2-5 | sort)
    cpu=$(grep -E ",(binned|floor|adaptive)," "$out/analyze-$name/analysis.csv" | cut -d, -f2-5 | sort)
    if [ -n "$gpu" ] && [ "$gpu" = "$cpu" ]; then
        log "PASS $name epoch $last: $(echo "$gpu" | wc -l) GPU binned rows equal the CPU's"
    else
        log "FAIL $name epoch $last: GPU rows differ from probe analyze on the CPU"
        diff <(echo "$gpu") <(echo "$cpu") | head -20 | tee -a "$out/summary.txt"
        status=1
    fi
}
want train || { [ $status -eq 0 ] && log "ALL SELECTED GPU CHECKS PASSED"; exit $status; }
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

if [ $status -eq 0 ]; then log "ALL GPU CHECKS PASSED"; else log "SOME GPU CHECKS FAILED"; fi
exit $status
