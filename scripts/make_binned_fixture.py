#!/usr/bin/env python3
"""Golden fixture for probe's binned estimators, computed with numpy alone.

Writes, into crates/probe-cli/tests/fixtures/:

* binned_fixture.safetensors         activations, one tensor per layer (F32, F64, F16, BF16)
* binned_fixture_labels.safetensors  one I64 tensor `labels` [N] (3 classes)
* binned_fixture_inputs.safetensors  one F32 tensor `inputs` [N, 2] with repeated rows
* binned_fixture.json                the expected I(X;T) and I(T;Y) in bits of every layer under
                                     binned (30 edges on [-1, 1]) and floor (width 0.5)

The Rust test `crates/probe-cli/tests/cli_analyze.rs` runs `probe analyze` on these files (with
and without --inputs) and matches every value to 1e-12 bits.

Run it (numpy only; any recent numpy, e.g. 2.x):

    python3 -m venv /tmp/fixture-venv && /tmp/fixture-venv/bin/pip install numpy
    /tmp/fixture-venv/bin/python scripts/make_binned_fixture.py
    # or: python3 -m pip install --target /tmp/pydeps numpy
    #     PYTHONPATH=/tmp/pydeps python3 scripts/make_binned_fixture.py

The output is deterministic (fixed seed, fixed file layout), so re-running it reproduces the
committed files byte for byte.

Semantics reproduced (README.md -> Estimators; crates/probe-estimators/src/binning.rs):

* Every activation is first rounded to f32 (probe bins f32 values; F64 layers are rounded, F16 and
  BF16 widen exactly), then widened to f64 for every comparison and division.
* binned: edges = np.linspace(lo, hi, edges); bin = np.digitize(x, edges) - 1 (the number of edges
  <= x, minus one), then CLAMPED to [0, edges - 2]: values below lo join the first bin, values at or
  above hi (tanh's exact +-1.0) join the last. The IDNNs code instead indexes `bins[digitize - 1]`,
  so a value below lo gets index -1 and wraps around to the TOP bin (and values >= hi get a bin of
  their own); that is a bug, and probe deliberately does not copy it. NaN is a bin of its own;
  -inf/+inf join the first/last bin.
* floor: bin = floor(x / width) in f64 (Saxe et al. divide in f32; probe divides in f64). NaN, +inf
  and -inf are bins of their own; finite quotients beyond the i64 range saturate to
  i64::MIN + 2 / i64::MAX - 1.
* Each sample's row of bins is one symbol T. X is the sample index (all inputs distinct) or, with
  --inputs, the exact input row (equal rows are the same x). I(X;T) = H(T) - H(T|X),
  I(T;Y) = H(T) - H(T|Y), plug-in entropies in bits; a difference in (-1e-12, 0) is set to 0.
"""

import json
import math
import os
import struct
from collections import Counter

import numpy as np

N = 1000
SEED = 20240607
EDGES = 30
WIDTH = 0.5
OUT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "crates", "probe-cli", "tests", "fixtures"
)

NAN_BIN = -(2**63)
NEG_INF_BIN = -(2**63) + 1
POS_INF_BIN = 2**63 - 1


# ------------------------------------------------------------------------------------------------
# safetensors, written by hand: u64 little-endian header length, JSON header, raw little-endian data
# (https://github.com/huggingface/safetensors#format). Tensors are laid out in name order.


