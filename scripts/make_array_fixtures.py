#!/usr/bin/env python3
"""Write the small array files under datasets/fixtures/arrays/ that the `dataset = "arrays"` tests
(crates/probe-train/tests/data_arrays.rs) read: numpy's own .npz writer (savez, savez_compressed)
and the safetensors package's numpy writer, so the Rust reader is checked against the reference
implementations rather than against itself.

Values follow one formula that the Rust test recomputes: sample i, flattened feature j (in the
array's own logical order, i.e. NHWC order for the NHWC file) holds v = (7 i + 3 j) mod 11, or
v / 4 for float arrays (exact in float16/32/64); training label i is i mod 3, test label i is
(i + 1) mod 3.

Needs numpy and safetensors (pip install numpy safetensors). Rerunning gives the same arrays;
the bytes of the compressed file depend on the zlib build.

Usage: python3 scripts/make_array_fixtures.py [OUT_DIR]   (default datasets/fixtures/arrays)
"""

import os
import sys

import numpy as np
from safetensors.numpy import save_file

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "datasets", "fixtures", "arrays"))


def x(n, sample_shape, dtype):
    """[n, *sample_shape] of the formula, float types divided by 4."""
    d = int(np.prod(sample_shape))
    i = np.arange(n)[:, None]
    j = np.arange(d)[None, :]
    v = (7 * i + 3 * j) % 11
    v = v / 4 if np.dtype(dtype).kind == "f" else v
    return v.astype(dtype).reshape((n, *sample_shape))


def y(n, dtype, test=False):
    return ((np.arange(n) + (1 if test else 0)) % 3).astype(dtype)


def main():
    os.makedirs(OUT, exist_ok=True)
    p = lambda name: os.path.join(OUT, name)

    # Plain features, the default keys, stored (no compression).
    np.savez(p("basic.npz"), x_train=x(6, (4,), np.float32), y_train=y(6, np.int64),
             x_test=x(3, (4,), np.float32), y_test=y(3, np.int64, test=True))

    # NCHW uint8 images, deflate-compressed; labels [N, 1] uint8 and int32.
    np.savez_compressed(p("images_compressed.npz"),
                        x_train=x(5, (2, 3, 4), np.uint8), y_train=y(5, np.uint8)[:, None],
                        x_test=x(2, (2, 3, 4), np.uint8), y_test=y(2, np.int32, test=True))

    # NHWC float64 in Fortran order for training, big-endian float32 / int32 for test.
    np.savez(p("nhwc_fortran_bigendian.npz"),
             x_train=np.asfortranarray(x(4, (3, 4, 2), np.float64)), y_train=y(4, np.int16),
             x_test=x(2, (3, 4, 2), np.float32).astype(">f4"), y_test=y(2, ">i4", test=True))

    # Other key names, an extra array, float16 features and uint16 labels.
    np.savez(p("custom_keys.npz"), images=x(4, (3,), np.float16), labels=y(4, np.uint16),
             val_images=x(2, (3,), np.float16), val_labels=y(2, np.uint16, test=True),
             meta=np.array([1, 2, 3]))

    # Only training arrays: int8 features, bool labels.
    np.savez(p("train_only.npz"), x_train=x(10, (2,), np.int8),
             y_train=(np.arange(10) % 2).astype(bool))

    # Bad input: NaN at sample 2, feature 1; a label -1 at index 3; float labels.
    bad = x(4, (3,), np.float32)
    bad[2, 1] = np.nan
    np.savez(p("bad_nan.npz"), x_train=bad, y_train=y(4, np.int64))
    labels = y(4, np.int64)
    labels[3] = -1
    np.savez(p("bad_label.npz"), x_train=x(4, (3,), np.float32), y_train=labels)
    np.savez(p("float_labels.npz"), x_train=x(4, (3,), np.float32), y_train=y(4, np.float32))

    # safetensors (its numpy writer): [N, 1, 2, 2] float16 images, int64 labels.
    save_file({"x_train": x(4, (1, 2, 2), np.float16), "y_train": y(4, np.int64),
               "x_test": x(2, (1, 2, 2), np.float16), "y_test": y(2, np.int64, test=True)},
              p("basic.safetensors"))
    print(f"make_array_fixtures: wrote {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
