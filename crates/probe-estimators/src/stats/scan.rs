//! The two `O(n·d)` passes of [`super::layer_stats`], compiled for AVX2 / AVX-512 where the CPU
//! has them (run-time dispatch as in the private `rows` module; integer results, identical at
//! every instruction set):
//!
//! * [`scan`]: exact zeros, saturated values and, per neuron, whether any value differs from the
//!   first sample's, over the flat array against a tile of the first row repeated (so the loop
//!   runs over whole tiles of values, not over rows of a few neurons);
//! * [`dense_counts`]: per-neuron histograms by code ([`RowKeys::codes`], vectorised).

use crate::keys::{RowKeys, BLOCK};
use crate::rows::{isa, Isa};

/// Zeros, saturated values and the per-neuron "constant" flags of a checked `[n, d]` layer.
pub(super) struct Scan {
    pub zeros: u64,
    pub saturated: u64,
    pub constant: Vec<bool>,
}

/// Values per tile (a whole number of rows, at least one).
const TILE: usize = 256;

#[inline(always)]
fn scan_body(acts: &[f32], tile: &[f32], threshold: f32, differs: &mut [u8]) -> (u64, u64) {
    let (mut zeros, mut saturated) = (0u64, 0u64);
    for chunk in acts.chunks(tile.len()) {
        let (mut z, mut s) = (0u32, 0u32);
        for ((&x, &f), df) in chunk.iter().zip(tile).zip(differs.iter_mut()) {
            z += (x == 0.0) as u32;
            s += (x.abs() >= threshold) as u32;
            *df |= !(x == f || (x.is_nan() && f.is_nan())) as u8;
        }
        zeros += z as u64;
        saturated += s as u64;
    }
    (zeros, saturated)
}

#[inline(always)]
fn counts_body<K: RowKeys>(acts: &[f32], d: usize, width: usize, keys: &K, counts: &mut [u32]) {
    let mut buf = [0u64; BLOCK];
    if d <= BLOCK {
        // Whole rows per block of codes: neuron `j` is the row's `j`-th code, no counter.
        for chunk in acts.chunks(BLOCK / d * d) {
            keys.codes(chunk, &mut buf);
            for row in buf[..chunk.len()].chunks_exact(d) {
                for (j, &code) in row.iter().enumerate() {
                    counts[j * width + code as usize] += 1;
                }
            }
        }
        return;
    }
    let mut j = 0;
    for chunk in acts.chunks(BLOCK) {
        keys.codes(chunk, &mut buf);
        for &code in &buf[..chunk.len()] {
            counts[j * width + code as usize] += 1;
            j += 1;
            if j == d {
                j = 0;
            }
        }
    }
}

probe_simd::isa_dispatch! {
    /// [`scan_body`] with the code for `isa`.
    fn scan_isa(acts: &[f32], tile: &[f32], threshold: f32, differs: &mut [u8]) -> (u64, u64)
        => scan_body
}

probe_simd::isa_dispatch! {
    /// [`counts_body`] with the code for `isa`.
    fn counts_isa<K: RowKeys>(acts: &[f32], d: usize, width: usize, keys: &K, counts: &mut [u32])
        => counts_body
}

/// Zeros, values with `|x| >= threshold` and constant neurons of the `[n, d]` layer `acts`
/// (`n, d >= 1`), with the code for `isa` (one of [`probe_simd::supported_isas`]).
pub(super) fn scan_with(isa: Isa, acts: &[f32], d: usize, threshold: f32) -> Scan {
    let rows = (TILE / d).max(1);
    let tile: Vec<f32> = acts[..d].iter().copied().cycle().take(rows * d).collect();
    let mut differs = vec![0u8; tile.len()];
    let (zeros, saturated) = scan_isa(isa, acts, &tile, threshold, &mut differs);
    let mut constant = vec![true; d];
    for (i, &df) in differs.iter().enumerate() {
        constant[i % d] &= df == 0;
    }
    Scan {
        zeros,
        saturated,
        constant,
    }
}

/// [`scan_with`] at this CPU's instruction set.
pub(super) fn scan(acts: &[f32], d: usize, threshold: f32) -> Scan {
    scan_with(isa(), acts, d, threshold)
}

/// Counts `[d][bins + 1]` (last slot: NaN) of the `[n, d]` layer `acts` for a scheme whose codes
/// ([`RowKeys::codes`]: the bin, NaN `bins`) fall in `0 ..= bins`, with the code for `isa`.
pub(super) fn dense_counts_with<K: RowKeys>(
    isa: Isa,
    acts: &[f32],
    d: usize,
    bins: usize,
    keys: &K,
) -> Vec<u32> {
    let width = bins + 1;
    let mut counts = vec![0u32; d * width];
    counts_isa(isa, acts, d, width, keys, &mut counts);
    counts
}

/// [`dense_counts_with`] at this CPU's instruction set.
pub(super) fn dense_counts<K: RowKeys>(acts: &[f32], d: usize, bins: usize, keys: &K) -> Vec<u32> {
    dense_counts_with(isa(), acts, d, bins, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binning::{Binner, Binning, NAN_BIN};

    #[test]
    fn scans_and_counts_equal_a_row_loop_at_every_instruction_set() {
        let pool = [
            0.0f32,
            -0.0,
            0.5,
            -0.99,
            0.99,
            1.0,
            -3.0,
            f32::NAN,
            f32::INFINITY,
            0.25,
        ];
        let Binner::Fixed(keys) = (Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            edges: 30,
        })
        .binner()
        .unwrap() else {
            unreachable!()
        };
        let mut s = 17u64;
        for (n, d) in [(1, 1), (5, 3), (700, 10), (3, 256), (4, 300), (50, 7)] {
            let mut acts: Vec<f32> = (0..n * d)
                .map(|_| {
                    s = s
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    pool[(s >> 60) as usize % pool.len()]
                })
                .collect();
            // Neuron 0 constant (NaN everywhere counts as constant), neuron d-1 constant 0.5.
            for r in 0..n {
                acts[r * d] = f32::NAN;
                acts[r * d + d - 1] = 0.5;
            }
            let (mut zeros, mut sat) = (0, 0);
            let mut constant = vec![true; d];
            let mut counts = vec![0u32; d * 30];
            for row in acts.chunks(d) {
                for (j, &x) in row.iter().enumerate() {
                    zeros += (x == 0.0) as u64;
                    sat += (x.abs() >= 0.99) as u64;
                    let f = acts[j];
                    constant[j] &= x == f || (x.is_nan() && f.is_nan());
                    let b = keys.bin(x);
                    counts[j * 30 + if b == NAN_BIN { 29 } else { b as usize }] += 1;
                }
            }
            assert!(constant[0] && constant[d - 1]);
            for isa in crate::rows::supported_isas() {
                let got = scan_with(isa, &acts, d, 0.99);
                assert_eq!(
                    (got.zeros, got.saturated),
                    (zeros, sat),
                    "{isa:?} n={n} d={d}"
                );
                assert_eq!(got.constant, constant, "{isa:?} n={n} d={d}");
                assert_eq!(
                    dense_counts_with(isa, &acts, d, 29, &keys),
                    counts,
                    "{isa:?}"
                );
            }
        }
    }
}
