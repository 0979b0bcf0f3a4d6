use probe_estimators::{binned_symbols, exact_symbols, Binning};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
fn main() {
    let (n, d) = (20000usize, 1024usize);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let acts: Vec<f32> = (0..n * d).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    for binning in [
        Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            edges: 30,
        },
        Binning::Floor { width: 0.5 },
    ] {
        let b = binning.binner().unwrap();
        for _ in 0..3 {
            let t0 = Instant::now();
            let s: i64 = acts
                .iter()
                .map(|&x| b.bin(x))
                .fold(0, |a, v| a ^ v.wrapping_mul(3));
            let t1 = t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            let sy = binned_symbols(&acts, n, d, &binning).unwrap();
            let t2 = t0.elapsed().as_secs_f64();
            println!(
                "{binning:?}: bin-only {:.2} ns/elem (s={s}), binned_symbols {:.2} ns/elem ({})",
                t1 / (n * d) as f64 * 1e9,
                t2 / (n * d) as f64 * 1e9,
                sy.distinct
            );
        }
    }
    let t0 = Instant::now();
    let sy = exact_symbols(&acts, n, d).unwrap();
    println!(
        "exact {:.2} ns/elem {}",
        t0.elapsed().as_secs_f64() / (n * d) as f64 * 1e9,
        sy.distinct
    );
}
