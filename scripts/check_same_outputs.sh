#!/usr/bin/env bash
# check_same_outputs.sh: does the current tree's `probe` write exactly what BASE_REV's wrote?
#
#   bash scripts/check_same_outputs.sh [BASE_REV]        (default BASE_REV: ee84aee)
#
# Builds the release `probe` of BASE_REV in a git worktree outside the repository (cached per
# commit under $PROBE_CHECK_DIR, default ~/.cache/probe-same-outputs/<commit>/, with its own
# CARGO_TARGET_DIR; a second call reuses it) and the current tree's (`cargo build --release --bin
# probe`, binary taken from target/release/probe), runs both on the same cases from the repository
# root (CPU, fixed seed, few epochs, outputs under a temporary directory, never runs/), and compares
# the two outputs of every case: the same file names, every file byte-identical (`cmp`), and the
# same exit code, stdout and stderr of every command.
#
# Cases (one line each: `SAME case`, `DIFF case: file…`, `SKIPPED case: reason`, `FAIL case: …`):
#   - every configs/*.toml (--device cpu --seed 1, --epochs 30 for tishby12, 3 for image MLPs and
#     VIB, 2 for CNN/Transformer/RNN; image data limited by data.train_limit). A config whose data
#     set is not on this machine is SKIPPED (with the reason) and runs as `NAME@subset` on the
#     committed fashion-mnist-subset instead, unless an identical @subset variant already ran;
#   - variants (on tishby_tanh unless named): train.fused = false; measure.gradients = true (fused
#     and candle); seed ensembles (train.repeats = 3, fused and candle); all five estimators
#     (binned, floor, adaptive, kde, knn) with measure.dump_activations; --stop-after + --resume
#     (fused, candle, ensemble, VIB; the stopped and the resumed run directories are both
#     compared); sigmoid/SGD-momentum/shuffled split/on = "train"/every_k; GELU with flow, stats
#     off; --overwrite of an existing run directory; diverging runs (inf/NaN stop, fused and
#     candle); on the subset: CNN (batch norm, avg pool, dropout, 5×5 then 3×3, project:K),
#     Transformer (row tokens, mean pooling, token_mean, a dump) and a 2-layer LSTM;
#   - `probe analyze` on a dumped epoch (--config of the run, explicit --estimator flags, and no
#     --inputs / --no-flow / --no-stats / --saturation) and `probe plot-sweep` on a fixed table;
#   - bad input: exit code and stderr of an unknown key, a wrong type, train.epochs = 0, a missing
#     data directory, an unmeasured dump epoch, [vib] with repeats, fused = true with GELU,
#     --device cuda, a missing config file, an existing --out, --resume of a finished run, a bad
#     analyze flag, a sweep table without a column. Stderr is compared after masking
#     YYYYMMDD-HHMMSS run-directory timestamps.
# Both binaries write to the same absolute paths (one after the other, then moved aside), so paths
# embedded in outputs or messages compare equal.
#
# Exit status: 0 when every case is SAME or SKIPPED; 1 when a case differs, fails on one side, or
# fails on both; 2 on a usage or build error. The summary line: `N same, N differ, N skipped`.
#
# Environment:
#   PROBE_CHECK_DIR=DIR   cache of base worktrees and binaries (default ~/.cache/probe-same-outputs)
#   PROBE_CHECK_SELF=1    compare BASE_REV's binary with itself (two runs: proves the cases are
#                         deterministic; the current tree is not built)
#   PROBE_CHECK_ONLY=RE   run only the cases whose name matches the extended regex RE
#   PROBE_CHECK_KEEP=1    keep the temporary directory (it is always kept when something differs)
#
# Non-determinism (two runs of one binary, ee84aee): only the key order of the safetensors
# `__metadata__` of activations-epoch{E}.safetensors and checkpoint.safetensors varies (a HashMap);
# those keys are sorted before comparing (see SAFETENSORS_META_ORDER below). Wall-clock times are
# only printed without --quiet, which every case uses; no file embeds a time or duration.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BASE_REV=${1:-ee84aee}
CACHE=${PROBE_CHECK_DIR:-$HOME/.cache/probe-same-outputs}
ONLY=${PROBE_CHECK_ONLY:-}
SELF=${PROBE_CHECK_SELF:-0}
KEEP=${PROBE_CHECK_KEEP:-0}