def write_safetensors(path, tensors, metadata=None):
    """tensors: name -> (dtype string, shape, bytes)."""
    header = {}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        dtype, shape, data = tensors[name]
        header[name] = {
            "dtype": dtype,
            "shape": list(shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blobs.append(data)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # pad so the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def f32_tensor(a):
    a = np.ascontiguousarray(a, dtype="<f4")
    return ("F32", a.shape, a.tobytes())


def f64_tensor(a):
    a = np.ascontiguousarray(a, dtype="<f8")
    return ("F64", a.shape, a.tobytes())


def f16_tensor(a):
    a = np.ascontiguousarray(a, dtype="<f2")
    return ("F16", a.shape, a.tobytes())


def bf16_tensor(a32):
    """a32 must already be bf16-representable f32 values (low 16 bits zero)."""
    bits = np.ascontiguousarray(a32, dtype="<f4").view("<u4")
    assert not np.any(bits & 0xFFFF)
    return ("BF16", a32.shape, (bits >> 16).astype("<u2").tobytes())


def i64_tensor(a):
    a = np.ascontiguousarray(a, dtype="<i8")
    return ("I64", a.shape, a.tobytes())


# ------------------------------------------------------------------------------------------------
# The reference estimator.


def fixed_bins(x, lo, hi, edges):
    """x: f64 array (already f32-rounded values). probe's clamped np.digitize."""
    e = np.linspace(lo, hi, edges)
    b = np.digitize(x, e) - 1  # right=False: e[b] <= x < e[b + 1]
    b = np.clip(b, 0, edges - 2).astype(object)
    b[np.isnan(x)] = NAN_BIN
    return b


def idnns_bins(x, lo, hi, edges):
    """What the IDNNs code computes (`bins[np.digitize(x, bins) - 1]`), for comparison only: index
    -1 (x < lo) wraps around to the top edge, which also holds x >= hi. NOT probe's semantics."""
    b = np.digitize(x, np.linspace(lo, hi, edges)) - 1
    b[b == -1] = edges - 1
    return b


def floor_bins(x, width):
    q = np.floor(x / width)
    out = np.empty(x.shape, dtype=object)
    for idx, v in np.ndenumerate(q):
        if math.isnan(v):
            out[idx] = NAN_BIN
        elif v == math.inf:
            out[idx] = POS_INF_BIN
        elif v == -math.inf:
            out[idx] = NEG_INF_BIN
        else:  # v is an integer-valued float: int() is exact; saturate like Rust's `as i64`
            out[idx] = min(max(int(v), -(2**63) + 2), 2**63 - 2)
    return out


def symbols(rows):
    """Dense ids of the rows of a 2-D object/int array (equal rows share an id)."""
    ids = {}
    return [ids.setdefault(tuple(r), len(ids)) for r in rows.tolist()]


def entropy(ids):
    n = len(ids)
    return math.fsum(c / n * math.log2(n / c) for c in Counter(ids).values())


def conditional_entropy(a, given):
    n = len(a)
    joint = Counter(zip(a, given))
    marg = Counter(given)
    return math.fsum(c / n * math.log2(marg[g] / c) for (_, g), c in joint.items())


def clamp(x):
    return 0.0 if -1e-12 < x < 0.0 else x


def mi(t_ids, x_ids, y):
    h = entropy(t_ids)
    return clamp(h - conditional_entropy(t_ids, x_ids)), clamp(h - conditional_entropy(t_ids, y))


# ------------------------------------------------------------------------------------------------
# The data.


def main():
    rng = np.random.default_rng(SEED)
    inputs = rng.integers(0, 6, size=(N, 2))  # 36 possible rows: many repeats
    labels = (inputs[:, 0] + inputs[:, 1] + rng.integers(0, 2, size=N)) % 3
    xc = (inputs - 2.5).astype(np.float32)

    layers = {}
    # Few values per sample, so bins collide and every misplaced value would change the counts.
    # Uniform beyond both ends of [-1, 1]: clamping matters (IDNNs would wrap the low ones).
    layers["l0.uniform"] = f32_tensor(rng.uniform(-1.5, 1.5, size=(N, 1)))

    # Values exactly at the f32 nearest to every edge and one ulp either side, -1, 1, multiples of
    # the floor width, signed zeros and tiny values.
    edges = np.linspace(-1.0, 1.0, EDGES)
    pool = []
    for e in edges:
        f = np.float32(e)
        pool += [f, np.nextafter(f, np.float32(-2)), np.nextafter(f, np.float32(2))]
    pool += [np.float32(v) for v in np.arange(-4, 5) * WIDTH]
    pool += [np.float32(v) for v in (0.0, -0.0, 1e-30, -1e-30, 0.999999, -0.999999)]
    pool = np.array(pool, dtype=np.float32)
    layers["l1.edges"] = f32_tensor(pool[rng.integers(0, len(pool), size=(N, 1))])
    layers["l1.edges_pairs"] = f32_tensor(pool[rng.integers(0, len(pool), size=(N, 2))])

    # A trained-network-like tanh layer of the inputs (deterministic in X: H(T|X) = 0); large
    # weights saturate some units to exactly +-1.0 in f32.
    w = rng.normal(0, 3.0, size=(2, 4)).astype(np.float32)
    b = rng.normal(0, 0.5, size=4).astype(np.float32)
    h1 = np.tanh(xc @ w + b).astype(np.float32)
    layers["l2.tanh"] = f32_tensor(h1)
    w2 = rng.normal(0, 1.0, size=(4, 3)).astype(np.float32)
    h2 = np.tanh(h1 @ w2).astype(np.float32)
    layers["l3.tanh_deep"] = f32_tensor(h2)

    # Non-finite and huge values.
    sp = rng.uniform(-3, 3, size=(N, 1)).astype(np.float32)
    specials = np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 3e38, -3e38], dtype=np.float32)
    where = rng.random(size=sp.shape) < 0.2
    sp[where] = specials[rng.integers(0, len(specials), size=int(where.sum()))]
    layers["l4.specials"] = f32_tensor(sp)

    # F64 values, some within 1e-12 of an edge: probe rounds them to f32 before binning.
    f64v = rng.uniform(-1.2, 1.2, size=(N, 1))
    near = rng.random(size=f64v.shape) < 0.2
    f64v[near] = edges[rng.integers(0, EDGES, size=int(near.sum()))] + rng.choice(
        [-1e-12, 1e-12], size=int(near.sum())
    )
    layers["l5.f64"] = f64_tensor(f64v)

    # F16, rank 3 (flattened per sample to 2 values).
    layers["l6.f16"] = f16_tensor(rng.uniform(-1.2, 1.2, size=(N, 1, 2)))

    # BF16 (f32 with the low 16 bits cleared).
    bf = rng.normal(0, 0.6, size=(N, 1)).astype(np.float32)
    bf = (bf.view(np.uint32) & np.uint32(0xFFFF0000)).view(np.float32)
    layers["l7.bf16"] = bf16_tensor(bf)

    os.makedirs(OUT, exist_ok=True)
    write_safetensors(os.path.join(OUT, "binned_fixture.safetensors"), layers)
    write_safetensors(
        os.path.join(OUT, "binned_fixture_labels.safetensors"), {"labels": i64_tensor(labels)}
    )
    write_safetensors(
        os.path.join(OUT, "binned_fixture_inputs.safetensors"),
        {"inputs": f32_tensor(inputs.astype(np.float32))},
    )

    y = labels.tolist()
    distinct = list(range(N))
    x_ids = symbols(inputs)
    expected = {}
    for name in sorted(layers):
        dtype, shape, data = layers[name]
        values = decode(dtype, data).reshape(shape[0], -1)
        # probe bins f32 values widened to f64
        x = values.astype(np.float32).astype(np.float64)
        out = {}
        for est, bins in (
            ("binned", fixed_bins(x, -1.0, 1.0, EDGES)),
            ("floor", floor_bins(x, WIDTH)),
        ):
            t = symbols(bins)
            i_xt, i_ty = mi(t, distinct, y)
            i_xt_inputs, _ = mi(t, x_ids, y)
            out[est] = {"i_xt": i_xt, "i_xt_inputs": i_xt_inputs, "i_ty": i_ty, "distinct_t": len(set(t))}
        # The fixture must tell probe's clamping from the IDNNs wrap-around: where a layer has
        # values below -1, the wrapped bins give different numbers.
        wrapped = mi(symbols(idnns_bins(x, -1.0, 1.0, EDGES)), distinct, y)
        out["idnns_wraparound"] = {"i_xt": wrapped[0], "i_ty": wrapped[1]}
        if name in ("l0.uniform", "l1.edges", "l4.specials"):
            assert abs(wrapped[0] - out["binned"]["i_xt"]) > 1e-3, name
        expected[name] = out
    doc = {
        "about": "Expected probe analyze values (bits) for binned_fixture*.safetensors; "
        "written by scripts/make_binned_fixture.py. i_xt: inputs all distinct (no --inputs); "
        "i_xt_inputs: with --inputs binned_fixture_inputs.safetensors. idnns_wraparound: the "
        "IDNNs code's bins (values below -1 wrap to the top bin), which probe must NOT give.",
        "samples": N,
        "estimators": {"binned": {"lo": -1.0, "hi": 1.0, "edges": EDGES}, "floor": {"width": WIDTH}},
        "h_y": entropy(y),
        "layers": expected,
    }
    with open(os.path.join(OUT, "binned_fixture.json"), "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")
    for name, v in expected.items():
        print(name, {k: (round(e["i_xt"], 4), round(e["i_ty"], 4)) for k, e in v.items()})


def decode(dtype, data):
    if dtype == "F32":
        return np.frombuffer(data, dtype="<f4")
    if dtype == "F64":
        return np.frombuffer(data, dtype="<f8")
    if dtype == "F16":
        return np.frombuffer(data, dtype="<f2")
    if dtype == "BF16":
        return (np.frombuffer(data, dtype="<u2").astype("<u4") << 16).view("<f4")
    raise ValueError(dtype)


if __name__ == "__main__":
    main()
