"""numpy baseline for examples/bench_binned.rs: the same binned I(X;T), I(T;Y) on the same shapes.

Run: python3 crates/probe-estimators/examples/bench_binned_numpy.py   (needs numpy)

Mirrors the IDNNs pipeline (digitize, gather the bin values, view each row as one np.void, np.unique
with inverse and counts), with the entropies done by bincount instead of IDNNs' per-x loops, so it
is a *fast* numpy baseline. Floor binning mirrors Saxe (np.floor(x / binsize), in float32).
Data: uniform in [-1, 1] (the 'uniform' rows of the Rust bench). Median of 3 runs after a warm-up.
"""
import time

import numpy as np


def entropy(counts):
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def binned_mi(acts, binned_fn, x, y):
    digitized = binned_fn(acts)
    rows = np.ascontiguousarray(digitized).view(
        np.dtype((np.void, digitized.dtype.itemsize * digitized.shape[1]))).ravel()
    _, t, counts = np.unique(rows, return_inverse=True, return_counts=True)
    h_t = entropy(counts)
    def cond(given):  # H(T | given)
        _, pair_counts = np.unique(t.astype(np.int64) * (given.max() + 1) + given, return_counts=True)
        return entropy(pair_counts) - entropy(np.bincount(given))
    return h_t - cond(x), h_t - cond(y), len(counts)


def main():
    rng = np.random.default_rng(0)
    edges = np.linspace(-1, 1, 30)
    fixed = lambda a: edges.astype(np.float32)[np.clip(np.digitize(a, edges) - 1, 0, 28)]
    floor = lambda a: np.floor(a / 0.5)
    d = 1024
    print(f"numpy {np.__version__}: binned MI on [n, {d}] float32, median of 3 runs")
    for n in (10_000, 60_000):
        acts = rng.uniform(-1, 1, size=(n, d)).astype(np.float32)
        x = np.arange(n)
        y = rng.integers(0, 10, size=n)
        for name, fn in (("Fixed(-1,1,30)", fixed), ("Floor(0.5)", floor)):
            times = []
            for _ in range(4):
                t0 = time.perf_counter()
                ixt, ity, k = binned_mi(acts, fn, x, y)
                times.append(time.perf_counter() - t0)
            med = sorted(times[1:])[1]
            print(f"{n:>6} uniform {name:>15} {med * 1e3:10.1f} ms  I(X;T)={ixt:.4f} I(T;Y)={ity:.4f} k={k}")


if __name__ == "__main__":
    main()
