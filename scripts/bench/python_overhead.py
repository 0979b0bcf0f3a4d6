#!/usr/bin/env python3
"""Benchmark (not a test): what `probe.analyze` costs over the Rust call it makes, and against the
numpy / scikit-learn equivalents, on one layer of 10 000 samples x 1024 neurons (float32, tanh of
Gaussians; 10 balanced classes; no inputs: every sample its own x).

* Rust: `probe_run::analyze::analyze_layers` (the `analyze_bench` example; arrays loaded untimed),
  on host rows lent to the estimators (`host`: the call `probe.analyze` makes on a C-order float32
  array) and on candle tensors (`tensor`: how the CLI's `probe analyze` holds a file's layers);
* Python: `probe.analyze` on the same arrays (C-contiguous and Fortran order), the same estimator
  (binned, 30 edges on [-1, 1]) and extras (flow, stats; flow is empty for one layer);
* numpy: the binned I(X;T), I(T;Y) alone — np.digitize, np.unique(axis=0) on the rows, plug-in
  entropies; scikit-learn: the same bins, `mutual_info_score` on row ids (if installed).

Run from the repository root with the package installed (scripts/python_tests.sh makes a venv):

    .venv-py/bin/python scripts/bench/python_overhead.py [--reps 7] [--n 10000] [--d 1024]

Prints the minimum (and median) wall time of each and the ratios; numpy and scikit-learn: median.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import probe

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "crates", "probe-py", "tests"))
from conftest import save_safetensors  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def all_times(f, reps):
    """[(wall, cpu)] seconds of `reps` calls; cpu: the process's CPU time, every thread."""
    out = []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        f()
        out.append((time.perf_counter() - t, time.process_time() - c))
    return out


def median_time(f, reps):
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def entropy_of_ids(ids):
    p = np.bincount(ids) / len(ids)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())


