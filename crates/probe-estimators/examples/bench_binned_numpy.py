"""numpy baselines for examples/bench_binned.rs: binned I(X;T), I(T;Y) on the same shapes and kinds
of data, the way the published numpy code computes them.

Run `bash scripts/setup_python.sh` first (it creates .venv with numpy), then, from the repository root:
    .venv/bin/python crates/probe-estimators/examples/bench_binned_numpy.py
Results: BENCHMARKS.md (estimators section).

* Fixed(-1, 1, 30): the IDNNs pipeline (np.digitize, gather the bin values, view each row as one
  np.void, np.unique with inverse and counts); the conditional entropies use np.unique on
  (t, label) pairs instead of IDNNs' much slower per-x loops, so this is a *fast* IDNNs.
* Floor(0.5): Saxe et al.'s `simplebinmi.bin_calc_information2` as published (np.floor(x / binsize)
  .astype(int), unique rows, H(T|Y) by re-binning the rows of each label).
Data as in the Rust bench: 'uniform' in [-1, 1], and 'pooled' (500 base rows plus noise of 1e-4).
Median of 3 runs after a warm-up.
"""
import time

import numpy as np


def unique_counts_rows(a):
    rows = np.ascontiguousarray(a).view(np.dtype((np.void, a.dtype.itemsize * a.shape[1]))).ravel()
    _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    return inverse, counts


def entropy(counts):
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def idnns_fixed(acts, x, y):
    edges = np.linspace(-1, 1, 30)
    digitized = edges.astype(np.float32)[np.clip(np.digitize(acts, edges) - 1, 0, 28)]
    t, counts = unique_counts_rows(digitized)
    h_t = entropy(counts)
    def cond(given):  # H(T | given)
        _, pair_counts = np.unique(t.astype(np.int64) * (given.max() + 1) + given, return_counts=True)
        return entropy(pair_counts) - entropy(np.bincount(given))
    return h_t - cond(x), h_t - cond(y)


def saxe_floor(acts, x, y, binsize=0.5):
    def get_h(d):
        digitized = np.floor(d / binsize).astype('int')
        _, counts = unique_counts_rows(digitized)
        return entropy(counts)
    h_t = get_h(acts)
    h_t_given_y = sum((y == label).mean() * get_h(acts[y == label, :]) for label in np.unique(y))
    return h_t, h_t - h_t_given_y  # X distinct: I(X;T) = H(T)


def main():
    rng = np.random.default_rng(0)
    d = 1024
    print(f"numpy {np.__version__}: binned MI on [n, {d}] float32, median of 3 runs")
    for n in (10_000, 60_000):
        x = np.arange(n)
        y = rng.integers(0, 10, size=n)
        uniform = rng.uniform(-1, 1, size=(n, d)).astype(np.float32)
        bases = rng.uniform(-1, 1, size=(500, d)).astype(np.float32)
        pooled = bases[rng.integers(0, 500, size=n)] + rng.uniform(-1e-4, 1e-4, size=(n, d)).astype(np.float32)
        for data_name, acts in (("uniform", uniform), ("pooled", pooled)):
            for name, fn in (("IDNNs Fixed(-1,1,30)", idnns_fixed), ("Saxe Floor(0.5)", saxe_floor)):
                times = []
                for _ in range(4):
                    t0 = time.perf_counter()
                    ixt, ity = fn(acts, x, y)
                    times.append(time.perf_counter() - t0)
                med = sorted(times[1:])[1]
                print(f"{n:>6} {data_name:>8} {name:>21} {med * 1e3:10.1f} ms  I(X;T)={ixt:.4f} I(T;Y)={ity:.4f}")


if __name__ == "__main__":
    main()
