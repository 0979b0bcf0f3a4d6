#!/usr/bin/env python3
"""Write the small Fashion-MNIST subset committed under datasets/fashion-mnist-subset/.

Takes the first 2000 training and the first 500 test images and labels, in file order, from a
Fashion-MNIST directory in IDX format (default: /usr/share/datasets/fashion-mnist/, from the Debian
package `dataset-fashion-mnist`) and writes them as gzip-compressed IDX files:

    datasets/fashion-mnist-subset/train-images-idx3-ubyte.gz   2000 x 28 x 28, u8
    datasets/fashion-mnist-subset/train-labels-idx1-ubyte.gz   2000, u8
    datasets/fashion-mnist-subset/t10k-images-idx3-ubyte.gz     500 x 28 x 28, u8
    datasets/fashion-mnist-subset/t10k-labels-idx1-ubyte.gz     500, u8

The gzip header carries mtime 0 and no file name, so rerunning the script gives byte-identical
files (with the same zlib; another zlib build may compress differently, but the decompressed IDX
content is always the same). Plain Python 3 standard library only.

Usage: python3 scripts/make_fashion_subset.py [SOURCE_DIR] [OUT_DIR]
"""

import gzip
import os
import struct
import sys

N_TRAIN = 2000
N_TEST = 500
DEFAULT_SRC = "/usr/share/datasets/fashion-mnist"
DEFAULT_OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets",
                                           "fashion-mnist-subset"))


def read_any(path):
    """Read a file, gunzipping it when it starts with the gzip magic 0x1f 0x8b."""
    with open(path, "rb") as f:
        raw = f.read()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw


def find(src, stem):
    """Return the path of `stem` or `stem.gz` inside `src`."""
    for name in (stem + ".gz", stem):
        path = os.path.join(src, name)
        if os.path.exists(path):
            return path
    sys.exit(f"error: neither {stem} nor {stem}.gz found in {src}")


def take_idx(raw, keep, path):
    """Parse an unsigned-byte IDX buffer and return a new buffer with only its first `keep` items."""
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype != 0x08:
        sys.exit(f"error: {path} is not an unsigned-byte IDX file")
    dims = list(struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim]))
    header_len = 4 + 4 * ndim
    item = 1
    for d in dims[1:]:
        item *= d
    if len(raw) != header_len + dims[0] * item:
        sys.exit(f"error: {path}: length does not match its header")
    if dims[0] < keep:
        sys.exit(f"error: {path} holds {dims[0]} items, fewer than the {keep} wanted")
    dims[0] = keep
    header = struct.pack(">HBB", 0, 0x08, ndim) + struct.pack(">" + "I" * ndim, *dims)
    return header + raw[header_len:header_len + keep * item]


def write_gz(path, data):
    # gzip.compress(mtime=0) writes no file name and a zero timestamp: reproducible output.
    with open(path, "wb") as f:
        f.write(gzip.compress(data, compresslevel=9, mtime=0))


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC
    out = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    os.makedirs(out, exist_ok=True)
    for split, keep in (("train", N_TRAIN), ("t10k", N_TEST)):
        for kind in ("images-idx3", "labels-idx1"):
            stem = f"{split}-{kind}-ubyte"
            path = find(src, stem)
            subset = take_idx(read_any(path), keep, path)
            dst = os.path.join(out, stem + ".gz")
            write_gz(dst, subset)
            print(f"{dst}: {keep} items, {len(subset)} bytes uncompressed")


if __name__ == "__main__":
    main()