def numpy_binned_mi(t, y, edges=30):
    """IDNNs' binning of `t` and the plug-in I(X;T) (= H(T) with distinct inputs), I(T;Y)."""
    e = np.linspace(-1, 1, edges)
    b = np.clip(np.digitize(t, e) - 1, 0, edges - 2).astype(np.uint8)
    _, ids = np.unique(b, axis=0, return_inverse=True)
    ids = ids.ravel()
    h_t = entropy_of_ids(ids)
    h_t_y = sum((y == c).mean() * entropy_of_ids(np.unique(ids[y == c], return_inverse=True)[1].ravel())
                for c in np.unique(y))
    return h_t, h_t - h_t_y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=1024)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    t = np.tanh(rng.standard_normal((args.n, args.d), dtype=np.float32))
    y = np.repeat(np.arange(10), args.n // 10 + 1)[: args.n].astype(np.int64)

    with tempfile.TemporaryDirectory() as tmp:
        acts, labels = os.path.join(tmp, "acts.safetensors"), os.path.join(tmp, "labels.safetensors")
        save_safetensors(acts, {"t": t})
        save_safetensors(labels, {"labels": y})
        subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "probe-py", "--example",
                        "analyze_bench"], cwd=REPO, check=True)
        exe = os.path.join(REPO, "target", "release", "examples", "analyze_bench")
        tf = np.asfortranarray(t)
        probe.analyze({"t": t}, y)  # warm-up (thread pool, page faults)
        # Rust and Python alternate, round by round, so both see the same machine load; the
        # minimum over all runs is the least disturbed one.
        times = {"rust": [], "rust_t": [], "c": [], "f": [], "plain": []}
        for _ in range(args.rounds):
            for key, mode in (("rust", "host"), ("rust_t", "tensor")):
                out = subprocess.run([exe, acts, labels, str(args.reps), mode], check=True,
                                     capture_output=True, text=True).stdout
                times[key] += [tuple(float(v) for v in line.split()) for line in out.splitlines()]
            times["c"] += all_times(lambda: probe.analyze({"t": t}, y), args.reps)
            times["f"] += all_times(lambda: probe.analyze({"t": tf}, y), args.reps)
            times["plain"] += all_times(lambda: probe.analyze({"t": t}, y, flow=False, stats=False), args.reps)
    cpu = {k: [c for _, c in v] for k, v in times.items()}
    cmin = {k: min(v) for k, v in cpu.items()}
    cmed = {k: statistics.median(v) for k, v in cpu.items()}
    times = {k: [w for w, _ in v] for k, v in times.items()}
    rust, py_c, py_f, py_plain = (min(times[k]) for k in ("rust", "c", "f", "plain"))
    med = {k: statistics.median(v) for k, v in times.items()}
    mi = probe.mutual_information(t, y)
    npy = median_time(lambda: numpy_binned_mi(t, y), max(1, args.reps // 2))
    assert np.allclose(numpy_binned_mi(t, y), (mi.i_xt, mi.i_ty), atol=1e-9), "numpy disagrees"

    print(f"{args.n} x {args.d} float32, binned (30 edges); min (median) of {args.rounds} x {args.reps} runs")
    print(f"rust analyze_layers, host rows         {rust * 1e3:7.1f} ms ({med['rust'] * 1e3:.1f})")
    print(f"rust analyze_layers, tensors (CLI)     {min(times['rust_t']) * 1e3:7.1f} ms ({med['rust_t'] * 1e3:.1f})")
    print(f"probe.analyze, C order (flow + stats)  {py_c * 1e3:7.1f} ms ({med['c'] * 1e3:.1f})  overhead {100 * (py_c / rust - 1):+.1f} % ({100 * (med['c'] / med['rust'] - 1):+.1f} %)")
    print(f"probe.analyze, Fortran order           {py_f * 1e3:7.1f} ms ({med['f'] * 1e3:.1f})  overhead {100 * (py_f / rust - 1):+.1f} % ({100 * (med['f'] / med['rust'] - 1):+.1f} %)")
    print(f"probe.analyze, no flow/stats           {py_plain * 1e3:7.1f} ms ({med['plain'] * 1e3:.1f})")
    print("CPU time (all threads; less sensitive to other load than wall time), min (median):")
    print("  (overhead: against the Rust call on host rows, the call probe.analyze makes; then against tensors)")
    for k, label in (("rust", "rust analyze_layers, host rows"), ("rust_t", "rust analyze_layers, tensors"),
                     ("c", "probe.analyze, C order"), ("f", "probe.analyze, Fortran")):
        extra = "" if k in ("rust", "rust_t") else (
            f"  overhead {100 * (cmin[k] / cmin['rust'] - 1):+.1f} % ({100 * (cmed[k] / cmed['rust'] - 1):+.1f} %)"
            f"; vs tensors {100 * (cmin[k] / cmin['rust_t'] - 1):+.1f} % ({100 * (cmed[k] / cmed['rust_t'] - 1):+.1f} %)")
        print(f"  {label:36s} {cmin[k] * 1e3:7.1f} ms ({cmed[k] * 1e3:.1f}){extra}")
    print(f"numpy digitize + unique rows (MI only) {npy * 1e3:7.1f} ms  = {npy / py_plain:.1f}x probe.analyze without flow/stats")
    try:
        from sklearn.metrics import mutual_info_score
    except ImportError:
        print("scikit-learn: not installed (pip install scikit-learn)")
        return
    e = np.linspace(-1, 1, 30)

    def sk():
        b = np.clip(np.digitize(t, e) - 1, 0, 28).astype(np.uint8)
        _, ids = np.unique(b, axis=0, return_inverse=True)
        return mutual_info_score(y, ids.ravel()) / np.log(2)

    skt = median_time(sk, max(1, args.reps // 2))
    assert abs(sk() - mi.i_ty) < 1e-9, "scikit-learn disagrees"
    print(f"scikit-learn mutual_info_score, I(T;Y) {skt * 1e3:7.1f} ms  = {skt / py_plain:.1f}x probe.analyze without flow/stats")


if __name__ == "__main__":
    main()
