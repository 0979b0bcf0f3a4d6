#!/usr/bin/env bash
# The fused CPU trainer against the candle path, on one machine: wall seconds of `probe train`
# (12-bit protocol; seed ensembles of 1/10/50 seeds at 1 and 2 threads; MLP widths) and
# `bench_train saxe_mlp` epochs. Run on a quiet machine after a release build:
#   cargo build --release -p probe-cli -p probe-train --examples && bash scripts/bench/fused.sh
# Results: BENCHMARKS.md ("Fused trainer") and docs/workflows.md ("Cost").
set -u
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P=./target/release/probe
t() { local s=$(date +%s.%N); "$@" > /dev/null 2>&1; local rc=$?; awk -v a="$s" -v b="$(date +%s.%N)" -v rc=$rc 'BEGIN { printf "%.2f s rc=%d\n", b - a, rc }'; }
echo "== 12-bit protocol (8000 epochs, 274 points), 2 threads"
for f in true false; do sed "s/^epochs = 8000/epochs = 8000\nfused = $f/" configs/tishby_tanh.toml > $tmp/m_t_$f.toml
  for i in 1 2; do echo "fused=$f run $i: $(t $P train --config $tmp/m_t_$f.toml --out $tmp/m_run_$f --overwrite --quiet)"; done; done
echo "== ensembles, 12-bit, 200 epochs, 2 measured epochs"
for r in 1 10 50; do sed "s/^epochs = 8000/epochs = 200\nrepeats = $r/; s/^points = 274/points = 2/" configs/tishby_tanh.toml > $tmp/m_e_$r.toml
  for th in 1 2; do for i in 1 2; do echo "repeats=$r threads=$th run $i: $(RAYON_NUM_THREADS=$th t $P train --config $tmp/m_e_$r.toml --out $tmp/m_ens --overwrite --quiet)"; done; done; done
sed "s/^epochs = 200/epochs = 200\nfused = false/" $tmp/m_e_50.toml > $tmp/m_e_50c.toml
for th in 1 2; do echo "repeats=50 candle threads=$th: $(RAYON_NUM_THREADS=$th t $P train --config $tmp/m_e_50c.toml --out $tmp/m_ens --overwrite --quiet)"; done
sed "s/^epochs = 200/epochs = 200\nfused = false/" $tmp/m_e_1.toml > $tmp/m_e_1c.toml
for th in 1 2; do echo "repeats=1 candle threads=$th: $(RAYON_NUM_THREADS=$th t $P train --config $tmp/m_e_1c.toml --out $tmp/m_ens --overwrite --quiet)"; done
echo "== widths, 300 epochs of the 12-bit set, 2 measured epochs"
for w in "12, 32, 32, 2" "12, 64, 64, 2" "12, 128, 128, 2" "12, 256, 256, 2"; do for f in true false; do
  sed "s/^widths = .*/widths = [$w]/; s/^epochs = 8000/epochs = 300\nfused = $f/; s/^points = 274/points = 2/" configs/tishby_tanh.toml > $tmp/m_w.toml
  echo "[$w] fused=$f: $(t $P train --config $tmp/m_w.toml --out $tmp/m_w_run --overwrite --quiet)"; done; done
echo "== Saxe MNIST MLP epochs (bench_train saxe_mlp 4)"
for p in fused candle; do PROBE_BENCH_PATH=$p ./target/release/examples/bench_train saxe_mlp 4 | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['path'], d['epoch_s'], 'loss', d['last_loss'])"; done
