//! Seeded random streams. Every random choice of a run (weights, shuffling, dropout, VIB noise) is
//! drawn on the host from ChaCha8 streams derived from the run's seed, so runs are reproducible on
//! every device. A stream's position can be saved with [`save_state`] and restored with
//! [`restore_state`], which is how a resumed run continues the exact sequence of shuffles.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{Error, Result};

/// The independent random streams of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Weight initialisation.
    Init = 1,
    /// Per-epoch shuffling of the training set.
    Shuffle = 2,
    /// Noise of stochastic layers (the VIB's reparameterised samples).
    Noise = 3,
    /// Noise of the samples drawn at evaluation (restarted at every evaluation).
    EvalNoise = 4,
    /// Dropout masks.
    Dropout = 5,
}

/// The ChaCha8 generator for `stream` of the run with `seed`.
pub fn stream(seed: u64, stream: Stream) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(stream as u64);
    rng
}

/// The state of `rng` as text, `{seed as 64 hex digits}:{stream}:{word position}`, for checkpoints.
pub fn save_state(rng: &ChaCha8Rng) -> String {
    let seed: String = rng.get_seed().iter().map(|b| format!("{b:02x}")).collect();
    format!("{seed}:{}:{}", rng.get_stream(), rng.get_word_pos())
}

/// The generator [`save_state`] described, at the same position. `what` names the value in errors.
pub fn restore_state(text: &str, what: &str) -> Result<ChaCha8Rng> {
    let bad = |why: &str| {
        Error::invalid(
            what,
            format!("{text:?} is not a saved random-stream state ({why}); expected `seed:stream:position` as probe writes it"),
        )
    };
    let mut parts = text.split(':');
    let (Some(seed_hex), Some(stream), Some(pos), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not three fields"));
    };
    if seed_hex.len() != 64 || !seed_hex.is_ascii() {
        return Err(bad("the seed is not 64 hex digits"));
    }
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = u8::from_str_radix(&seed_hex[2 * i..2 * i + 2], 16)
            .map_err(|_| bad("the seed is not hexadecimal"))?;
    }
    let stream: u64 = stream.parse().map_err(|_| bad("bad stream number"))?;
    let pos: u128 = pos.parse().map_err(|_| bad("bad position"))?;
    let mut rng = ChaCha8Rng::from_seed(seed);
    rng.set_stream(stream);
    rng.set_word_pos(pos);
    Ok(rng)
}

/// Fills `out` with standard normal draws (f32), for noise tensors.
pub fn fill_standard_normal(rng: &mut ChaCha8Rng, out: &mut [f32]) {
    for v in out {
        *v = standard_normal(rng) as f32;
    }
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
    fn saved_state_continues_the_same_sequence() {
        let mut a = stream(11, Stream::Shuffle);
        let _ = permutation(&mut a, 37); // move to an odd position inside a block
        let _ = standard_normal(&mut a);
        let text = save_state(&a);
        let mut b = restore_state(&text, "rng").unwrap();
        assert_eq!(permutation(&mut a, 100), permutation(&mut b, 100));
        assert_eq!(a.random::<u64>(), b.random::<u64>());
        for bad in ["", "00:1:2", &text.replace(':', ";"), &format!("{text}:9")] {
            let e = restore_state(bad, "checkpoint rng").unwrap_err();
            assert!(e.to_string().contains("checkpoint rng"), "{e}");
        }
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
