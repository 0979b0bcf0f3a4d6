"""Shared helpers: the repository, the `probe` binary (built once per session), a safetensors
writer (no safetensors package needed), and exact table comparison."""

import csv
import json
import math
import os
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]

_DTYPES = {
    np.dtype(np.float16): "F16",
    np.dtype(np.float32): "F32",
    np.dtype(np.float64): "F64",
    np.dtype(np.int8): "I8",
    np.dtype(np.int16): "I16",
    np.dtype(np.int32): "I32",
    np.dtype(np.int64): "I64",
    np.dtype(np.uint8): "U8",
    np.dtype(np.uint16): "U16",
    np.dtype(np.uint32): "U32",
    np.dtype(np.uint64): "U64",
}


def save_safetensors(path, tensors, metadata=None, bf16=()):
    """Writes `tensors` ({name: array}) in the safetensors format; names in `bf16` hold bfloat16
    bits as int16/uint16 arrays and are written with dtype BF16."""
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        data = a.astype(a.dtype.newbyteorder("<")).tobytes()
        dtype = "BF16" if name in bf16 else _DTYPES[a.dtype]
        header[name] = {"dtype": dtype, "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


@pytest.fixture(scope="session")
def probe_bin():
    """The release `probe` binary of this checkout (cargo makes sure it is up to date)."""
    exe = os.environ.get("PROBE_BIN")
    if exe:
        return exe
    subprocess.run(
        ["cargo", "build", "--release", "--quiet", "-p", "probe-cli"], cwd=REPO, check=True
    )
    return str(REPO / "target" / "release" / "probe")


def read_csv(path):
    """A CSV file as {column: [values]}, typed as probe's bindings type tables."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    out = {}
    for j, name in enumerate(header):
        cells = [r[j] for r in body]
        out[name] = typed(name, cells)
    return out


INT_COLUMNS = {"epoch", "seed", "seeds", "samples", "neurons", "dead_units", "bottleneck", "batches"}
# Names, str whatever they look like (a torch nn.Sequential's layers are "0", "1", …).
TEXT_COLUMNS = {"layer", "layer_from", "layer_to", "estimator"}


def typed(name, cells):
    def is_int(c):
        try:
            int(c)
            return True
        except ValueError:
            return False

    if name in TEXT_COLUMNS:
        return [c if c else None for c in cells]
    if name in INT_COLUMNS and all(is_int(c) for c in cells):
        return [int(c) for c in cells]
    try:
        return [float(c) if c else math.nan for c in cells]
    except ValueError:
        return [c if c else None for c in cells]


def as_columns(table):
    """A DataFrame or a dict of lists as {column: list of Python values}."""
    if isinstance(table, dict):
        return {k: list(v) for k, v in table.items()}
    return {k: table[k].tolist() for k in table.columns}


def same_value(a, b):
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or struct.pack("<d", a) == struct.pack("<d", b)
    return a == b and type(a) is type(b)


def assert_same_table(got, want):
    """Same columns in the same order, same values bit for bit (NaN equals NaN)."""
    got, want = as_columns(got), as_columns(want)
    assert list(got) == list(want)
    for k in want:
        assert len(got[k]) == len(want[k]), k
        for i, (a, b) in enumerate(zip(got[k], want[k])):
            assert same_value(a, b), f"column {k} row {i}: {a!r} != {b!r}"


def twelve_bit():
    """All 4096 12-bit patterns (float32 0/1) and a label from a fixed linear rule."""
    x = ((np.arange(4096)[:, None] >> np.arange(11, -1, -1)) & 1).astype(np.float32)
    w = np.random.default_rng(0).standard_normal(12)
    y = ((x - 0.5) @ w > 0).astype(np.int64)
    return x, y


def tanh_layers(x, widths=(10, 7, 5, 4), seed=1):
    """Activations of a random tanh MLP on x: {layers.i.hook_post: [n, width]} (float32)."""
    rng = np.random.default_rng(seed)
    h, out = x.astype(np.float64), {}
    for i, w in enumerate(widths):
        W = rng.standard_normal((h.shape[1], w)) / math.sqrt(h.shape[1]) * 2.0
        h = np.tanh(h @ W + 0.1 * rng.standard_normal(w))
        out[f"layers.{i}.hook_post"] = h.astype(np.float32)
    return out
