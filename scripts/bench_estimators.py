#!/usr/bin/env python3
"""The numpy / scipy / scikit-learn side of scripts/bench_estimators.sh, and the comparison.

Run `bash scripts/setup_python.sh` first (it creates .venv with numpy, scipy, scikit-learn), then
use the shell script, which runs probe's example first:

    bash scripts/bench_estimators.sh            # or by hand:
    .venv/bin/python scripts/bench_estimators.py DIR

DIR holds what `cargo run --release -p probe-estimators --example bench_estimators -- DIR` wrote:
the data (.npy) and probe.json (probe's times and values). This script runs the Python
equivalents on the same data, times them the same way (median of 3 runs after a warm-up; KDE one
run), checks that both sides give the same values within the stated tolerances, prints a markdown
table and exits with status 1 if any value disagrees.

Python equivalents (all values in bits):
* binned: the IDNNs pipeline (np.digitize on linspace(-1, 1, 30), clamped like probe, rows as
  np.void, np.unique); H(T|Y) from np.unique on (row id, label) pairs (faster than IDNNs' loops).
* floor: Saxe et al.'s simplebinmi.bin_calc_information2 (np.floor(x / 0.5), unique rows, H(T|Y)
  by re-binning each label's rows).
* adaptive: Chelombiev et al.'s edges with numpy (np.unique of the layer, ranks k*U//30,
  np.searchsorted side="right"), then as binned.
* stats: per-neuron histograms with np.bincount on (neuron, bin) pairs, pooled histogram, zeros,
  |x| >= 0.99 (float32), constant columns.
* kde: Kolchinsky & Tracey bounds as in Saxe et al.'s kde.py: squared distances from matrix
  products (float32, like probe), chunks of 1000 rows, scipy.special.logsumexp in float64.
* ksg_d1: scikit-learn's mutual_info_regression (KSG, n_neighbors=3; it rescales and adds 1e-10
  noise, hence a looser tolerance) — reported as a check, and the time of the next one:
* ksg_d1 / ksg_d4 timings: KSG with sklearn.neighbors (NearestNeighbors and KDTree, chebyshev),
  the construction of sklearn's own _compute_mi_cc extended to d-dimensional X and Y.
"""
import json
import sys
import time

import numpy as np
from scipy.special import digamma, logsumexp
from sklearn.feature_selection import mutual_info_regression
from sklearn.neighbors import KDTree, NearestNeighbors

LN2 = np.log(2.0)


def timed(runs, f):
    if runs > 1:
        f()
    times, out = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2], out


def entropy_counts(counts):
    counts = counts[counts > 0]
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def row_ids(a):
    a = np.ascontiguousarray(a)
    rows = a.view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    return inverse.ravel(), counts


def plugin_mi(bins, y):
    """I(X;T) with every sample its own input (= H(T)) and I(T;Y), from a matrix of bins."""
    t, counts = row_ids(bins)
    h_t = entropy_counts(counts)
    _, pair_counts = np.unique(t.astype(np.int64) * (int(y.max()) + 1) + y, return_counts=True)
    h_t_given_y = entropy_counts(pair_counts) - entropy_counts(np.bincount(y))
    return {"i_xt": h_t, "i_ty": h_t - h_t_given_y}


def idnns_binned(acts, y):
    edges = np.linspace(-1, 1, 30)
    return plugin_mi(np.clip(np.digitize(acts, edges) - 1, 0, 28).astype(np.int8), y)


def saxe_floor(acts, y, binsize=0.5):
    def get_h(d):
        _, counts = row_ids(np.floor(d / binsize).astype("int"))
        return entropy_counts(counts)

    h_t = get_h(acts)
    h_t_given_y = sum((y == c).mean() * get_h(acts[y == c, :]) for c in np.unique(y))
    return {"i_xt": h_t, "i_ty": h_t - h_t_given_y}


