//! Time of one `kde_mi` call at the size of the Saxe et al. 12-bit protocol (`N = 4096` rows,
//! `σ² = 1e-3`, binary labels) for `d = 10` and `d = 2`, on the CPU; and `d = 10` at `σ² = 1`,
//! where no kernel value is negligible (the CPU kernel skips blocks of 8 pairs whose kernel values
//! are all 0, which at `σ² = 1e-3` and `d = 10` is nearly all of them).
//!
//! ```text
//! RAYON_NUM_THREADS=1 cargo run --release -p probe-estimators --example bench_kde
//! RAYON_NUM_THREADS=2 cargo run --release -p probe-estimators --example bench_kde [-- RUNS]
//! cargo run --release -p probe-estimators --example bench_kde -- values
//! ```
//!
//! The activations are tanh-like (`tanh(1.5·g + 0.4·(2y − 1))`, `g` standard normal, so values
//! lie in `[−1, 1]` and pile up near `±1` as saturated layers do). Each size is run once to warm
//! up and then `RUNS` times (default 7); the minimum is reported (the machine is shared, so the
//! minimum is the best estimate of the cost). `values` instead prints the four estimates of a
//! fixed set of inputs with 17 significant digits, to compare two builds.
//!
//! Results: see the section "KDE bounds (CPU)" of the root `BENCHMARKS.md`.

use std::time::Instant;

use candle_core::{Device, Tensor};
use probe_estimators::{kde_mi, kde_mi_chunked};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::gaussian;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// `n × d` tanh-like activations with `classes` labels (seeded).
fn layer(n: usize, d: usize, classes: u32, seed: u64) -> Res<(Tensor, Vec<u32>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..classes)).collect();
    let t: Vec<f32> = (0..n * d)
        .map(|e| (1.5 * gaussian(&mut rng) + 0.4 * (2.0 * y[e / d] as f64 - 1.0)).tanh() as f32)
        .collect();
    Ok((Tensor::from_vec(t, (n, d), &Device::Cpu)?, y))
}

/// Prints the estimates of fixed inputs (tanh-like layers, coarse-valued layers with exact
/// duplicates, several σ² and chunk sizes).
fn values() -> Res<()> {
    for (n, d, classes, seed) in [(4096, 10, 2, 1u64), (4096, 2, 2, 2), (1000, 7, 3, 3)] {
        let (t, y) = layer(n, d, classes, seed)?;
        // The same layer rounded to multiples of 1/8: exact duplicates and exact distances.
        let coarse = (t.affine(8.0, 0.0)?.round()? / 8.0)?;
        for sigma2 in [1e-3, 1e-2, 0.1, 1.0] {
            for (name, x) in [("tanh", &t), ("coarse", &coarse)] {
                let m = kde_mi(x, &y, sigma2)?;
                println!(
                    "{name} n={n} d={d} classes={classes} sigma2={sigma2:e}: {:.17e} {:.17e} {:.17e} {:.17e}",
                    m.i_xt_upper, m.i_xt_lower, m.i_ty_upper, m.i_ty_lower
                );
            }
        }
        let m = kde_mi_chunked(&t, &y, 1e-2, 37)?;
        println!(
            "tanh n={n} d={d} classes={classes} sigma2=1e-2 chunk=37: {:.17e} {:.17e} {:.17e} {:.17e}",
            m.i_xt_upper, m.i_xt_lower, m.i_ty_upper, m.i_ty_lower
        );
    }
    Ok(())
}

fn main() -> Res<()> {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("values") {
        return values();
    }
    let runs: usize = arg.map_or(Ok(7), |a| a.parse())?;
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "default".into());
    let isa = std::env::var("PROBE_CPU_ISA").unwrap_or_else(|_| "widest".into());
    println!("RAYON_NUM_THREADS={threads} PROBE_CPU_ISA={isa} runs={runs}");
    for (d, sigma2) in [(10, 1e-3), (2, 1e-3), (10, 1.0)] {
        let (t, y) = layer(4096, d, 2, 0)?;
        let m = kde_mi(&t, &y, sigma2)?; // warm-up
        let mut best = f64::INFINITY;
        for _ in 0..runs {
            let start = Instant::now();
            std::hint::black_box(kde_mi(&t, &y, sigma2)?);
            best = best.min(start.elapsed().as_secs_f64());
        }
        println!(
            "kde_mi N=4096 d={d:2} sigma2={sigma2:e}: min {:8.2} ms  (I(X;T) {:.6}/{:.6}, I(T;Y) {:.6}/{:.6} bits)",
            best * 1e3,
            m.i_xt_upper,
            m.i_xt_lower,
            m.i_ty_upper,
            m.i_ty_lower
        );
    }
    Ok(())
}
