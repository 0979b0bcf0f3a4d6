#!/usr/bin/env bash
# measure_cost.sh: the measurement-cost targets of issue 19, side by side in one run.
#
#   bash scripts/bench/measure_cost.sh [PROBE_BINARY]     (default: builds target/release/probe)
#
# 1. `configs/tishby_tanh.toml` (8000 epochs; binned, flow and stats on) with the default log-274
#    schedule and with `schedule = "every"` (8000 measurements), interleaved, REPEATS times each:
#    wall and CPU (user + sys) seconds of every run, the minimum of each, and the ratio
#    every / log of the minima (target: wall ratio <= 3 on an idle machine).
# 2. One seed of the same config plus `[[measure.estimators]] kind = "kde"`, `sigma2 = 0.001`
#    (binned + KDE; target: <= 15 s wall); skipped with KDE=0.
#
# Environment: REPEATS (default 3), KDE (default 1), OUT (scratch directory for configs and run
# directories, default a new temporary directory, removed at the end unless KEEP=1). Runs are on
# the CPU; timings on a shared or loaded machine are only good for ratios taken in the same run.
set -euo pipefail
cd "$(dirname "$0")/../.."
repeats=${REPEATS:-3}
kde=${KDE:-1}
probe=${1:-}
if [[ -z $probe ]]; then
  cargo build --release --bin probe >&2
  probe=target/release/probe
fi
out=${OUT:-$(mktemp -d)}
mkdir -p "$out"
[[ ${KEEP:-0} == 1 || -n ${OUT:-} ]] || trap 'rm -rf "$out"' EXIT

log_cfg=configs/tishby_tanh.toml
every_cfg=$out/tishby_tanh_every.toml
sed -e 's/^schedule = "log"/schedule = "every"/' -e '/^points = /d' "$log_cfg" >"$every_cfg"
grep -q '^schedule = "every"' "$every_cfg" || { echo "could not set schedule in $every_cfg" >&2; exit 2; }
kde_cfg=$out/tishby_tanh_kde.toml
cp "$log_cfg" "$kde_cfg"
printf '\n[[measure.estimators]]\nkind = "kde"\nsigma2 = 0.001\n' >>"$kde_cfg"

# time_run NAME CONFIG: prints "NAME wall cpu" (seconds) of one run.
time_run() {
  local wall user sys
  # time's line is the last of the run's stderr (probe -q prints nothing else there).
  /usr/bin/time -f '%e %U %S' "$probe" train --config "$2" --out "$out/run-$1" --overwrite \
    --device cpu -q >/dev/null 2>"$out/err-$1" || true
  read -r wall user sys <<<"$(tail -n 1 "$out/err-$1")"
  [[ $wall =~ ^[0-9.]+$ ]] || { echo "run $1 failed:" >&2; cat "$out/err-$1" >&2; exit 1; }
  echo "$1 $wall $(echo "$user + $sys" | bc -l)"
}

echo "# probe: $probe; $(nproc) cores; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# run wall_s cpu_s"
results=()
for r in $(seq 1 "$repeats"); do
  results+=("$(time_run every "$every_cfg")")
  echo "${results[-1]}"
  results+=("$(time_run log "$log_cfg")")
  echo "${results[-1]}"
done
printf '%s\n' "${results[@]}" | awk '
  { if (!($1 in w) || $2 < w[$1]) w[$1] = $2; if (!($1 in c) || $3 < c[$1]) c[$1] = $3 }
  END {
    printf "min every: %.2f s wall, %.2f s cpu\n", w["every"], c["every"]
    printf "min log-274: %.2f s wall, %.2f s cpu\n", w["log"], c["log"]
    printf "every / log-274: %.2fx wall, %.2fx cpu (target: wall <= 3x)\n", w["every"] / w["log"], c["every"] / c["log"]
  }'
if [[ $kde == 1 ]]; then
  read -r _ wall cpu <<<"$(time_run kde "$kde_cfg")"
  echo "one seed binned + kde (sigma2 = 1e-3): $wall s wall, $cpu s cpu (target: wall <= 15 s)"
fi