def adaptive_bins(acts, bins=30):
    u = np.unique(acts[np.isfinite(acts)])
    edges = u[(np.arange(1, bins) * len(u)) // bins]
    return np.searchsorted(edges, acts, side="right").astype(np.int8)


def adaptive(acts, y):
    return plugin_mi(adaptive_bins(acts), y)


def stats(acts):
    n, d = acts.shape
    bins = np.clip(np.digitize(acts, np.linspace(-1, 1, 30)) - 1, 0, 28)
    width = 29
    counts = np.bincount((np.arange(d) * width + bins).ravel(), minlength=d * width)
    counts = counts.reshape(d, width)
    p = counts / n
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(counts > 0, p * np.log2(p), 0.0).sum(axis=1)
    return {
        "entropy_mean": float(h.mean()),
        "entropy_min": float(h.min()),
        "entropy_max": float(h.max()),
        "surprisal_mean": entropy_counts(counts.sum(axis=0)),
        "sparsity": float((acts == 0).mean()),
        "saturation": float((np.abs(acts) >= np.float32(0.99)).mean()),
        "dead_units": float((acts == acts[0]).all(axis=0).sum()),
    }


def kde_terms(t, sigma2, chunk=1000):
    """(F(2σ²), F(8σ²)) in nats: −mean_i logsumexp_j(−‖t_i − t_j‖² / s) + ln N."""
    t = t - t.mean(axis=0, dtype=np.float64).astype(np.float32)
    n = len(t)
    norms = (t.astype(np.float64) ** 2).sum(axis=1).astype(np.float32)
    f_upper = f_lower = 0.0
    for r0 in range(0, n, chunk):
        block = t[r0:r0 + chunk]
        d2 = norms[r0:r0 + chunk, None] + norms[None, :] - 2.0 * (block @ t.T)
        d2 = np.maximum(d2, 0).astype(np.float64)
        d2[np.arange(len(block)), np.arange(r0, r0 + len(block))] = 0.0
        f_upper -= (logsumexp(-d2 / (2 * sigma2), axis=1) - np.log(n)).sum()
        f_lower -= (logsumexp(-d2 / (8 * sigma2), axis=1) - np.log(n)).sum()
    return f_upper / n, f_lower / n


def kde(acts, y, sigma2=0.1):
    fu, fl = kde_terms(acts, sigma2)
    cu = cl = 0.0
    for c in np.unique(y):
        idx = y == c
        if idx.sum() > 1:
            u, l = kde_terms(acts[idx], sigma2)
            cu += idx.mean() * u
            cl += idx.mean() * l
    return {"i_xt_upper": fu / LN2, "i_xt_lower": fl / LN2,
            "i_ty_upper": (fu - cu) / LN2, "i_ty_lower": (fl - cl) / LN2}


def ksg_sklearn_neighbors(x, y, k=3):
    """KSG (algorithm 1, max-norm) with sklearn.neighbors, in bits."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    n = len(x)
    joint = np.hstack([x, y])
    radius = NearestNeighbors(metric="chebyshev", n_neighbors=k).fit(joint).kneighbors()[0][:, -1]
    radius = np.nextafter(radius, 0)  # strictly inside the k-th neighbour's distance
    nx = KDTree(x, metric="chebyshev").query_radius(x, radius, count_only=True) - 1
    ny = KDTree(y, metric="chebyshev").query_radius(y, radius, count_only=True) - 1
    nats = digamma(k) + digamma(n) - np.mean(digamma(nx + 1)) - np.mean(digamma(ny + 1))
    return nats / LN2


# name: (tolerance in bits, why)
TOLERANCES = {
    "binned": (1e-12, "exact counts; f64 sums in different orders"),
    "floor": (1e-12, "exact counts"),
    "adaptive": (1e-12, "exact counts"),
    "stats": (1e-12, "exact counts"),
    "kde": (1e-5, "f32 distance matmuls summed in different orders (BLAS vs candle)"),
    "ksg_d1": (1e-5, "same algorithm; probe takes max-norm distances in f32, sklearn in f64, so a "
               "near-tie can move one neighbour count (each moves I by about 1/(N*n_x) nats)"),
    "ksg_d4": (1e-5, "as ksg_d1"),
}


def main():
    d = sys.argv[1]
    probe = json.load(open(f"{d}/probe.json"))
    acts = np.load(f"{d}/layer.npy")
    y = np.load(f"{d}/labels.npy")
    runs = 3
    py = {}
    py["binned"] = timed(runs, lambda: idnns_binned(acts, y))
    py["floor"] = timed(runs, lambda: saxe_floor(acts, y))
    py["adaptive"] = timed(runs, lambda: adaptive(acts, y))
    py["stats"] = timed(runs, lambda: stats(acts))
    py["kde"] = timed(1, lambda: kde(acts, y))
    sk_check = {}
    for dim in (1, 4):
        x = np.load(f"{d}/ksg_x{dim}.npy")
        yy = np.load(f"{d}/ksg_y{dim}.npy")
        secs, bits = timed(runs, lambda: ksg_sklearn_neighbors(x, yy))
        py[f"ksg_d{dim}"] = (secs, {"i": bits, "truth": -dim / 2 * np.log2(0.75)})
        if dim == 1:
            t0 = time.perf_counter()
            mir = mutual_info_regression(x, yy[:, 0], n_neighbors=3, random_state=0)[0] / LN2
            sk_check = {"secs": time.perf_counter() - t0, "i": float(mir)}

    ok = True
    print(f"N = {probe['n']}, d = {probe['d']} (KSG: N = {probe['n']}, d per side as named), "
          f"probe threads = {probe['threads']}, numpy {np.__version__}\n")
    print("| estimator | probe | numpy / scipy / sklearn | speed-up | values (bits): probe / Python | max abs diff | tolerance |")
    print("| --- | ---: | ---: | ---: | --- | ---: | ---: |")
    for name, (tol, _) in TOLERANCES.items():
        p = probe["results"][name]
        secs, vals = py[name]
        keys = [k for k in p["values"] if k != "truth"]
        diff = max(abs(p["values"][k] - vals[k]) for k in keys)
        ok &= diff <= tol
        shown = ", ".join(f"{k} {p['values'][k]:.6f} / {vals[k]:.6f}" for k in keys[:2])
        flag = "" if diff <= tol else " **MISMATCH**"
        print(f"| {name} | {p['seconds']*1e3:.1f} ms | {secs*1e3:.1f} ms | {secs/p['seconds']:.1f}× "
              f"| {shown} | {diff:.1e}{flag} | {tol:.0e} |")
    p1 = probe["results"]["ksg_d1"]["values"]["i"]
    mir_ok = abs(p1 - sk_check["i"]) <= 2e-3
    ok &= mir_ok
    print(f"\nsklearn.feature_selection.mutual_info_regression (d = 1, k = 3): {sk_check['i']:.6f} bits "
          f"in {sk_check['secs']*1e3:.1f} ms; probe {p1:.6f} bits; |diff| {abs(p1 - sk_check['i']):.1e} "
          f"(tolerance 2e-3: it rescales and adds 1e-10 noise){'' if mir_ok else ' **MISMATCH**'}")
    for dim in (1, 4):
        v = probe["results"][f"ksg_d{dim}"]["values"]
        print(f"KSG d = {dim}: truth -(d/2)·log2(1 − ρ²) = {v['truth']:.6f} bits, probe {v['i']:.6f}")
    print("\ntolerances: " + "; ".join(f"{k}: {why}" for k, (_, why) in TOLERANCES.items()))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
