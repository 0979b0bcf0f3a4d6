//! Train/test splits, ordered (as the original IDNNs code) or shuffled with a seed.
//!
//! The training split gets `n_train = round(train_fraction · n)` rows, rounding halves to even as
//! numpy's `rint` does in IDNNs (`np.rint(80 · 4096 / 100)` = 3277); the test split the rest.
//! Shuffling uses `ChaCha8Rng::seed_from_u64(seed)` and a Fisher–Yates shuffle that draws its
//! bounded integers from `next_u64` with Lemire's unbiased method, written here rather than taken
//! from `rand`'s distributions: the permutation for a seed is then the same on every platform
//! (32- or 64-bit) and across `rand` releases.
//!
//! ```
//! use probe_train::data::{split_indices, SplitSpec};
//! let (train, test) = split_indices(10, &SplitSpec::Ordered { train_fraction: 0.7 }, "toy").unwrap();
//! assert_eq!(train, (0..7).collect::<Vec<_>>());
//! assert_eq!(test, vec![7, 8, 9]);
//! let (a, _) = split_indices(10, &SplitSpec::Shuffled { train_fraction: 0.7, seed: 1 }, "toy").unwrap();
//! let (b, _) = split_indices(10, &SplitSpec::Shuffled { train_fraction: 0.7, seed: 1 }, "toy").unwrap();
//! assert_eq!(a, b);
//! ```

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{DataError, Dataset};

/// How to divide a data set into training and test rows.
#[derive(Clone, Debug, PartialEq)]
pub enum SplitSpec {
    /// Shuffle all rows with `seed`, then the first `round(train_fraction · n)` train.
    Shuffled {
        /// Fraction of rows that train, strictly between 0 and 1.
        train_fraction: f64,
        /// Seed of the ChaCha8 generator driving the shuffle.
        seed: u64,
    },
    /// The first `round(train_fraction · n)` rows in their stored order train, the rest test, as
    /// in the original IDNNs code (4096 · 0.8 → rows 0..3277).
    Ordered {
        /// Fraction of rows that train, strictly between 0 and 1.
        train_fraction: f64,
    },
}

impl SplitSpec {
    /// The requested training fraction.
    pub fn train_fraction(&self) -> f64 {
        match *self {
            SplitSpec::Shuffled { train_fraction, .. } | SplitSpec::Ordered { train_fraction } => {
                train_fraction
            }
        }
    }
}

/// A uniform integer in `0..bound` (`bound > 0`) by Lemire's multiply-and-reject method.
fn below(rng: &mut ChaCha8Rng, bound: u64) -> u64 {
    let mut m = u128::from(rng.next_u64()) * u128::from(bound);
    if (m as u64) < bound {
        let threshold = bound.wrapping_neg() % bound;
        while (m as u64) < threshold {
            m = u128::from(rng.next_u64()) * u128::from(bound);
        }
    }
    (m >> 64) as u64
}

/// The row indices of the training and test splits of a data set with `n` rows. `name` is only used
/// in error messages.
///
/// Fails if the fraction is not strictly between 0 and 1, or leaves either split empty.
pub fn split_indices(
    n: usize,
    spec: &SplitSpec,
    name: &str,
) -> Result<(Vec<usize>, Vec<usize>), DataError> {
    let fraction = spec.train_fraction();
    let invalid = |reason: &str| DataError::InvalidSplit {
        dataset: name.to_string(),
        n,
        fraction,
        reason: reason.to_string(),
    };
    if !(fraction > 0.0 && fraction < 1.0) {
        return Err(invalid("the fraction must lie strictly between 0 and 1"));
    }
    let n_train = (fraction * n as f64).round_ties_even() as usize;
    if n_train == 0 {
        return Err(invalid("it leaves the training split empty"));
    }
    if n_train >= n {
        return Err(invalid("it leaves the test split empty"));
    }

    let mut order: Vec<usize> = (0..n).collect();
    if let SplitSpec::Shuffled { seed, .. } = *spec {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for i in (1..n).rev() {
            let j = below(&mut rng, i as u64 + 1) as usize;
            order.swap(i, j);
        }
    }
    let test = order.split_off(n_train);
    Ok((order, test))
}

/// Splits `ds` into `(train, test)` according to `spec`, named `{name}-train` and `{name}-test`.
///
/// Shuffled splits keep rows in their shuffled order; ordered splits keep the stored order.
pub fn split(ds: &Dataset, spec: &SplitSpec) -> Result<(Dataset, Dataset), DataError> {
    let (train_idx, test_idx) = split_indices(ds.n, spec, &ds.name)?;
    let mut train = ds.subset(&train_idx);
    let mut test = ds.subset(&test_idx);
    train.name = format!("{}-train", ds.name);
    test.name = format!("{}-test", ds.name);
    Ok((train, test))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `below` must stay in range and hit every value for a small bound.
    #[test]
    fn below_is_in_range_and_covers() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut seen = [0usize; 5];
        for _ in 0..1000 {
            let v = below(&mut rng, 5);
            seen[v as usize] += 1;
        }
        assert!(seen.iter().all(|&c| c > 150), "{seen:?}");
        assert_eq!(below(&mut rng, 1), 0);
    }

    /// numpy's rint rounds halves to even; so must we (10 · 0.25 = 2.5 → 2, 10 · 0.35 = 3.5 → 4).
    #[test]
    fn rounding_matches_numpy_rint() {
        let n_train = |f| {
            split_indices(10, &SplitSpec::Ordered { train_fraction: f }, "t")
                .map(|(a, _)| a.len())
                .ok()
        };
        assert_eq!(n_train(0.25), Some(2));
        assert_eq!(n_train(0.35), Some(4));
    }
}
