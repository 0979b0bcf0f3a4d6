//! Exact row grouping for short rows of few bins: each row's value codes (see
//! [`RowKeys::codes`], `bits` each) packed into one `u64` or `u128` word.
//!
//! Packing is injective (column `j` owns bits `j·bits .. (j+1)·bits`), so two rows share a word iff
//! every column has the same bin: the word *is* the row's key, no hash has to be verified. Words
//! get dense ids in first-appearance order through an open-addressing table of row indices, so the
//! result is exactly [`super::group_rows_with`]'s. This is the path of the information plane's
//! layers (e.g. 30 edges → 5 bits, up to 12 neurons in a `u64`, 25 in a `u128`): per row one pass
//! over its values (vectorised code computation) and one table probe, instead of a hash of the
//! row and a comparison with its candidate.

use super::{fmix, for_each_chunk, isa, threads_for, Symbols};
use crate::keys::{RowKeys, BLOCK};

/// A packed row key.
pub(crate) trait Word: Copy + Eq + Default + Send + Sync {
    /// Bits in the word.
    const BITS: u32;
    /// `self | code << shift` (`code < 2^bits`, `shift + bits <= BITS`).
    fn or_code(self, code: u64, shift: u32) -> Self;
    /// A well-mixed 64-bit hash (only spreads the table; equality decides).
    fn mixed(self) -> u64;
}

impl Word for u64 {
    const BITS: u32 = 64;
    #[inline(always)]
    fn or_code(self, code: u64, shift: u32) -> Self {
        self | code << shift
    }
    #[inline(always)]
    fn mixed(self) -> u64 {
        fmix(self)
    }
}

impl Word for u128 {
    const BITS: u32 = 128;
    #[inline(always)]
    fn or_code(self, code: u64, shift: u32) -> Self {
        self | (code as u128) << shift
    }
    #[inline(always)]
    fn mixed(self) -> u64 {
        fmix(self as u64 ^ fmix((self >> 64) as u64))
    }
}

/// Packs the rows of `data` (`[out.len(), d]`) into `out`, `bits` per code.
#[inline(always)]
fn pack_body<W: Word, K: RowKeys>(data: &[f32], d: usize, bits: u32, keys: &K, out: &mut [W]) {
    let mut buf = [0u64; BLOCK];
    let (mut r, mut j, mut w) = (0usize, 0usize, W::default());
    for chunk in data.chunks(BLOCK) {
        keys.codes(chunk, &mut buf);
        for &c in &buf[..chunk.len()] {
            w = w.or_code(c, j as u32 * bits);
            j += 1;
            if j == d {
                out[r] = w;
                (r, j, w) = (r + 1, 0, W::default());
            }
        }
    }
}

probe_simd::isa_dispatch! {
    /// [`pack_body`] with the code for `isa` (one of [`probe_simd::supported_isas`]; the words are
    /// integers, identical at every instruction set).
    pub(crate) fn pack_with<W: Word, K: RowKeys>(
        data: &[f32],
        d: usize,
        bits: u32,
        keys: &K,
        out: &mut [W],
    ) => pack_body
}

/// Groups the `n` rows of `data` (`[n, d]`) by their packed codes (`d · bits <= W::BITS`; the
/// caller checks). Dense ids in first-appearance order, as [`super::group_rows_with`].
pub(crate) fn group_packed<W: Word, K: RowKeys>(
    data: &[f32],
    n: usize,
    d: usize,
    bits: u32,
    keys: &K,
) -> Symbols {
    debug_assert!(d as u64 * bits as u64 <= W::BITS as u64 && data.len() == n * d);
    let mut words = vec![W::default(); n];
    let isa = isa();
    for_each_chunk(&mut words, threads_for(n * d, n), |start, out| {
        let rows = &data[start * d..(start + out.len()) * d];
        pack_with(isa, rows, d, bits, keys, out);
    });
    dense_ids(&words)
}

/// Dense ids of `words` in first-appearance order: an open-addressing table (linear probing, at
/// most half full) of `1 + ` the first row holding each word.
pub(crate) fn dense_ids<W: Word>(words: &[W]) -> Symbols {
    let cap = (2 * words.len()).next_power_of_two().max(16);
    let mask = cap - 1;
    let mut table = vec![0u32; cap];
    let mut ids = vec![0u32; words.len()];
    let mut distinct = 0u32;
    for (r, &w) in words.iter().enumerate() {
        let mut slot = w.mixed() as usize & mask;
        loop {
            match table[slot] {
                0 => {
                    table[slot] = r as u32 + 1;
                    ids[r] = distinct;
                    distinct += 1;
                    break;
                }
                q if words[q as usize - 1] == w => {
                    ids[r] = ids[q as usize - 1];
                    break;
                }
                _ => slot = (slot + 1) & mask,
            }
        }
    }
    Symbols {
        ids,
        distinct: distinct as usize,
    }
}
