#!/usr/bin/env bash
# Training throughput of probe's CNN, Transformer and RNN (configs/{cnn,transformer,rnn}_fashion.toml)
# against the same models in PyTorch, on the same CPU in one run: for each model, probe's example
# (crates/probe-train/examples/bench_models.rs) and scripts/bench_models.py train one warm-up and one
# timed epoch on the same first SAMPLES Fashion-MNIST images (Adam 1e-3, batch 128) with the same
# thread count, back to back, and a markdown table of wall ms/step, process CPU seconds per epoch,
# the ratios, probe's system-time share and minor page faults per step is printed (the source of
# the "Models" section of BENCHMARKS.md). Then candle's conv2d and probe's im2col convolution
# (forward + backward of one 32→64 3×3 layer on 14×14 maps) are timed side by side.
#
# Needs the Python environment (bash scripts/setup_python.sh) and Fashion-MNIST in DATA_DIR.
# Usage: bash scripts/bench_models.sh [SAMPLES [THREADS [DATA_DIR]]]   (default 12800, 2, Debian dir)
set -euo pipefail
cd "$(dirname "$0")/.."
SAMPLES=${1:-12800}
THREADS=${2:-2}
DATA=${3:-/usr/share/datasets/fashion-mnist}
if [ ! -x .venv/bin/python ]; then
    echo "error: .venv/bin/python not found; run: bash scripts/setup_python.sh" >&2
    exit 1
fi
cargo build --release -q -p probe-train --example bench_models
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc --all) CPUs, $(lscpu | sed -n 's/^Model name: *//p' | head -1); load average $(cut -d' ' -f1-3 /proc/loadavg)"
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
echo "threads: $THREADS (RAYON_NUM_THREADS for probe, torch.set_num_threads for PyTorch); samples: $SAMPLES; batch 128; Adam 1e-3"
RES=$(mktemp "${TMPDIR:-/tmp}/probe-bench-models.XXXXXX")
trap 'rm -f "$RES"' EXIT
for m in cnn transformer rnn; do
    ./target/release/examples/bench_models "$m" "$SAMPLES" "$DATA" | tee -a "$RES"
    .venv/bin/python scripts/bench_models.py "$m" "$SAMPLES" "$THREADS" "$DATA" | tee -a "$RES"
done
./target/release/examples/bench_models conv 20 | tee -a "$RES"
.venv/bin/python - "$RES" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {(r["impl"], r.get("model")): r for r in rows if "model" in r}
def sys_share(r):
    return f"{100 * r['sys_s'] / r['cpu_s']:.1f} %" if r.get("cpu_s") and r.get("sys_s") is not None else "–"
print("\n| model | probe wall ms/step | PyTorch wall ms/step | wall ratio | probe CPU s/epoch | PyTorch CPU s/epoch | CPU ratio | probe sys share | probe minor faults/step | probe / PyTorch loss |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
for m in ("cnn", "transformer", "rnn"):
    p, t = by[("probe", m)], by[("pytorch", m)]
    cpu = (f"{p['cpu_s']:.2f} | {t['cpu_s']:.2f} | {p['cpu_s'] / t['cpu_s']:.2f}×"
           if p.get("cpu_s") else "– | – | –")
    print(f"| {m} | {p['ms_per_step']:.1f} | {t['ms_per_step']:.1f} | {p['ms_per_step'] / t['ms_per_step']:.2f}× "
          f"| {cpu} | {sys_share(p)} | {p.get('faults_per_step', '–')} | {p['train_loss']:.3f} / {t['train_loss']:.3f} |")
conv = {r["impl"]: r["ms_per_step"] for r in rows if "what" in r}
if conv:
    print(f"\nconv 32→64 3×3 on 14×14, batch 128, fwd+bwd: candle conv2d {conv['candle_conv2d']:.1f} ms, "
          f"probe im2col {conv['probe_im2col']:.1f} ms ({conv['candle_conv2d'] / conv['probe_im2col']:.1f}× faster)")
PY
