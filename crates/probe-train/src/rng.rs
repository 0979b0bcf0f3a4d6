//! Seeded random streams. Every random choice of a run (weights, shuffling) is drawn on the host
//! from ChaCha8 streams derived from the run's seed, so runs are reproducible on every device.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The independent random streams of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Weight initialisation.
    Init = 1,
    /// Per-epoch shuffling of the training set.
    Shuffle = 2,
}

/// The ChaCha8 generator for `stream` of the run with `seed`.
pub fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// One standard normal draw (Box–Muller, so the sequence does not depend on a distribution crate).
pub fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // u1 in (0, 1] so ln(u1) is finite.
    let u1 = 1.0 - rng.random::<f64>();
    let u2 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// A normal draw with standard deviation `std`, redrawn until it lies within two standard
/// deviations (TensorFlow's `truncated_normal`, which IDNNs used).
pub fn truncated_normal(rng: &mut ChaCha8Rng, std: f64) -> f64 {
    loop {
        let z = standard_normal(rng);
        if z.abs() <= 2.0 {
            return z * std;
        }
    }
}

/// A uniform draw in [-bound, bound).
pub fn uniform(rng: &mut ChaCha8Rng, bound: f64) -> f64 {
    (rng.random::<f64>() * 2.0 - 1.0) * bound
}

/// Fisher–Yates permutation of 0..n.
pub fn permutation(rng: &mut ChaCha8Rng, n: usize) -> Vec<u32> {
    let mut p: Vec<u32> = (0..n as u32).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        p.swap(i, j);
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_moments_and_truncation() {
        let mut rng = stream(7, Stream::Init);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| standard_normal(&mut rng)).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            mean.abs() < 0.01 && (var - 1.0).abs() < 0.01,
            "{mean} {var}"
        );
        assert!((0..10_000).all(|_| truncated_normal(&mut rng, 0.5).abs() <= 1.0));
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u32> = permutation(&mut stream(3, Stream::Shuffle), 50);
        let b: Vec<u32> = permutation(&mut stream(3, Stream::Shuffle), 50);
        let c: Vec<u32> = permutation(&mut stream(3, Stream::Init), 50);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..50).collect::<Vec<u32>>());
    }
}
