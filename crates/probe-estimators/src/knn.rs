//! The Kraskov–Stögbauer–Grassberger (KSG) k-nearest-neighbour estimator of the mutual information
//! `I(X;Y)` of two continuous variables, in **bits** (Kraskov et al. 2004, algorithm 1, max-norm).
//!
//! `N` paired samples: `x` is a row-major `[N, dx]` `f32` matrix, `y` a row-major `[N, dy]` one. For
//! each sample `i`, `ε_i` is the max-norm distance (`‖(x, y)‖ = max(‖x‖∞, ‖y‖∞)`) to its `k`-th
//! nearest neighbour in the joint space, `n_x(i)` the number of `j ≠ i` with `‖x_j − x_i‖∞ < ε_i`
//! (strictly) and `n_y(i)` likewise in `y`. Then
//!
//! ```text
//! I(X;Y) = ψ(k) + ψ(N) − ⟨ψ(n_x + 1) + ψ(n_y + 1)⟩      (nats; divided by ln 2 for bits)
//! ```
//!
//! The estimate is nearly unbiased for independent variables (it may dip slightly below 0) and
//! underestimates strongly dependent ones when `N` is small compared with `e^I`. Duplicate samples
//! (`ε_i = 0`) make the estimate degenerate; add tiny noise to discrete data first, as Kraskov et al.
//! advise.
//!
//! Cost: brute force, `O(N²·(dx + dy))` time and `O(N·(dx + dy))` memory, split over all CPU cores
//! (`std::thread::available_parallelism`). Columns are stored transposed so the inner loops over
//! `j` vectorise; the `k` nearest are kept in a small sorted array (a partial selection), with no
//! allocation per pair. Fine for `N` up to about 20 000 (see `examples/bench_kde_knn.rs` for
//! timings); a k-d tree would be needed beyond. The result does not depend on the number of
//! threads (per-sample terms are summed in sample order).
//!
//! ```
//! use probe_estimators::ksg_mi;
//! // Y = X exactly is infinite MI; here Y = X + small noise on 200 points of a line: clearly > 0.
//! let x: Vec<f32> = (0..200).map(|i| i as f32 / 200.0).collect();
//! let y: Vec<f32> = x.iter().enumerate().map(|(i, v)| v + 0.001 * ((i * 7919 % 13) as f32)).collect();
//! let bits = ksg_mi(&x, 1, &y, 1, 200, 3).unwrap();
//! assert!(bits > 2.0);
//! ```

use std::f64::consts::LN_2;

use crate::error::{Error, Result};

/// The digamma function `ψ(x) = d/dx ln Γ(x)` for `x > 0` (NaN for `x <= 0` or NaN; `+inf` gives
/// `+inf`), accurate to about `1e-15` absolute for `x ≥ 1`. Upward recurrence
/// `ψ(x) = ψ(x + 1) − 1/x` to `x ≥ 10`, then the asymptotic series
/// `ln x − 1/(2x) − Σ B_2k / (2k·x^2k)` to `k = 7` (truncation error below `1e-16` there).
pub fn digamma(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return f64::INFINITY;
    }
    let mut x = x;
    let mut shift = 0.0;
    while x < 10.0 {
        shift += 1.0 / x;
        x += 1.0;
    }
    let r = 1.0 / (x * x);
    // B_2k / (2k) for k = 1..=7: 1/12, -1/120, 1/252, -1/240, 1/132, -691/32760, 1/12.
    let series = r
        * (1.0 / 12.0
            - r * (1.0 / 120.0
                - r * (1.0 / 252.0
                    - r * (1.0 / 240.0 - r * (1.0 / 132.0 - r * (691.0 / 32760.0 - r / 12.0))))));
    x.ln() - 0.5 / x - series - shift
}

/// Checks a row-major `[n, d]` matrix argument: `d >= 1`, length `n·d`, every value finite.
fn check_matrix(what: &'static str, data: &[f32], n: usize, d: usize) -> Result<()> {
    if d == 0 {
        return Err(Error::InvalidDimension {
            what: if what == "x" { "dx" } else { "dy" },
            got: d,
            expected: "at least 1 value per sample",
        });
    }
    let Some(expected) = n.checked_mul(d) else {
        return Err(Error::InvalidDimension {
            what: if what == "x" { "dx" } else { "dy" },
            got: d,
            expected: "n * d to fit in usize",
        });
    };
    if data.len() != expected {
        return Err(Error::LengthMismatch {
            what,
            expected,
            got: data.len(),
        });
    }
    if let Some(pos) = data.iter().position(|v| !v.is_finite()) {
        return Err(Error::NonFinite { what, row: pos / d });
    }
    Ok(())
}

