#!/usr/bin/env bash
# Makes the full Fashion-MNIST (60 000 + 10 000 images, IDX files) available at
# /usr/share/datasets/fashion-mnist, where configs/*_fashion.toml and the benchmarks look for it
# (FASHION_MNIST_DIR overrides the path). It comes from the Debian/Ubuntu package
# `dataset-fashion-mnist` (31 MB); the repository embeds only a small subset for the tests.
#
#   bash scripts/get_fashion_mnist.sh
#
# Idempotent. Needs apt-get and root (or sudo). Elsewhere, download the four
# `*-idx?-ubyte.gz` files from https://github.com/zalandoresearch/fashion-mnist into a folder and
# set FASHION_MNIST_DIR (or the config's `[data] dir`) to it.
set -euo pipefail
DIR=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
have() {
    for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
        [ -f "$DIR/$f" ] || [ -f "$DIR/$f.gz" ] || return 1
    done
}
if have; then
    echo "get_fashion_mnist: Fashion-MNIST is in $DIR" >&2
    exit 0
fi
if [ "$DIR" != /usr/share/datasets/fashion-mnist ]; then
    echo "get_fashion_mnist: no Fashion-MNIST IDX files in FASHION_MNIST_DIR=$DIR; put the four *-ubyte(.gz) files there" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "get_fashion_mnist: no apt-get here; download the four *-ubyte.gz files from https://github.com/zalandoresearch/fashion-mnist into a folder and set FASHION_MNIST_DIR to it" >&2
    exit 1
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
echo "get_fashion_mnist: installing the Debian package dataset-fashion-mnist" >&2
$SUDO apt-get install -y -q dataset-fashion-mnist >&2 ||
    { $SUDO apt-get update -q >&2 && $SUDO apt-get install -y -q dataset-fashion-mnist >&2; }
have || { echo "get_fashion_mnist: the package installed no IDX files in $DIR" >&2; exit 1; }
echo "get_fashion_mnist: Fashion-MNIST is in $DIR" >&2
