"""IDX files (MNIST's format, raw or gzipped) for the benchmark scripts."""

import gzip
import os

import numpy as np


def read_idx(path):
    """An unsigned-byte IDX file (``.gz`` read through gzip) as a numpy array of its shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def find(dir_, stem):
    """The path of ``stem`` or ``stem.gz`` in ``dir_``."""
    for name in (stem, stem + ".gz"):
        p = os.path.join(dir_, name)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"{stem}[.gz] not found in {dir_}")
