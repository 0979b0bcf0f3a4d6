#!/usr/bin/env bash
# Saxe et al. 2018's reproduction of the 12-bit information plane: the 12-10-7-5-4-3-2 network
# (configs/tishby_tanh.toml, configs/tishby_relu.toml: Adam lr 4e-4, batch 512, 8000 epochs, MI on
# all 4096 patterns at 274 log-spaced epochs) with tanh and with ReLU, SEEDS seeds each trained as
# one batched ensemble (train.repeats), measured with a binned estimator (tanh: 30 edges on [-1, 1];
# ReLU: floor(x / 0.07), as the configs) and with the KDE bounds at σ² = 1e-3 (Saxe's 12-bit
# setting). Averaged information planes: OUT/{tanh,relu}/infoplane.png (binned) and
# infoplane-kde.png (KDE upper bound), means in infoplane_mean.csv, every seed in infoplane.csv.
#
#   scripts/saxe_reproduction.sh [OUT]          # full protocol: 50 seeds × 8000 epochs × 2
#   SEEDS=5 EPOCHS=500 POINTS=40 scripts/saxe_reproduction.sh runs/saxe-small   # an estimate
#
# Expected (Saxe et al., Fig. 1): tanh layers' I(X;T) rises, then falls late in training
# (compression); ReLU layers' I(X;T) does not fall.
# The full protocol also copies the four figures to docs/saxe_{tanh,relu}_{binned,kde}.png and the
# wall times to docs/saxe_timing.txt. The ensembles train on the fused CPU path (train.fused,
# automatic for this network: replicas in parallel on every core) and the estimates of the seeds
# run in parallel too; RAYON_NUM_THREADS caps the threads.
set -euo pipefail
out=${1:-runs/saxe}
seeds=${SEEDS:-50}
epochs=${EPOCHS:-8000}
points=${POINTS:-274}
probe=${PROBE:-target/release/probe}
if [ ! -x "$probe" ]; then
  cargo build --release -p probe-cli
fi
mkdir -p "$out"
timing="$out/timing.txt"
{
  echo "# probe saxe_reproduction.sh: $seeds seeds × $epochs epochs, $points measured epochs"
  echo "# $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-all cores}"
} > "$timing"
for act in tanh relu; do
  cfg="$out/$act.toml"
  # The protocol's config with the ensemble size, the KDE estimator, and no flow/stats tables.
  sed -e "s/^name = .*/name = \"saxe_$act\"/" \
      -e "s/^epochs = .*/epochs = $epochs\nrepeats = $seeds/" \
      -e "s/^points = .*/points = $points\nflow = false\nstats = false/" \
      "configs/tishby_$act.toml" > "$cfg"
  printf '\n[[measure.estimators]]\nkind = "kde"\nsigma2 = 0.001\n' >> "$cfg"
  start=$(date +%s)
  "$probe" train --config "$cfg" --out "$out/$act" --overwrite --device cpu
  secs=$(( $(date +%s) - start ))
  echo "$act: ${secs} s wall" | tee -a "$timing"
done
if [ "$seeds" = 50 ] && [ "$epochs" = 8000 ] && [ "$points" = 274 ]; then
  for act in tanh relu; do
    cp "$out/$act/infoplane.png" "docs/saxe_${act}_binned.png"
    cp "$out/$act/infoplane-kde.png" "docs/saxe_${act}_kde.png"
  done
  cp "$timing" docs/saxe_timing.txt
  echo "figures: docs/saxe_{tanh,relu}_{binned,kde}.png; timing: docs/saxe_timing.txt"
fi
cat "$timing"
