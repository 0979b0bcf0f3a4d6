//! Times `binned_mi` on random `[n, 1024]` f32 activations (n = 10 000 and 60 000).
//!
//! Run: `cargo run --release -p probe-estimators --example bench_binned`
//!
//! Two kinds of data per size: `uniform` (values uniform in [-1, 1]; every binned row distinct, so
//! the time is the hashing pass) and `pooled` (each row one of 500 base rows plus small noise, so
//! nearly every row is verified element by element against an earlier row). Reports the median of
//! 5 runs after one warm-up, and throughput in elements per second.

use std::time::Instant;

use probe_estimators::{binned_mi, Binning};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn uniform(rng: &mut ChaCha8Rng, n: usize, d: usize) -> Vec<f32> {
    (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

fn pooled(rng: &mut ChaCha8Rng, n: usize, d: usize) -> Vec<f32> {
    let bases = uniform(rng, 500, d);
    let mut out = Vec::with_capacity(n * d);
    for _ in 0..n {
        let b = rng.random_range(0..500);
        out.extend(
            bases[b * d..(b + 1) * d]
                .iter()
                .map(|&v| v + rng.random_range(-1e-4f32..1e-4)),
        );
    }
    out
}

fn main() {
    let d = 1024;
    let threads = std::thread::available_parallelism().map_or(1, |c| c.get());
    println!("binned_mi on [n, {d}] f32, {threads} threads available, median of 5 runs");
    println!(
        "{:>6} {:>8} {:>22} {:>10} {:>10} {:>9} {:>9} {:>8}",
        "n", "data", "binning", "ms", "Gelem/s", "I(X;T)", "I(T;Y)", "distinct"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    for n in [10_000usize, 60_000] {
        let x: Vec<u32> = (0..n as u32).collect();
        let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..10)).collect();
        for (name, acts) in [
            ("uniform", uniform(&mut rng, n, d)),
            ("pooled", pooled(&mut rng, n, d)),
        ] {
            for binning in [Binning::DEFAULT_FIXED, Binning::Floor { width: 0.5 }] {
                let mut times = Vec::new();
                let mut mi = None;
                for _ in 0..6 {
                    let t0 = Instant::now();
                    mi = Some(binned_mi(&acts, n, d, &binning, &x, &y).expect("valid input"));
                    times.push(t0.elapsed().as_secs_f64());
                }
                let mi = mi.expect("ran");
                times.remove(0); // warm-up
                times.sort_by(f64::total_cmp);
                let med = times[times.len() / 2];
                let label = format!("{binning:?}")
                    .replace("Fixed", "F")
                    .replace("Floor", "Fl");
                println!(
                    "{n:>6} {name:>8} {label:>22} {:>10.1} {:>10.2} {:>9.4} {:>9.4} {:>8}",
                    med * 1e3,
                    (n * d) as f64 / med / 1e9,
                    mi.i_xt,
                    mi.i_ty,
                    mi.distinct
                );
            }
        }
    }
}
