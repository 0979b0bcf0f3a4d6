#!/usr/bin/env bash
# β sweep of a Variational Information Bottleneck config (configs/vib_*.toml): one `probe train`
# per β, then OUT/sweep.csv with the last epoch's test error and IB bounds per β.
#
#   scripts/vib_beta_sweep.sh CONFIG OUT [BETAS] [EPOCHS]
#   scripts/vib_beta_sweep.sh configs/vib_fashion.toml runs/vib-sweep 1e-6,1e-5,1e-4,1e-3,1e-2,1e-1 5
#
# BETAS: comma-separated (default 1e-6 … 1e-1, one per decade); EPOCHS: overrides train.epochs.
# Each β's run directory is OUT/beta-{β} (config, metrics.csv, vib.csv, infoplane.csv, …).
# sweep.csv columns: beta, epochs, test_error, test_acc, test_ce (nats), izx_bits (upper bound on
# I(Z;X)), izy_bits (lower bound on I(Z;Y)), train_loss (nats), seconds (wall time of the run).
# Figures (probe plot-sweep): OUT/sweep_error.png/svg (test error vs log10 β) and
# OUT/sweep_bounds.png/svg (log10 of both bounds vs log10 β).
# PROBE overrides the binary (default target/release/probe, built if missing).
set -euo pipefail
if [ $# -lt 2 ]; then
  sed -n '2,15p' "$0" >&2
  exit 2
fi
config=$1
out=$2
betas=${3:-1e-6,1e-5,1e-4,1e-3,1e-2,1e-1}
epochs=${4:-}
probe=${PROBE:-target/release/probe}
if [ ! -x "$probe" ]; then
  cargo build --release -p probe-cli
fi
grep -q '^beta = ' "$config" || { echo "error: $config has no 'beta = ' line in a [vib] table" >&2; exit 2; }
mkdir -p "$out"
sweep="$out/sweep.csv"
echo "beta,epochs,test_error,test_acc,test_ce,izx_bits,izy_bits,train_loss,seconds" > "$sweep.tmp"
for b in ${betas//,/ }; do
  cfg="$out/beta-$b.toml"
  sed "s/^beta = .*/beta = $b/" "$config" > "$cfg"
  start=$(date +%s.%N)
  "$probe" train --config "$cfg" --out "$out/beta-$b" --overwrite --quiet ${epochs:+--epochs "$epochs"}
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  # vib.csv: epoch,beta,lr,train_ce,train_kl,train_loss,train_acc,test_ce,test_acc,test_error,izx_bits,izy_bits
  tail -n 1 "$out/beta-$b/vib.csv" | awk -F, -v s="$secs" \
    '{ printf "%s,%s,%s,%s,%s,%s,%s,%s,%.1f\n", $2, $1, $10, $9, $8, $11, $12, $6, s }' >> "$sweep.tmp"
  echo "beta $b: $(tail -n 1 "$sweep.tmp")" >&2
done
mv "$sweep.tmp" "$sweep"
"$probe" plot-sweep --csv "$sweep" --out "$out"
echo "figures: $out/sweep_error.png, $out/sweep_bounds.png" >&2
column -s, -t "$sweep" >&2 || cat "$sweep" >&2
