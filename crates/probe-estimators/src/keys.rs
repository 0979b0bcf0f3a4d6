//! Block-wise integer keys of `f32` values: what rows are hashed and compared by.
//!
//! A key is a `u64` that is equal for two values iff their bins are equal (an injective image of
//! the bin index of [`crate::binning`], or of the value itself for exact grouping). Keys are
//! computed [`BLOCK`] values at a time by branch-free loops that the compiler can vectorise (see
//! the AVX2 / AVX-512 dispatch in the private `rows` module); the results are identical at every instruction
//! set, since Rust's `f64` arithmetic is IEEE-exact (no fused or reassociated operations).
//!
//! Bounded schemes (fixed edges, an explicit edge array) also give each value a small **code**
//! (`0 ..= bins`, NaN the last): [`RowKeys::code_bits`] bits, so a short row's codes pack into one
//! `u64`/`u128` word that is equal for two rows iff their bins are (see the private `rows::packed`
//! module), and a neuron's histogram is counted by code (see [`crate::stats`]).

use crate::adaptive::EdgeBins;
use crate::binning::{FixedBins, FloorBins};

/// Values per key block.
pub(crate) const BLOCK: usize = 64;
/// Key of every NaN (no non-NaN value reaches it in any scheme).
const NAN_KEY: u64 = u64::MAX;
/// 2^52: from here on every `f64` is an integer.
const TWO52: f64 = 4_503_599_627_370_496.0;
/// 2^63: floor values are clamped to `[-2^63, 2^63]`, the image of the i64 saturation.
const TWO63: f64 = 9_223_372_036_854_775_808.0;

/// Per-value keys, a block at a time.
pub(crate) trait RowKeys: Sync {
    /// Writes the key of `xs[i]` to `out[i]` for every `i < xs.len() <= BLOCK`.
    fn keys(&self, xs: &[f32], out: &mut [u64; BLOCK]);

    /// Bits of a value's code when the scheme has few bins (every code `< 2^bits`), else `None`
    /// (then [`RowKeys::codes`] is never called).
    fn code_bits(&self) -> Option<u32> {
        None
    }

    /// Writes the code of `xs[i]` to `out[i]` for every `i < xs.len() <= BLOCK`: the bin number
    /// (`0 .. bins`), NaN as `bins`; equal for two values iff their keys are. Only for schemes with
    /// [`RowKeys::code_bits`].
    fn codes(&self, xs: &[f32], out: &mut [u64; BLOCK]) {
        self.keys(xs, out);
    }
}

/// Bits of the codes `0 ..= max`.
fn bits_for(max: u64) -> u32 {
    (u64::BITS - max.leading_zeros()).max(1)
}

/// Low 52 bits: `(b + 2^52).to_bits() & LOW52 == b` for every integer-valued `0 <= b < 2^52`.
const LOW52: u64 = (1 << 52) - 1;

impl RowKeys for FixedBins {
    /// Key = bits of the bin index as an `f64` (NaN: [`NAN_KEY`]).
    #[inline(always)]
    fn keys(&self, xs: &[f32], out: &mut [u64; BLOCK]) {
        if !self.one_step {
            for (o, &x) in out.iter_mut().zip(xs) {
                let b = self.bin(x);
                *o = if x.is_nan() {
                    NAN_KEY
                } else {
                    (b as f64).to_bits()
                };
            }
            return;
        }
        let last = self.last();
        for (o, &x) in out.iter_mut().zip(xs) {
            let b = self.one_step_bin(x, last);
            *o = if x.is_nan() { NAN_KEY } else { b.to_bits() };
        }
    }

    /// Codes `0 ..= edges − 2` (the bin), NaN `edges − 1`.
    fn code_bits(&self) -> Option<u32> {
        Some(bits_for(self.last() as u64 + 1))
    }

    #[inline(always)]
    fn codes(&self, xs: &[f32], out: &mut [u64; BLOCK]) {
        let nan = self.last() + 1.0;
        if !self.one_step {
            for (o, &x) in out.iter_mut().zip(xs) {
                let b = self.bin(x);
                *o = if x.is_nan() { nan as u64 } else { b as u64 };
            }
            return;
        }
        let last = self.last();
        for (o, &x) in out.iter_mut().zip(xs) {
            let b = self.one_step_bin(x, last);
            let b = if x.is_nan() { nan } else { b };
            // An integer below 2^24: exact in the low mantissa bits of b + 2^52.
            *o = (b + TWO52).to_bits() & LOW52;
        }
    }
}