if [[ $# -gt 1 || ${1:-} == -h || ${1:-} == --help ]]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2
  exit 2
fi

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }

started=$SECONDS

# ---------------------------------------------------------------------------------------------
# Binaries

base_sha=$(git -C "$ROOT" rev-parse --verify --quiet "${BASE_REV}^{commit}") \
  || die "BASE_REV $BASE_REV is not a commit of $ROOT"
bdir=$CACHE/$base_sha
base_bin=$bdir/probe
if [[ -x $base_bin ]]; then
  say "base: reusing $base_bin (${base_sha:0:10})"
else
  mkdir -p "$bdir"
  if [[ ! -e $bdir/src/.git ]]; then
    say "base: git worktree of ${base_sha:0:10} at $bdir/src"
    # -f: also when a worktree registered at this path was deleted by hand.
    git -C "$ROOT" worktree add -f --detach "$bdir/src" "$base_sha" >&2
  fi
  [[ $(git -C "$bdir/src" rev-parse HEAD) == "$base_sha" ]] \
    || die "$bdir/src is not at $base_sha; remove it (git worktree remove $bdir/src) and rerun"
  say "base: cargo build --release --bin probe (target dir $bdir/target; several minutes the first time)"
  (cd "$bdir/src" && CARGO_TARGET_DIR="$bdir/target" cargo build --release --bin probe) \
    || die "the base commit $base_sha does not build"
  cp "$bdir/target/release/probe" "$base_bin.tmp.$$"
  mv "$base_bin.tmp.$$" "$base_bin"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/probe-same-outputs.XXXXXX")
cleanup() {
  if [[ $KEEP == 1 ]]; then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT

if [[ $SELF == 1 ]]; then
  cur_label=base2
  cur_bin=$base_bin
  say "current: PROBE_CHECK_SELF=1, comparing the base binary with itself"
else
  cur_label=current
  say "current: cargo build --release --bin probe in $ROOT"
  (cd "$ROOT" && cargo build --release --bin probe) || die "the current tree does not build"
  target=${CARGO_TARGET_DIR:-$ROOT/target}
  [[ $target == /* ]] || target=$ROOT/$target
  # A private copy: another build in the shared target dir must not swap the binary mid-run.
  cp "$target/release/probe" "$TMP/current-probe"
  cur_bin=$TMP/current-probe
fi
build_s=$((SECONDS - started))

# ---------------------------------------------------------------------------------------------
# Config editing (line-based TOML: one `key = value` per line, as every config in configs/)

# set_key FILE TABLE KEY VALUE: sets `KEY = VALUE` in [TABLE] ("" = top level), adding the key at
# the end of the table, or the table at the end of the file; an empty VALUE deletes the key.
set_key() {
  local f=$1 t=$2 k=$3 v=$4
  awk -v t="$t" -v k="$k" -v v="$v" '
    function flush() { if (cur == t && !done && v != "") print k " = " v; if (cur == t) done = 1 }
    BEGIN { cur = ""; done = 0; seen = (t == "") }
    /^\[/ {
      flush()
      cur = $0; sub(/^\[+/, "", cur); sub(/\].*$/, "", cur)
      if (substr($0, 1, 2) == "[[") cur = "[[" cur
      if (cur == t) { seen = 1; done = 0 }
      print; next
    }
    cur == t && $0 ~ ("^" k "[ \t]*=") { if (v != "") print k " = " v; done = 1; next }
    { print }
    END { flush(); if (!seen && v != "") print "\n[" t "]\n" k " = " v }
  ' "$f" >"$f.new"
  mv "$f.new" "$f"
}

# drop_estimators FILE: removes every [[measure.estimators]] table (new ones are appended after).
drop_estimators() {
  awk '/^\[/ { skip = ($0 == "[[measure.estimators]]") } !skip { print }' "$1" >"$1.new"
  mv "$1.new" "$1"
}

# key_of FILE KEY: the value of the first `KEY = …` line, quotes removed ("" if none).
key_of() {
  sed -n -E "s/^$2[ \t]*=[ \t]*\"?([^\"#]*)\"?.*/\1/p" "$1" | head -n 1 | sed -E 's/[ \t]+$//'
}

# data_missing FILE: empty when the config's data set is here, else why not.
data_missing() {
  local ds path
  ds=$(key_of "$1" dataset)
  path=$(key_of "$1" path)
  case $ds in
    tishby12) return 0 ;;
    mnist) path=${path:-datasets/mnist} ;;
    fashion-mnist) path=${path:-/usr/share/datasets/fashion-mnist} ;;
    fashion-mnist-subset) path=${path:-datasets/fashion-mnist-subset} ;;
  esac
  [[ $path == /* ]] || path=$ROOT/$path
  if [[ -z $path ]]; then
    echo "data set \"$ds\" has no data.path"
  elif ! compgen -G "$path/train-images-idx3-ubyte*" >/dev/null; then
    echo "data set \"$ds\" is not on this machine (no $path/train-images-idx3-ubyte[.gz])"
  fi
}

# ---------------------------------------------------------------------------------------------
# Cases: NAME, a function, and its arguments (a config and a number of epochs)

C=$TMP/cfg
mkdir -p "$C"
CASE_NAMES=() CASE_FNS=() CASE_CFGS=() CASE_EPS=()
SKIP_LINES=()
add_case() {
  if [[ -n $ONLY && ! $1 =~ $ONLY ]]; then return 0; fi
  CASE_NAMES+=("$1") CASE_FNS+=("$2") CASE_CFGS+=("${3:-}") CASE_EPS+=("${4:-}")
}
skip_case() {
  if [[ -n $ONLY && ! $1 =~ $ONLY ]]; then return 0; fi
  SKIP_LINES+=("SKIPPED $1: $2")
}

# variant NEW FROM: copies config FROM to $C/NEW.toml with name = "NEW"; prints the path.
variant() {
  local out=$C/$1.toml
  cp "$2" "$out"
  set_key "$out" "" name "\"$1\""
  printf '%s\n' "$out"
}

# Every config in configs/.
declare -A SUBSET_OF=()
for f in "$ROOT"/configs/*.toml; do
  name=$(basename "$f" .toml)
  kind=$(sed -n -E 's/^kind[ \t]*=[ \t]*"(cnn|transformer|rnn)".*/\1/p' "$f" | head -n 1)
  if [[ $(key_of "$f" dataset) == tishby12 ]]; then
    eps=30 limit=
  elif [[ -n $kind ]]; then
    eps=2 limit=500
  else
    eps=3 limit=1000
  fi
  why=$(data_missing "$f")
  if [[ -z $why ]]; then
    cfg=$(variant "$name" "$f")
    [[ -z $limit ]] || set_key "$cfg" data train_limit "$limit"
    add_case "$name" c_train "$cfg" "$eps"
    continue
  fi
  cfg=$(variant "$name@subset" "$f")
  set_key "$cfg" data dataset '"fashion-mnist-subset"'
  set_key "$cfg" data path ""
  [[ -z $limit ]] || set_key "$cfg" data train_limit "$limit"
  key=$(grep -v '^name = ' "$cfg" | grep -v '^[ \t]*#' | grep -v '^[ \t]*$' | md5sum | cut -d' ' -f1)
  if [[ -n ${SUBSET_OF[$key]:-} ]]; then
    skip_case "$name" "$why; its model runs as ${SUBSET_OF[$key]} (the same config on fashion-mnist-subset)"
    rm -f "$cfg"
  else
    SUBSET_OF[$key]=$name@subset
    skip_case "$name" "$why; runs as $name@subset on fashion-mnist-subset instead"
    add_case "$name@subset" c_train "$cfg" "$eps"
  fi
done

TANH=$ROOT/configs/tishby_tanh.toml
RELU=$ROOT/configs/tishby_relu.toml
[[ -f $TANH && -f $RELU ]] || die "configs/tishby_{tanh,relu}.toml are missing; the variants build on them"

# Training paths.
cfg=$(variant tanh-candle "$TANH"); set_key "$cfg" train fused false
add_case tanh-candle c_train "$cfg" 30
cfg=$(variant tanh-gradients "$TANH"); set_key "$cfg" measure gradients true
add_case tanh-gradients c_train "$cfg" 30
cfg=$(variant tanh-candle-gradients "$TANH"); set_key "$cfg" measure gradients true
set_key "$cfg" train fused false
add_case tanh-candle-gradients c_train "$cfg" 20
cfg=$(variant tanh-ensemble "$TANH"); set_key "$cfg" train repeats 3
set_key "$cfg" measure gradients true
add_case tanh-ensemble c_train "$cfg" 30
cfg=$(variant relu-ensemble-candle "$RELU"); set_key "$cfg" train repeats 3
set_key "$cfg" train fused false
add_case relu-ensemble-candle c_train "$cfg" 20
cfg=$(variant tanh-misc "$TANH")
set_key "$cfg" data split '"shuffled"'
set_key "$cfg" data train_fraction 0.7
set_key "$cfg" data split_seed 5
set_key "$cfg" model activation '"sigmoid"'
set_key "$cfg" model init '"default"'
set_key "$cfg" train optimizer '"sgd"'
set_key "$cfg" train lr 0.5
set_key "$cfg" train momentum 0.9
set_key "$cfg" train batch_size 300
set_key "$cfg" train checkpoint_every 0
set_key "$cfg" measure schedule '"every_k"'
set_key "$cfg" measure every 4
set_key "$cfg" measure points ""
set_key "$cfg" measure on '"train"'
add_case tanh-misc c_train "$cfg" 21
cfg=$(variant tanh-gelu "$TANH")
set_key "$cfg" model activation '"gelu"'
set_key "$cfg" model widths '[12, 8, 6, 2]'
set_key "$cfg" measure schedule '"every"'
set_key "$cfg" measure points ""
set_key "$cfg" measure on '"test"'
set_key "$cfg" measure hooks '["layers.*.hook_pre", "layers.1.hook_post"]'
set_key "$cfg" measure flow false
set_key "$cfg" measure stats false
set_key "$cfg" measure saturation 0.5
add_case tanh-gelu c_train "$cfg" 10
cfg=$(variant tanh-diverges "$TANH")
set_key "$cfg" train optimizer '"sgd"'
set_key "$cfg" train lr 1e38
add_case tanh-diverges c_train_fails "$cfg" 10
cfg=$(variant relu-candle-diverges "$RELU")
set_key "$cfg" train lr 1e38
set_key "$cfg" train fused false
add_case relu-candle-diverges c_train_fails "$cfg" 10

# Every estimator, with dumps; the analyze cases read this case's run directory.
DUMP_CASE=tanh-estimators-dump
cfg=$(variant "$DUMP_CASE" "$TANH")
set_key "$cfg" measure schedule '"every_k"'
set_key "$cfg" measure every 5
set_key "$cfg" measure points ""
set_key "$cfg" measure on '"test"'
set_key "$cfg" measure dump_activations '[1, 10]'
drop_estimators "$cfg"
# (appended to the [measure] table, which ends the file once its estimators are dropped)
cat >>"$cfg" <<'EOF'
estimators = [
  { kind = "binned" },
  { kind = "floor", width = 0.07 },
  { kind = "adaptive", bins = 20 },
  { kind = "kde", sigma2 = 0.001 },
  { kind = "knn", name = "knn3", k = 3 },
]
EOF
# (also when PROBE_CHECK_ONLY selects only a case that reads it)
if [[ -z $ONLY || "$DUMP_CASE analyze-config analyze-flags analyze-no-inputs bad-analyze-flag" =~ $ONLY ]]; then
  ONLY='' add_case "$DUMP_CASE" c_train "$cfg" 10
fi
cfg=$(variant tanh-dump-measured "$TANH")
set_key "$cfg" measure dump_activations '"measured"'
set_key "$cfg" measure points 3
add_case tanh-dump-measured c_train "$cfg" 12
add_case analyze-config c_analyze_config
add_case analyze-flags c_analyze_flags
add_case analyze-no-inputs c_analyze_plain

# Stop and resume.
cfg=$(variant tanh-resume "$TANH")
add_case tanh-resume c_resume "$cfg" 20
cfg=$(variant tanh-candle-resume "$TANH"); set_key "$cfg" train fused false
set_key "$cfg" measure gradients true
add_case tanh-candle-resume c_resume "$cfg" 12
cfg=$(variant tanh-ensemble-resume "$TANH"); set_key "$cfg" train repeats 3
set_key "$cfg" train checkpoint_every 4
add_case tanh-ensemble-resume c_resume "$cfg" 20
add_case tanh-overwrite c_overwrite "$TANH" 8

# Other model settings on the committed subset.
SUB=$C/_subset_base.toml
printf '%s\n' 'name = "x"' 'seed = 0' '' '[data]' 'dataset = "fashion-mnist-subset"' \
  'split = "original"' 'train_limit = 300' >"$SUB"
cfg=$(variant cnn-bn-avg-dropout "$SUB")
cat >>"$cfg" <<'EOF'

[model]
kind = "cnn"
channels = [4, 6]
kernel = [5, 3]
stride = 1
pool = [2, 1]
pool_type = "avg"
fc = [16]
activation = "tanh"
batch_norm = true
dropout = 0.2
init = "truncated_normal"

[train]
optimizer = "sgd"
lr = 0.05
momentum = 0.5
batch_size = 64
epochs = 2

[measure]
schedule = "every"
on = "test"
hooks = ["convs.*.hook_post", "fc.*.hook_post"]
gradients = true

[measure.represent]
"convs.0.hook_post" = "channel_mean"
"convs.1.hook_post" = "project:8"

[[measure.estimators]]
kind = "binned"

[[measure.estimators]]
kind = "kde"
sigma2 = 0.1
EOF
add_case cnn-bn-avg-dropout c_train "$cfg" 2
# adam_2_epochs_every: the [train] table of the Transformer and LSTM cases (Adam at lr 0.002,
# batches of 100, 2 epochs) and the start of their [measure] table (every epoch measured).
adam_2_epochs_every() {
  cat <<'EOF'

[train]
optimizer = "adam"
lr = 0.002
batch_size = 100
epochs = 2

[measure]
schedule = "every"
EOF
}
cfg=$(variant transformer-rows-mean "$SUB")
cat >>"$cfg" <<'EOF'

[model]
kind = "transformer"
tokens = "rows"
d_model = 16
heads = 2
layers = 1
pooling = "mean"
init = "truncated_normal"
EOF
adam_2_epochs_every >>"$cfg"
cat >>"$cfg" <<'EOF'
on = "test"
hooks = ["blocks.*.hook_resid_post", "head.hook_post"]
dump_activations = [2]

[measure.represent]
"blocks.*.hook_resid_post" = "token_mean"

[[measure.estimators]]
kind = "adaptive"
bins = 10

[[measure.estimators]]
kind = "floor"
width = 0.5
EOF
add_case transformer-rows-mean c_train "$cfg" 2
cfg=$(variant lstm-2layers "$SUB")
cat >>"$cfg" <<'EOF'

[model]
kind = "rnn"
cell = "lstm"
hidden = 16
layers = 2
EOF
adam_2_epochs_every >>"$cfg"
cat >>"$cfg" <<'EOF'
on = "all"
hooks = ["rnn.1.hook_h_n", "head.hook_post"]

[measure.represent]
"rnn.1.hook_h_n" = "flatten"

[[measure.estimators]]
kind = "binned"
lo = -0.5
hi = 0.5
edges = 11
EOF
add_case lstm-2layers c_train "$cfg" 2
vib_src=$ROOT/configs/vib_fashion.toml
[[ -f $vib_src ]] || vib_src=$ROOT/configs/vib_mnist.toml
if [[ -f $vib_src ]]; then
  cfg=$(variant vib-resume "$vib_src")
  set_key "$cfg" data dataset '"fashion-mnist-subset"'
  set_key "$cfg" data path ""
  set_key "$cfg" data train_limit 500
  set_key "$cfg" vib lr_decay_every 1
  set_key "$cfg" measure gradients true
  add_case vib-resume c_resume "$cfg" 3
fi
add_case plot-sweep c_plot_sweep

# Bad input: exit codes and messages.
bad() { # bad NAME TABLE KEY VALUE [FROM]: a variant of FROM (tishby_tanh) with one key set
  local cfg
  cfg=$(variant "bad-$1" "${5:-$TANH}")
  set_key "$cfg" "$2" "$3" "$4"
  add_case "bad-$1" c_train_fails "$cfg" ""
}
bad unknown-key train learning_rate 1
bad wrong-type train batch_size '"big"'
bad epochs-zero train epochs 0
bad estimator-param-of-other-kind '[[measure.estimators' width 0.5
bad hooks-match-nothing measure hooks '["nope.*"]'
bad ensemble-with-dump measure dump_activations '[1]'
set_key "$C/bad-ensemble-with-dump.toml" train repeats 2
bad fused-gelu train fused true
set_key "$C/bad-fused-gelu.toml" model activation '"gelu"'
bad dump-unmeasured measure dump_activations '[2]'
set_key "$C/bad-dump-unmeasured.toml" measure points 3
if [[ -f $ROOT/configs/vib_fashion.toml ]]; then
  bad vib-with-repeats train repeats 2 "$ROOT/configs/vib_fashion.toml"
fi
if [[ -f $ROOT/configs/mlp_mnist.toml ]]; then
  bad missing-data-dir data path '"datasets/no-such-dir"' "$ROOT/configs/mlp_mnist.toml"
fi
add_case bad-device-cuda c_bad_cuda "$TANH"
add_case bad-missing-config c_bad_missing_config
add_case bad-out-exists c_bad_out_exists "$TANH"
add_case bad-resume-finished c_bad_resume_finished "$TANH"
add_case bad-analyze-flag c_bad_analyze
add_case bad-sweep-csv c_bad_sweep

# ---------------------------------------------------------------------------------------------
# Running: P = the binary, W = the case's directory (stdout/stderr/exit code of every command are
# kept there as LABEL.stdout, LABEL.stderr, LABEL.rc and compared like the outputs)

# probe_run LABEL ARGS…: runs probe into LABEL.stdout, LABEL.stderr and LABEL.rc and sets RC to
# its exit code, unless an earlier command of the case failed (.failed exists): then RC is empty.
probe_run() {
  local label=$1
  shift
  RC=''
  [[ ! -e $W/.failed ]] || return 0
  RC=0
  "$P" "$@" >"$W/$label.stdout" 2>"$W/$label.stderr" || RC=$?
  echo "$RC" >"$W/$label.rc"
}
# probe_ok LABEL ARGS…: runs probe, which must succeed; after a failure the case's later commands
# are not run (.failed holds why).
probe_ok() {
  probe_run "$@"
  if [[ -n $RC && $RC != 0 ]]; then
    printf '%s exited %s: %s\n' "$1" "$RC" "$(head -c 400 "$W/$1.stderr" | tr '\n' ' ')" >"$W/.failed"
  fi
}
# probe_fails LABEL ARGS…: runs probe, which must fail (exit code and stderr are compared).
probe_fails() {
  probe_run "$@"
  if [[ $RC == 0 ]]; then echo "$1 succeeded but should fail" >"$W/.failed"; fi
}

train_args() { # CONFIG EPOCHS → the flags of a training run into $W/run
  TA=(train --config "$1" --out "$W/run" --device cpu --seed 1 --quiet)
  [[ -z ${2:-} ]] || TA+=(--epochs "$2")
}
c_train() { train_args "$1" "$2"; probe_ok train "${TA[@]}"; }
c_train_fails() { train_args "$1" "$2"; probe_fails train "${TA[@]}"; }
c_resume() {
  local stop=$(($2 / 2))
  train_args "$1" "$2"
  probe_ok stop "${TA[@]}" --stop-after "$stop"
  [[ -e $W/.failed ]] || cp -a "$W/run" "$W/stopped"
  probe_ok resume train --resume "$W/run" --device cpu --quiet
}
c_overwrite() {
  train_args "$1" "$2"
  probe_ok first "${TA[@]}"
  echo "not probe's" >"$W/run/notes.txt"
  train_args "$1" $(($2 - 3))
  probe_ok second "${TA[@]}" --overwrite
}
DUMP=
c_analyze_config() {
  probe_ok analyze analyze --activations "$DUMP/activations-epoch10.safetensors" \
    --labels "$DUMP/labels.safetensors" --inputs "$DUMP/inputs.safetensors" \
    --config "$DUMP/config.toml" --out "$W/analysis" --quiet
}
c_analyze_flags() {
  probe_ok analyze analyze --activations "$DUMP/activations-epoch1.safetensors" \
    --labels "$DUMP/labels.safetensors" --inputs "$DUMP/inputs.safetensors" \
    --estimator binned --lo -0.5 --hi 0.5 --edges 12 --estimator floor --width 0.1 \
    --estimator adaptive --bins 8 --estimator kde --sigma2 0.01 --estimator knn --k 4 \
    --no-flow --out "$W/analysis" --quiet
  mkdir -p "$W/over"
  echo keep >"$W/over/notes.txt"
  echo stale >"$W/over/analysis-old.svg"
  probe_ok over analyze --activations "$DUMP/activations-epoch1.safetensors" \
    --labels "$DUMP/labels.safetensors" --estimator adaptive --out "$W/over" --overwrite --quiet
}
c_analyze_plain() {
  probe_ok analyze analyze --activations "$DUMP/activations-epoch10.safetensors" \
    --labels "$DUMP/labels.safetensors" --no-stats --saturation 0.9 --out "$W/analysis" --quiet
  probe_ok stats analyze --activations "$DUMP/activations-epoch10.safetensors" \
    --labels "$DUMP/labels.safetensors" --saturation 0.9 --out "$W/stats" --quiet
}
c_plot_sweep() {
  printf '%s\n' 'beta,epochs,test_error,test_acc,test_ce,izx_bits,izy_bits,train_loss,seconds' \
    '1e-2,3,0.31,0.69,0.9,2.5,1.1,1.2,1.0' '1e-5,3,0.18,0.82,0.5,60.2,2.4,0.6,1.0' \
    '1e-3,3,0.2,0.8,0.6,12.8,2.2,0.7,1.0' >"$W/sweep.csv"
  probe_ok plot plot-sweep --csv "$W/sweep.csv" --out "$W/figures"
}
c_bad_cuda() {
  probe_fails train train --config "$1" --out "$W/run" --device cuda --seed 1 --quiet --epochs 5
}
c_bad_missing_config() {
  probe_fails train train --config no/such/config.toml --out "$W/run" --quiet
}
c_bad_out_exists() {
  mkdir -p "$W/run"
  echo x >"$W/run/metrics.csv"
  train_args "$1" 5
  probe_fails train "${TA[@]}"
}
c_bad_resume_finished() {
  train_args "$1" 5
  probe_ok train "${TA[@]}"
  probe_fails resume train --resume "$W/run" --quiet
}
c_bad_analyze() {
  probe_fails analyze analyze --activations "$DUMP/activations-epoch1.safetensors" \
    --labels "$DUMP/labels.safetensors" --estimator binned --width 0.5 --out "$W/analysis"
  probe_fails missing analyze --activations "$W/none.safetensors" \
    --labels "$DUMP/labels.safetensors" --out "$W/analysis2"
}
c_bad_sweep() {
  printf '%s\n' 'beta,test_error,izx_bits' '0.1,0.2,3' >"$W/sweep.csv"
  probe_fails plot plot-sweep --csv "$W/sweep.csv" --out "$W/figures"
}

WORK=$TMP/work
declare -A SECS=()
# run_side LABEL BINARY: every case into $WORK (the same paths for both binaries), then
# $WORK → $TMP/LABEL.
run_side() {
  local side=$1 i t0
  P=$2
  DUMP=$WORK/$DUMP_CASE/run
  mkdir -p "$WORK"
  t0=$SECONDS
  for i in "${!CASE_NAMES[@]}"; do
    local t=$SECONDS
    W=$WORK/${CASE_NAMES[i]}
    mkdir -p "$W"
    (cd "$ROOT" && "${CASE_FNS[i]}" "${CASE_CFGS[i]}" "${CASE_EPS[i]}")
    SECS[$side/${CASE_NAMES[i]}]=$((SECONDS - t))
  done
  mv "$WORK" "$TMP/$side"
  say "$side: ${#CASE_NAMES[@]} cases in $((SECONDS - t0)) s"
}

say "running ${#CASE_NAMES[@]} cases with the base binary (${base_sha:0:10})"
run_side base "$base_bin"
say "running ${#CASE_NAMES[@]} cases with the $cur_label binary"
run_side "$cur_label" "$cur_bin"

# ---------------------------------------------------------------------------------------------
# Comparing

# Files that are NOT byte-identical even between two runs of the same binary, by name, with the
# one field masked before they are compared:
#   activations-epoch{E}.safetensors, checkpoint.safetensors: the ORDER of the keys of the
#     safetensors header's `__metadata__` map (probe.epoch/probe.layers; epoch, optim.*, stream.*,
#     …). `safetensors::serialize` takes the metadata as a std `HashMap`, whose iteration order is
#     random per process, and writes it in that order. Their metadata keys are sorted before
#     comparing; the values, every tensor's name, dtype, shape and offsets, the header's length
#     and all data bytes are still compared exactly. (model*.safetensors, labels.safetensors and
#     inputs.safetensors have no metadata and are compared raw.)
#   *.stderr (the messages of a command): run-directory timestamps YYYYMMDD-HHMMSS.
SAFETENSORS_META_ORDER=('*activations-epoch*.safetensors' '*checkpoint.safetensors')
STDERR_MASK='s/[0-9]{8}-[0-9]{6}/YYYYMMDD-HHMMSS/g'
command -v python3 >/dev/null || die "python3 is needed to compare safetensors headers"

# sorted_metadata FILE: the safetensors FILE with its __metadata__ keys in sorted order.
sorted_metadata() {
  python3 - "$1" <<'EOF'
import json, struct, sys
b = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", b[:8])[0]
top = json.loads(b[8:8 + n], object_pairs_hook=lambda pairs: pairs)
top = [(k, sorted(v) if k == "__metadata__" else v) for k, v in top]
out = sys.stdout.buffer
out.write(b[:8])
out.write(json.dumps(top).encode())
out.write(b[8 + n:])
EOF
}

# same_file A B REL: whether A and B (the file REL of the two sides) are the same, masked as above.
same_file() {
  local pat
  cmp -s "$1" "$2" && return 0
  if [[ $3 == *.stderr ]]; then
    cmp -s <(sed -E "$STDERR_MASK" "$1") <(sed -E "$STDERR_MASK" "$2")
    return
  fi
  for pat in "${SAFETENSORS_META_ORDER[@]}"; do
    # shellcheck disable=SC2053  # $pat is a glob
    if [[ $3 == $pat ]]; then
      cmp -s <(sorted_metadata "$1") <(sorted_metadata "$2")
      return
    fi
  done
  return 1
}

n_same=0 n_diff=0 n_fail=0
RESULTS=()
for i in "${!CASE_NAMES[@]}"; do
  name=${CASE_NAMES[i]}
  a=$TMP/base/$name b=$TMP/$cur_label/$name
  say "  $name: ${SECS[base/$name]} s base, ${SECS[$cur_label/$name]} s $cur_label"
  if [[ -e $a/.failed && -e $b/.failed ]]; then
    RESULTS+=("FAIL $name: on both sides; base: $(cat "$a/.failed")")
    n_fail=$((n_fail + 1))
    continue
  elif [[ -e $a/.failed || -e $b/.failed ]]; then
    if [[ -e $a/.failed ]]; then one="base: $(cat "$a/.failed")"; else one="$cur_label: $(cat "$b/.failed")"; fi
    RESULTS+=("DIFF $name: failed on one side only; $one")
    n_diff=$((n_diff + 1))
    continue
  fi
  la=$(cd "$a" && find . -mindepth 1 -printf '%y %P\n' | LC_ALL=C sort)
  lb=$(cd "$b" && find . -mindepth 1 -printf '%y %P\n' | LC_ALL=C sort)
  bad_files=()
  while IFS= read -r rel; do bad_files+=("$rel (only in base)"); done \
    < <(comm -23 <(printf '%s\n' "$la") <(printf '%s\n' "$lb") | cut -c3-)
  while IFS= read -r rel; do bad_files+=("$rel (only in $cur_label)"); done \
    < <(comm -13 <(printf '%s\n' "$la") <(printf '%s\n' "$lb") | cut -c3-)
  while IFS= read -r rel; do
    [[ -n $rel ]] || continue
    same_file "$a/$rel" "$b/$rel" "$rel" || bad_files+=("$rel")
  done < <(comm -12 <(printf '%s\n' "$la") <(printf '%s\n' "$lb") | sed -n 's/^f //p')
  if [[ ${#bad_files[@]} -eq 0 ]]; then
    RESULTS+=("SAME $name")
    n_same=$((n_same + 1))
  else
    RESULTS+=("DIFF $name: ${bad_files[*]}")
    n_diff=$((n_diff + 1))
  fi
done

printf '%s\n' "${RESULTS[@]}" "${SKIP_LINES[@]}"
summary="$n_same same, $n_diff differ, ${#SKIP_LINES[@]} skipped"
[[ $n_fail == 0 ]] || summary+=", $n_fail failed on both sides"
echo "$summary"
say "base ${base_sha:0:10} vs $cur_label; $((SECONDS - started)) s in all ($build_s s building)"
if [[ $n_diff != 0 || $n_fail != 0 ]]; then
  KEEP=1
  say "outputs kept for inspection: $TMP/base and $TMP/$cur_label"
  exit 1
fi
