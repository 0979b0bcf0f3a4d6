"""Writes crates/probe-estimators/tests/fixtures/ksg.txt: data sets and their KSG (Kraskov et al.
2004, algorithm 1) and Ross (2014) mutual information in bits, computed here by brute force in numpy,
independently of probe (tests/knn.rs compares `ksg_mi` and `ksg_mi_labels` with these values).

Run from the repository root with numpy (the committed file came from numpy 2.x):
    /work/main/.venv-py/bin/python scripts/make_ksg_fixture.py   (or .venv/bin/python)

Definitions (max-norm everywhere; "others" = every sample but i):
* KSG: eps_i = the k-th smallest of max(|x_i - x_j|_inf, |y_i - y_j|_inf) over the others;
  n_x(i), n_y(i) = the others strictly closer than eps_i in x, in y;
  I = psi(k) + psi(N) - mean(psi(n_x + 1) + psi(n_y + 1)) nats.
* Ross (continuous T, discrete labels Y): d_i = the k-th smallest |t_i - t_j|_inf over the others of
  i's class; m_i = 1 + the others (any class) strictly closer than d_i in t;
  I = psi(N) - mean(psi(N_{y_i})) + psi(k) - mean(psi(m_i)) nats.
psi at positive integers is exact: psi(n) = -gamma + sum_{j<n} 1/j. Values are rounded to 2
decimals (ties happen, and must be handled as the definition says) and stored as text; both sides
read them as float32 and take differences in float32, so every count agrees exactly and the MI to
float64 rounding (~1e-12).
"""
from pathlib import Path

import numpy as np

GAMMA = 0.57721566490153286060651209
HARMONIC = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, 10_000))])
LN2 = np.log(2.0)


def psi(n):
    return -GAMMA + HARMONIC[np.asarray(n) - 1]


def cheb(a):
    """[n, n] float32 max-norm distances of the rows of float32 `a`."""
    return np.abs(a[:, None, :] - a[None, :, :]).max(axis=2)


def ksg_bits(x, y, k):
    n = len(x)
    dx, dy = cheb(x), cheb(y)
    joint = np.maximum(dx, dy)
    others = ~np.eye(n, dtype=bool)
    total = 0.0
    for i in range(n):
        eps = np.sort(joint[i][others[i]])[k - 1]
        nx = np.count_nonzero(dx[i][others[i]] < eps)
        ny = np.count_nonzero(dy[i][others[i]] < eps)
        total += psi(nx + 1) + psi(ny + 1)
    return (psi(k) + psi(n) - total / n) / LN2


def ross_bits(t, y, k):
    n = len(t)
    dt = cheb(t)
    total_m, total_c = 0.0, 0.0
    for i in range(n):
        same = (y == y[i]) & (np.arange(n) != i)
        d_i = np.sort(dt[i][same])[k - 1]
        m = 1 + np.count_nonzero((dt[i] < d_i) & (np.arange(n) != i))
        total_m += psi(m)
        total_c += psi(np.count_nonzero(y == y[i]))
    return (psi(n) - total_c / n + psi(k) - total_m / n) / LN2


def as_text(a):
    """`a` rounded to 2 decimals, as the text rows written and the float32 array both sides read."""
    rows = [" ".join(f"{v:.2f}" for v in row) for row in a]
    return rows, np.array([r.split() for r in rows], dtype=np.float32)


def main():
    rng = np.random.default_rng(21)
    lines = ["# made by scripts/make_ksg_fixture.py; see its docstring for the definitions"]
    n, k = 200, 3
    # Jointly Gaussian pairs, rho = 0.9 (the regime where KSG's bias is large: the comparison is
    # with the estimator's definition, not the truth), and a coarse grid with many ties.
    cases = []
    for d in (3, 10):
        a = rng.normal(size=(n, d))
        cases.append((np.hstack([a, 0.9 * a + np.sqrt(1 - 0.81) * rng.normal(size=(n, d))]), d, k))
    g = rng.integers(0, 6, size=(n, 3))
    cases.append((np.hstack([g, g[:, :2] + rng.integers(0, 3, size=(n, 2))]), 3, 5))
    for xy, dx, kk in cases:
        rows, xy = as_text(xy)
        bits = ksg_bits(xy[:, :dx], xy[:, dx:], kk)
        lines.append(f"ksg {n} {dx} {xy.shape[1] - dx} {kk} {float(bits)!r}")
        lines += rows
    # Labels: three classes of unequal size (100, 60, 40) with shifted means in d = 4 and 7.
    for d, kk in ((4, 3), (7, 5)):
        y = np.repeat([0, 1, 2], [100, 60, 40])
        rng.shuffle(y)
        rows, t = as_text(rng.normal(size=(n, d)) + 0.8 * y[:, None] * (np.arange(d) % 2))
        lines.append(f"labels {n} {d} {kk} {float(ross_bits(t, y, kk))!r}")
        lines += [f"{r} {c}" for r, c in zip(rows, y)]
    out = Path(__file__).resolve().parent.parent / "crates/probe-estimators/tests/fixtures/ksg.txt"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
