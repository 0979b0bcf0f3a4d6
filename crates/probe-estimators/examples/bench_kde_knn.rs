//! Timings of the KDE bounds and the KSG estimator.
//!
//! ```text
//! cargo run --release -p probe-estimators --example bench_kde_knn            # CPU
//! cargo run --release -p probe-estimators --features cuda --example bench_kde_knn   # + CUDA
//! ```
//!
//! * `kde_mi` on `N × d` tanh activations (10 classes, spread so that neither bound saturates),
//!   σ² = 0.1, on the CPU and, when built with `cuda` and a GPU is present, on CUDA (the results are
//!   read back to the host, which synchronises the device before the clock stops; the CUDA figure
//!   is reported as a ratio to the CPU one). The same `N` at `d = 2` shows the part of the time that
//!   is not the distance matmul (one `f64` `exp` per pair).
//! * `ksg_mi` at N = 10000, k = 3, for `d = dx = dy = 1..10` (correlated Gaussians, ρ = 0.5).
//!
//! Optional arguments: `N D` for the KDE size (default 10000 1024).
//!
//! Results (2026-11-22, `cargo run --release -p probe-estimators --example bench_kde_knn`; AMD EPYC,
//! 2 vCPUs with AVX-512, shared with other builds: load average 5–6, so these are upper bounds,
//! ranges over 3 runs):
//!
//! | what | time |
//! | --- | --- |
//! | `kde_mi` N = 10000, d = 1024, CPU | 4.5–7.1 s (the f32 distance matmuls alone, timed apart: ≈ 3.5 s) |
//! | `kde_mi` N = 10000, d = 2, CPU | 1.0–1.5 s (the `f64` `exp` pass: ~22% of the d = 1024 time) |
//! | `ksg_mi` N = 10000, k = 3, d = 1 … 10 | 0.23–0.27 s (d = 1) rising to 0.56–0.70 s (d = 10) |
//!
//! A later run on the idle machine, side by side with numpy/scipy/scikit-learn, is in the root
//! `BENCHMARKS.md` (`scripts/bench_estimators.sh`: `kde_mi` at 10000 × 1024 in 1.5 s).

use std::time::Instant;

use candle_core::{Device, Tensor};
use probe_estimators::{kde_mi, ksg_mi};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod common;
use common::{gaussian, tanh_layer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse())
        .collect::<Result<_, _>>()?;
    let (n, d) = match args[..] {
        [n, d] => (n, d),
        _ => (10_000, 1024),
    };
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    println!("machine: {threads} CPU threads");

    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (y, acts) = tanh_layer(&mut rng, n, d);
    let cpu = Tensor::from_vec(acts, (n, d), &Device::Cpu)?;
    let sigma2 = 0.1;

    let start = Instant::now();
    let m = kde_mi(&cpu, &y, sigma2)?;
    let cpu_s = start.elapsed().as_secs_f64();
    println!(
        "kde_mi   N={n} d={d} sigma2={sigma2} cpu: {cpu_s:.3} s  (I(X;T) {:.4}/{:.4} bits, I(T;Y) {:.4}/{:.4} bits)",
        m.i_xt_upper, m.i_xt_lower, m.i_ty_upper, m.i_ty_lower
    );
    let gpu = Device::cuda_if_available(0)?;
    if gpu.is_cuda() {
        let t = cpu.to_device(&gpu)?;
        kde_mi(&t, &y, sigma2)?; // warm-up: context, kernels, cuBLAS handles
        let start = Instant::now();
        let g = kde_mi(&t, &y, sigma2)?;
        let gpu_s = start.elapsed().as_secs_f64();
        println!(
            "kde_mi   N={n} d={d} sigma2={sigma2} cuda: {gpu_s:.3} s  ({:.1}x vs cpu; I(X;T) {:.4}/{:.4})",
            cpu_s / gpu_s,
            g.i_xt_upper,
            g.i_xt_lower
        );
    }

    let small = cpu.narrow(1, 0, 2)?.affine(32.0, 0.0)?; // same N, d = 2, similar spread
    let start = Instant::now();
    let m = kde_mi(&small, &y, sigma2)?;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "kde_mi   N={n} d=2 sigma2={sigma2} cpu: {secs:.3} s  ({:.0}% of the d={d} time; I(X;T) {:.4}/{:.4} bits)",
        100.0 * secs / cpu_s,
        m.i_xt_upper,
        m.i_xt_lower
    );

    let n_ksg = 10_000;
    let rho: f64 = 0.5;
    for dim in 1..=10 {
        let mut x = Vec::with_capacity(n_ksg * dim);
        let mut yv = Vec::with_capacity(n_ksg * dim);
        for _ in 0..n_ksg * dim {
            let a = gaussian(&mut rng);
            x.push(a as f32);
            yv.push((rho * a + (1.0 - rho * rho).sqrt() * gaussian(&mut rng)) as f32);
        }
        let start = Instant::now();
        let bits = ksg_mi(&x, dim, &yv, dim, n_ksg, 3)?;
        let secs = start.elapsed().as_secs_f64();
        let truth = -(dim as f64) / 2.0 * (1.0 - rho * rho).log2();
        println!("ksg_mi   N={n_ksg} d={dim:>2} k=3: {secs:.3} s  (I = {bits:.4} bits, truth {truth:.4})");
    }
    Ok(())
}