/// The `[n, d]` row-major matrix as `d` contiguous columns of `n` values.
fn columns(data: &[f32], n: usize, d: usize) -> Vec<f32> {
    let mut cols = vec![0.0f32; n * d];
    for (i, row) in data.chunks_exact(d).enumerate() {
        for (m, &v) in row.iter().enumerate() {
            cols[m * n + i] = v;
        }
    }
    cols
}

/// KSG estimate (algorithm 1, max-norm, `k` neighbours) of `I(X;Y)` in **bits** for `n` paired
/// samples: `x` row-major `[n, dx]`, `y` row-major `[n, dy]`. May be slightly negative for
/// independent variables (not clamped, so that averages stay unbiased).
///
/// Errors: `n = 0`, `dx = 0` or `dy = 0`, lengths other than `n·dx` / `n·dy`, `k = 0` or `k >= n`,
/// or a NaN / infinite value.
pub fn ksg_mi(x: &[f32], dx: usize, y: &[f32], dy: usize, n: usize, k: usize) -> Result<f64> {
    if n == 0 {
        return Err(Error::InvalidDimension {
            what: "n",
            got: n,
            expected: "at least 2 samples",
        });
    }
    check_matrix("x", x, n, dx)?;
    check_matrix("y", y, n, dy)?;
    if k == 0 || k >= n {
        return Err(Error::InvalidParameter {
            what: "k",
            got: k.to_string(),
            expected: "1 <= k < n (k neighbours among the other n - 1 samples)",
        });
    }
    let xc = columns(x, n, dx);
    let yc = columns(y, n, dy);

    let mut terms = vec![0.0f64; n];
    let threads = std::thread::available_parallelism()
        .map(|t| t.get())
        .unwrap_or(1)
        .min(n);
    let per_thread = n.div_ceil(threads);
    std::thread::scope(|scope| {
        for (block, out) in terms.chunks_mut(per_thread).enumerate() {
            let (xc, yc) = (&xc, &yc);
            scope.spawn(move || {
                let mut work = Workspace::new(n, k);
                for (off, term) in out.iter_mut().enumerate() {
                    let i = block * per_thread + off;
                    let (nx, ny) = work.counts(xc, dx, yc, dy, i);
                    *term = digamma(nx as f64 + 1.0) + digamma(ny as f64 + 1.0);
                }
            });
        }
    });
    let mean = terms.iter().sum::<f64>() / n as f64;
    Ok((digamma(k as f64) + digamma(n as f64) - mean) / LN_2)
}

/// Per-thread buffers: max-norm distances from one sample to all, in `x` and in `y`, and the `k`
/// smallest joint distances seen so far (sorted ascending).
struct Workspace {
    dist_x: Vec<f32>,
    dist_y: Vec<f32>,
    nearest: Vec<f32>,
}

impl Workspace {
    fn new(n: usize, k: usize) -> Self {
        Self {
            dist_x: vec![0.0; n],
            dist_y: vec![0.0; n],
            nearest: vec![0.0; k],
        }
    }

    /// `(n_x(i), n_y(i))` for sample `i` (see the module docs).
    fn counts(&mut self, xc: &[f32], dx: usize, yc: &[f32], dy: usize, i: usize) -> (usize, usize) {
        let n = self.dist_x.len();
        max_abs_dist(&mut self.dist_x, xc, n, dx, i);
        max_abs_dist(&mut self.dist_y, yc, n, dy, i);
        // Exclude i itself from the neighbours and from both counts.
        self.dist_x[i] = f32::INFINITY;
        self.dist_y[i] = f32::INFINITY;

        let nearest = &mut self.nearest;
        nearest.fill(f32::INFINITY);
        let last = nearest.len() - 1;
        for (&a, &b) in self.dist_x.iter().zip(&self.dist_y) {
            let v = if a > b { a } else { b };
            if v < nearest[last] {
                // Insert v into the sorted array, dropping the largest.
                let mut p = last;
                while p > 0 && nearest[p - 1] > v {
                    nearest[p] = nearest[p - 1];
                    p -= 1;
                }
                nearest[p] = v;
            }
        }
        let eps = nearest[last];
        let nx = self.dist_x.iter().filter(|&&a| a < eps).count();
        let ny = self.dist_y.iter().filter(|&&b| b < eps).count();
        (nx, ny)
    }
}

/// `out[j] = max_m |cols[m][j] − cols[m][i]|` over the `d` columns of length `n`.
fn max_abs_dist(out: &mut [f32], cols: &[f32], n: usize, d: usize, i: usize) {
    out.fill(0.0);
    for col in cols.chunks_exact(n).take(d) {
        let c = col[i];
        for (o, &v) in out.iter_mut().zip(col) {
            let a = (v - c).abs();
            *o = if a > *o { a } else { *o };
        }
    }
}
