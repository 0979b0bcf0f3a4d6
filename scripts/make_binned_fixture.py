#!/usr/bin/env python3
"""Golden fixtures for probe's binned estimators, computed with numpy alone.

Writes, into crates/probe-cli/tests/fixtures/:

* binned_fixture.safetensors         random activations, one tensor per layer (F32, F64, F16, BF16)
* binned_fixture_labels.safetensors  one I64 tensor `labels` [N] (3 classes)
* binned_fixture_inputs.safetensors  one F32 tensor `inputs` [N, 2] with repeated rows
* binned_fixture.json                the expected values (bits) of every layer under binned (30
                                     edges on [-1, 1]), floor (width 0.5) and adaptive (30 bins):
                                     I(X;T), I(T;Y), the flow I(A_l; A_l+1) between consecutive
                                     layers (file order) with its loss and bottleneck, and the
                                     activation statistics
* trained_fixture.safetensors        the hidden layers of a 12-8-5-3-2 tanh network TRAINED here
                                     (full-batch Adam in numpy) on the 12-bit task, on all 4096
                                     patterns
* trained_fixture_labels.safetensors its labels (the closed-form 12-bit rule, docs/references.md)
* trained_fixture.json               the same expected values for the trained layers

The Rust tests in `crates/probe-cli/tests/cli_analyze.rs` run `probe analyze` on these files (with
and without --inputs) and match every value to 1e-12 bits.

Run it from the repository root with the project's Python environment:

    bash scripts/setup_python.sh      # creates .venv (numpy, scipy, scikit-learn, ...)
    .venv/bin/python scripts/make_binned_fixture.py

The output is deterministic (fixed seeds, fixed file layout), so re-running it reproduces the
committed files byte for byte (the trained network on the same numpy/BLAS; the expected values
are always recomputed from the stored activations).

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
* adaptive (Chelombiev et al.): u = the sorted distinct finite f32 values of the whole layer
  (-0.0 == 0.0), edges u[(k * len(u)) // B] for k = 1..B-1, bin = the number of edges <= x
  (np.searchsorted(edges, x, side="right")), compared in f32; NaN a bin of its own.
* Each sample's row of bins is one symbol T. X is the sample index (all inputs distinct) or, with
  --inputs, the exact input row (equal rows are the same x). I(X;T) = H(T) - H(T|X),
  I(T;Y) = H(T) - H(T|Y), plug-in entropies in bits; a difference in (-1e-12, 0) is set to 0.
* Flow between consecutive layers A -> B: I(A;B) = H(A) - H(A|B) of their binned symbols (each
  layer with its own adaptive edges), loss = H(A|B); the bottleneck of an estimator is its
  transition with the largest loss (the first on ties).
* Statistics per layer: sparsity = fraction of values == 0; saturation = fraction with
  |x| >= float32(0.99) (NaN never); dead units = columns whose values are all equal (NaNs equal);
  per-neuron entropy = plug-in entropy of each column's bins (NaN a bin), mean/min/max over
  columns; mean surprisal = entropy of the bins of all values of the layer pooled.
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
BINS = 30
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


def adaptive_bins(x32, bins):
    """x32: f32 array (one layer). probe's Binning::Adaptive { bins }."""
    u = np.unique(x32[np.isfinite(x32)])  # sorted, distinct (-0.0 and 0.0 are one value)
    edges = u[(np.arange(1, bins) * len(u)) // bins] if len(u) else u[:0]
    b = np.searchsorted(edges, x32, side="right").astype(object)
    b[np.isnan(x32)] = NAN_BIN
    return b


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
    out, flows, stats = expected(layers, symbols(inputs), y)
    distinct = list(range(N))
    for name in sorted(layers):
        dtype, shape, data = layers[name]
        x = decode(dtype, data).reshape(shape[0], -1).astype(np.float32).astype(np.float64)
        # The fixture must tell probe's clamping from the IDNNs wrap-around: where a layer has
        # values below -1, the wrapped bins give different numbers.
        wrapped = mi(symbols(idnns_bins(x, -1.0, 1.0, EDGES)), distinct, y)
        out[name]["idnns_wraparound"] = {"i_xt": wrapped[0], "i_ty": wrapped[1]}
        if name in ("l0.uniform", "l1.edges", "l4.specials"):
            assert abs(wrapped[0] - out[name]["binned"]["i_xt"]) > 1e-3, name
    estimators = {"binned": {"lo": -1.0, "hi": 1.0, "edges": EDGES}, "floor": {"width": WIDTH},
                  "adaptive": {"bins": BINS}}
    write_expected(os.path.join(OUT, "binned_fixture.json"), {
        "about": "Expected probe analyze values (bits) for binned_fixture*.safetensors; "
        "written by scripts/make_binned_fixture.py. i_xt: inputs all distinct (no --inputs); "
        "i_xt_inputs: with --inputs binned_fixture_inputs.safetensors. idnns_wraparound: the "
        "IDNNs code's bins (values below -1 wrap to the top bin), which probe must NOT give. "
        "flow: per estimator, consecutive layers in name order. stats: per layer and estimator "
        "(saturation threshold 0.99).",
        "samples": N,
        "estimators": estimators,
        "h_y": entropy(y),
        "layers": out,
        "flow": flows,
        "stats": stats,
    })
    for name, v in out.items():
        print(name, {k: (round(e["i_xt"], 4), round(e["i_ty"], 4)) for k, e in v.items()})

    # Activations of a network trained here, on all 4096 patterns (inputs distinct).
    x12, y12 = twelve_bit()
    hidden, acc = train_tanh_net(x12, y12)
    trained = {f"layers.{i}.hook_post": f32_tensor(h) for i, h in enumerate(hidden)}
    write_safetensors(os.path.join(OUT, "trained_fixture.safetensors"), trained)
    write_safetensors(
        os.path.join(OUT, "trained_fixture_labels.safetensors"), {"labels": i64_tensor(y12)}
    )
    t_out, t_flows, t_stats = expected(trained, None, y12.tolist())
    write_expected(os.path.join(OUT, "trained_fixture.json"), {
        "about": "Expected probe analyze values (bits) for trained_fixture*.safetensors: the "
        "tanh hidden layers of a 12-8-5-3-2 network trained by scripts/make_binned_fixture.py "
        f"(full-batch Adam, accuracy {acc:.3f} on all 4096 patterns); inputs all distinct.",
        "samples": len(y12),
        "estimators": estimators,
        "h_y": entropy(y12.tolist()),
        "layers": t_out,
        "flow": t_flows,
        "stats": t_stats,
    })
    print("trained network: accuracy", acc, {k: round(v["binned"]["i_xt"], 3) for k, v in t_out.items()})


def column_entropy(bins):
    """Per-column plug-in entropies (bits) of a 2-D object array of bins."""
    return [entropy(list(bins[:, j])) for j in range(bins.shape[1])]


def layer_stats(x32, bins):
    """probe's per-layer statistics of the f32 layer x32 [n, d] with its bins."""
    h = column_entropy(bins)
    eq = (x32 == x32[0]) | (np.isnan(x32) & np.isnan(x32[0]))
    return {
        "sparsity": float((x32 == 0).sum()) / x32.size,
        "saturation": float((np.abs(x32) >= np.float32(0.99)).sum()) / x32.size,
        "dead_units": int(eq.all(axis=0).sum()),
        "entropy_mean": math.fsum(h) / len(h),
        "entropy_min": min(h),
        "entropy_max": max(h),
        "surprisal_mean": entropy(list(bins.ravel())),
    }


ESTIMATORS = (
    ("binned", lambda x32: fixed_bins(x32.astype(np.float64), -1.0, 1.0, EDGES)),
    ("floor", lambda x32: floor_bins(x32.astype(np.float64), WIDTH)),
    ("adaptive", lambda x32: adaptive_bins(x32, BINS)),
)


def expected(layers, x_ids, y):
    """Expected values of every layer (name order), flow and statistics."""
    n = len(y)
    distinct = list(range(n))
    out, flows, stats = {}, {}, {}
    symbols_of = {est: [] for est, _ in ESTIMATORS}
    names = sorted(layers)
    for name in names:
        dtype, shape, data = layers[name]
        # probe bins f32 values (F64 rounded, F16/BF16 widened exactly), compared/divided in f64
        x32 = decode(dtype, data).reshape(shape[0], -1).astype(np.float32)
        out[name], stats[name] = {}, {}
        for est, binner in ESTIMATORS:
            bins = binner(x32)
            t = symbols(bins)
            symbols_of[est].append(t)
            i_xt, i_ty = mi(t, distinct, y)
            i_xt_inputs = mi(t, x_ids, y)[0] if x_ids is not None else None
            out[name][est] = {"i_xt": i_xt, "i_xt_inputs": i_xt_inputs, "i_ty": i_ty,
                              "distinct_t": len(set(t))}
            stats[name][est] = layer_stats(x32, bins)
    for est, _ in ESTIMATORS:
        rows = []
        for l in range(len(names) - 1):
            a, b = symbols_of[est][l], symbols_of[est][l + 1]
            h_a = entropy(a)
            loss = conditional_entropy(a, b)
            rows.append({"layer_from": names[l], "layer_to": names[l + 1],
                         "i_bits": clamp(h_a - loss), "h_from_bits": h_a, "loss_bits": loss})
        if rows:
            worst = max(range(len(rows)), key=lambda i: (rows[i]["loss_bits"], -i))
            for i, r in enumerate(rows):
                r["bottleneck"] = i == worst
        flows[est] = rows
    return out, flows, stats


# ------------------------------------------------------------------------------------------------
# A network trained on the 12-bit task, in numpy.

P_PAIRS = [(0, 9), (1, 7), (2, 5), (3, 6), (4, 10), (8, 11)]
S_PAIRS = [(0, 2), (0, 4), (0, 6), (0, 7), (0, 8), (1, 5), (1, 6), (1, 8), (1, 9), (1, 10),
           (2, 6), (2, 7), (2, 10), (2, 11), (3, 4), (3, 5), (3, 7), (3, 9), (3, 11), (4, 5),
           (4, 7), (4, 8), (5, 8), (5, 9), (6, 8), (6, 10), (7, 11), (9, 10), (9, 11), (10, 11)]


def twelve_bit():
    """All 4096 12-bit patterns (row r = bits of r, MSB first) and the closed-form labels."""
    x = ((np.arange(4096)[:, None] >> (11 - np.arange(12))) & 1).astype(np.float32)
    y = np.zeros(4096, dtype=np.int64)
    for r in range(4096):
        on = [j for j in range(12) if x[r, j]]
        pairs = [(a, b) for i, a in enumerate(on) for b in on[i + 1:]]
        n_p = sum(p in P_PAIRS for p in pairs)
        n_s = sum(p in S_PAIRS for p in pairs)
        n_b = len(pairs) - n_p - n_s
        y[r] = int(23 * len(on) - 8 * n_p - 5 * n_s + n_b >= 99)
    assert y.sum() == 2118  # docs/references.md
    return x, y


def train_tanh_net(x, y, widths=(12, 8, 5, 3, 2), steps=1500, lr=0.01, seed=7):
    """Full-batch Adam on the first 80% of the patterns (IDNNs' ordered split), float64, from a
    truncated-normal-like init; returns the float32 hidden activations on all patterns."""
    rng = np.random.default_rng(seed)
    ws = [rng.normal(0, 1 / np.sqrt(a), size=(a, b)).clip(-2 / np.sqrt(a), 2 / np.sqrt(a))
          for a, b in zip(widths[:-1], widths[1:])]
    bs = [np.zeros(b) for b in widths[1:]]
    params = ws + bs
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    train = slice(0, round(0.8 * len(x)))
    xt, yt = x[train].astype(np.float64), np.eye(2)[y[train]]

    def forward(inp):
        hs = [inp]
        for i, (w, b) in enumerate(zip(ws, bs)):
            z = hs[-1] @ w + b
            hs.append(np.tanh(z) if i < len(ws) - 1 else z)
        return hs

    for step in range(1, steps + 1):
        hs = forward(xt)
        logits = hs[-1] - hs[-1].max(axis=1, keepdims=True)
        p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        g = (p - yt) / len(xt)
        grads_w, grads_b = [], []
        for i in reversed(range(len(ws))):
            grads_w.insert(0, hs[i].T @ g)
            grads_b.insert(0, g.sum(axis=0))
            if i > 0:
                g = (g @ ws[i].T) * (1 - hs[i] ** 2)
        for k, (prm, grad) in enumerate(zip(params, grads_w + grads_b)):
            m[k] = 0.9 * m[k] + 0.1 * grad
            v[k] = 0.999 * v[k] + 0.001 * grad ** 2
            prm -= lr * (m[k] / (1 - 0.9 ** step)) / (np.sqrt(v[k] / (1 - 0.999 ** step)) + 1e-8)
    hs = forward(x.astype(np.float64))
    acc = float((hs[-1].argmax(axis=1) == y).mean())
    return [h.astype(np.float32) for h in hs[1:-1]], acc


def write_expected(path, doc):
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
        f.write("\n")


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