impl RowKeys for FloorBins {
    /// Key = bits of `floor(x / width)` as an `f64`, clamped to `[-2^63, 2^63]` (a bijection with
    /// the saturated `i64` bins: no `f64` integer lies strictly between `i64::MIN` and
    /// `i64::MIN + 2`, or between `i64::MAX - 1` and `2^63`), `+0.0` for `-0.0`, `±inf` for `±inf`.
    #[inline(always)]
    fn keys(&self, xs: &[f32], out: &mut [u64; BLOCK]) {
        let w = self.width();
        for (o, &x) in out.iter_mut().zip(xs) {
            let xd = x as f64;
            let q = xd / w;
            let a = q.abs();
            // Below 2^52, (a + 2^52) - 2^52 rounds a to an integer; at and above, q is one already.
            let t = if a < TWO52 {
                ((a + TWO52) - TWO52).copysign(q)
            } else {
                q
            };
            let r = if t > q { t - 1.0 } else { t }; // round -> floor
            let r = if r < -TWO63 { -TWO63 } else { r };
            let r = if r > TWO63 { TWO63 } else { r };
            let k = (r + 0.0).to_bits(); // -0.0 + 0.0 = +0.0
            let k = if xd.is_infinite() { xd.to_bits() } else { k };
            *o = if x.is_nan() { NAN_KEY } else { k };
        }
    }
}

impl RowKeys for EdgeBins {
    /// Key = the number of edges `<= x` (NaN: [`NAN_KEY`], which no count reaches).
    #[inline(always)]
    fn keys(&self, xs: &[f32], out: &mut [u64; BLOCK]) {
        self.count_block(xs, &mut out[..xs.len()], NAN_KEY);
    }

    /// Codes `0 ..= edges` (the count), NaN `edges + 1`.
    fn code_bits(&self) -> Option<u32> {
        Some(bits_for(self.bins() as u64))
    }

    #[inline(always)]
    fn codes(&self, xs: &[f32], out: &mut [u64; BLOCK]) {
        self.count_block(xs, &mut out[..xs.len()], self.bins() as u64);
    }
}

/// Keys for exact grouping: the value's bits, `-0.0` as `0.0`, every NaN as one key.
pub(crate) struct ExactKeys;

impl RowKeys for ExactKeys {
    #[inline(always)]
    fn keys(&self, xs: &[f32], out: &mut [u64; BLOCK]) {
        for (o, &x) in out.iter_mut().zip(xs) {
            let k = if x == 0.0 { 0 } else { x.to_bits() as u64 };
            *o = if x.is_nan() { NAN_KEY } else { k };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binning::{Binner, Binning};
    use crate::test_values::tricky;

    /// Keys must induce exactly the same partition as the scalar bins.
    fn check_same_partition(
        keys: &impl RowKeys,
        bin: impl Fn(f32) -> i64,
        bounds: &[f64],
        what: &str,
    ) {
        let v = tricky(bounds);
        let mut k = Vec::new();
        let mut buf = [0u64; BLOCK];
        for c in v.chunks(BLOCK) {
            keys.keys(c, &mut buf);
            k.extend_from_slice(&buf[..c.len()]);
        }
        for i in 0..v.len() {
            for j in (0..v.len()).step_by(7) {
                let same_bin = bin(v[i]) == bin(v[j]);
                assert_eq!(k[i] == k[j], same_bin, "{what}: {:e} vs {:e}", v[i], v[j]);
            }
        }
    }

    /// Codes must be the bin numbers themselves (`slow`, NaN `nan`), below `2^code_bits`.
    fn check_codes(keys: &impl RowKeys, slow: impl Fn(f32) -> i64, nan: u64, bounds: &[f64]) {
        let bits = keys.code_bits().unwrap();
        let v = tricky(bounds);
        let mut buf = [0u64; BLOCK];
        for c in v.chunks(BLOCK) {
            keys.codes(c, &mut buf);
            for (&x, &code) in c.iter().zip(&buf) {
                let want = if x.is_nan() { nan } else { slow(x) as u64 };
                assert_eq!(code, want, "code of {x:e}");
                assert!(code >> bits == 0, "code {code} of {x:e} in {bits} bits");
            }
        }
    }

    #[test]
    fn codes_are_the_bin_numbers() {
        for (lo, hi, n) in [
            (-1.0, 1.0, 30),
            (-0.5, 2.0, 7),
            (-1.0, 2.0, 69),
            (0.0, 1.0, 2),
        ] {
            let binning = Binning::Fixed { lo, hi, edges: n };
            let edges = binning.edges().unwrap();
            let slow = |x: f32| {
                let c = edges.iter().filter(|&&e| e <= x as f64).count() as i64;
                (c - 1).clamp(0, n as i64 - 2)
            };
            let Binner::Fixed(mut b) = binning.binner().unwrap() else {
                unreachable!()
            };
            assert_eq!(b.code_bits(), Some(bits_for(n as u64 - 1)));
            check_codes(&b, slow, n as u64 - 1, &edges);
            b.one_step = false;
            check_codes(&b, slow, n as u64 - 1, &edges);
        }
        let short = vec![-1.0f32, -0.25, -0.25, 0.0, 0.5, 0.5, 0.5, 1.0];
        let long: Vec<f32> = (0..200).map(|i| (i as f32 - 100.0) * 0.013).collect();
        for edges in [short, long, vec![], vec![0.0]] {
            let b = crate::adaptive::EdgeBins::new(edges.clone()).unwrap();
            let slow = |x: f32| edges.iter().filter(|&&e| e <= x).count() as i64;
            let bounds: Vec<f64> = edges.iter().map(|&e| e as f64).collect();
            check_codes(&b, slow, edges.len() as u64 + 1, &bounds);
        }
        assert_eq!(
            (bits_for(0), bits_for(1), bits_for(29), bits_for(32)),
            (1, 1, 5, 6)
        );
        let floor = (Binning::Floor { width: 0.5 }).binner().unwrap();
        let Binner::Floor(f) = floor else {
            unreachable!()
        };
        assert_eq!((f.code_bits(), ExactKeys.code_bits()), (None, None));
    }

    #[test]
    fn keys_partition_like_bins() {
        // Fixed{-1, 2, 69}: at x = 1.25 (edge 51, exact in f32) the guess undershoots to bin 50,
        // so the upward correction step is exercised.
        let fixed = [(-1.0, 1.0, 30), (-0.5, 2.0, 7), (-1.0, 2.0, 69)];
        for (lo, hi, n) in fixed {
            let binning = Binning::Fixed { lo, hi, edges: n };
            let edges = binning.edges().unwrap();
            // Independent reference: count the edges <= x, minus one, clamped.
            let slow = |x: f32| match x.is_nan() {
                true => i64::MIN,
                false => {
                    let c = edges.iter().filter(|&&e| e <= x as f64).count() as i64;
                    (c - 1).clamp(0, n as i64 - 2)
                }
            };
            let Binner::Fixed(mut b) = binning.binner().unwrap() else {
                unreachable!()
            };
            assert!(b.one_step);
            check_same_partition(&b, slow, &edges, &format!("{binning:?}"));
            b.one_step = false; // the fallback path
            check_same_partition(&b, slow, &edges, &format!("{binning:?}, fallback"));
        }
        for w in [0.07, 0.5, 1e-300, 1e30] {
            let Binner::Floor(b) = (Binning::Floor { width: w }).binner().unwrap() else {
                unreachable!()
            };
            let slow = |x: f32| match x {
                _ if x.is_nan() => i64::MIN,
                f32::INFINITY => i64::MAX,
                f32::NEG_INFINITY => i64::MIN + 1,
                _ => ((x as f64 / w).floor() as i64).clamp(i64::MIN + 2, i64::MAX - 1),
            };
            let bounds: Vec<f64> = (-50..=50).map(|i| i as f64 * w).collect();
            check_same_partition(&b, slow, &bounds, &format!("Floor({w})"));
        }
        // Explicit edge arrays: short (linear scan), repeated edges, and long (binary search).
        let short = vec![-1.0f32, -0.25, -0.25, 0.0, 0.5, 0.5, 0.5, 1.0];
        let long: Vec<f32> = (0..200).map(|i| (i as f32 - 100.0) * 0.013).collect();
        for edges in [short, long, vec![], vec![0.0]] {
            let b = crate::adaptive::EdgeBins::new(edges.clone()).unwrap();
            let slow = |x: f32| match x.is_nan() {
                true => i64::MIN,
                false => edges.iter().filter(|&&e| e <= x).count() as i64,
            };
            let bounds: Vec<f64> = edges.iter().map(|&e| e as f64).collect();
            check_same_partition(&b, slow, &bounds, &format!("Edges({})", edges.len()));
        }
        let exact = |x: f32| match x {
            _ if x.is_nan() => -1,
            _ if x == 0.0 => 0,
            _ => x.to_bits() as i64,
        };
        check_same_partition(&ExactKeys, exact, &[], "exact");
    }
}
