//! Exact grouping of the rows of a row-major `[n, d]` `f32` matrix by per-value keys.
//!
//! Two rows belong together iff their keys (see the private `keys` module) are equal at every
//! column. A 64-bit hash of the keys only proposes a candidate (the first earlier row with the same
//! hash); the candidate is then verified block by block (raw bits first, keys only where the bits
//! differ), and rows that fail verification go through an exact slow path, so no hash collision
//! can ever merge two rows. Nothing of size `[n, d]` is materialised: keys are recomputed from the
//! raw values, a block of 64 at a time, whenever they are needed.
//!
//! Work is split in four passes; the two `O(n·d)` ones run on scoped threads over row ranges and,
//! on x86-64 CPUs in code compiled for AVX2 or AVX-512 (detected at run time):
//! 1. hash every row (parallel);
//! 2. map each row to the first row with its hash (sequential, `O(n)`);
//! 3. verify each row against that candidate (parallel);
//! 4. assign dense ids in first-appearance order (sequential; exact fallback for collisions).
//!
//! Short rows of a bounded scheme skip all that: their bins pack into one integer word that is
//! the row's exact key (the private `packed` module; same ids).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

use crate::keys::{RowKeys, BLOCK};
// The instruction-set dispatch (shared with `kde.rs` and the fused trainer) is `probe_simd`'s.
#[cfg(test)]
pub(crate) use probe_simd::supported_isas;
pub(crate) use probe_simd::{isa, Isa};

/// Odd 64-bit multiplier (2^64 / golden ratio).
const MUL: u64 = 0x9E37_79B9_7F4A_7C15;
/// Independent hash lanes (multiply chains) per row.
const LANES: usize = 8;
/// Elements of work below which a pass stays on the calling thread.
const MIN_WORK_PER_THREAD: usize = 1 << 16;

/// Dense symbol ids for the rows of a matrix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbols {
    /// One id per row, in `0..distinct`, numbered in order of first appearance.
    pub ids: Vec<u32>,
    /// Number of distinct rows (distinct symbols).
    pub distinct: usize,
}

/// One mixing step: a bijection in `h` for fixed `k` and in `k` for fixed `h`, so two rows whose
/// keys differ in exactly one column always get different hashes.
#[inline(always)]
fn mix(h: u64, k: u64) -> u64 {
    (h ^ k).wrapping_mul(MUL).rotate_left(26)
}

/// MurmurHash3's 64-bit finaliser (a bijection).
#[inline(always)]
fn fmix(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// Hash of the keys of one row: column `j` feeds lane `j % LANES`.
#[inline(always)]
fn hash_row_body<K: RowKeys>(row: &[f32], keys: &K) -> u64 {
    let mut lanes: [u64; LANES] = std::array::from_fn(|i| i as u64 + 1);
    let mut buf = [0u64; BLOCK];
    for chunk in row.chunks(BLOCK) {
        keys.keys(chunk, &mut buf);
        let full = chunk.len() / LANES * LANES;
        for c in buf[..full].chunks_exact(LANES) {
            for (l, &k) in lanes.iter_mut().zip(c) {
                *l = mix(*l, k);
            }
        }
        for (l, &k) in lanes.iter_mut().zip(&buf[full..chunk.len()]) {
            *l = mix(*l, k);
        }
    }
    lanes.iter().rev().fold(0, |h, &l| fmix(l ^ h))
}

/// Whether two rows have equal keys at every column (equal raw bits imply equal keys).
#[inline(always)]
fn rows_equal_body<K: RowKeys>(a: &[f32], b: &[f32], keys: &K) -> bool {
    let (mut ka, mut kb) = ([0u64; BLOCK], [0u64; BLOCK]);
    for (ca, cb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let diff = ca
            .iter()
            .zip(cb)
            .fold(0, |acc, (x, y)| acc | (x.to_bits() ^ y.to_bits()));
        if diff != 0 {
            keys.keys(ca, &mut ka);
            keys.keys(cb, &mut kb);
            if ka[..ca.len()] != kb[..cb.len()] {
                return false;
            }
        }
    }
    true
}

probe_simd::isa_dispatch! {
    /// Hash of the keys of `row` with the code for `isa` (identical at every instruction set).
    /// `isa` must be one of [`probe_simd::supported_isas`].
    pub(crate) fn hash_row_with<K: RowKeys>(row: &[f32], keys: &K) -> u64 => hash_row_body
}

probe_simd::isa_dispatch! {
    /// Whether rows `a` and `b` have equal keys at every column, with the code for `isa` (one of
    /// [`probe_simd::supported_isas`]).
    pub(crate) fn rows_equal_with<K: RowKeys>(a: &[f32], b: &[f32], keys: &K) -> bool
        => rows_equal_body
}

/// Hash of the keys of `row` (identical at every instruction set).
pub(crate) fn hash_row<K: RowKeys>(row: &[f32], keys: &K) -> u64 {
    hash_row_with(isa(), row, keys)
}

fn rows_equal<K: RowKeys>(a: &[f32], b: &[f32], keys: &K) -> bool {
    rows_equal_with(isa(), a, b, keys)
}

/// Hasher for keys that already are well-mixed 64-bit hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = mix(self.0, b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type PassThroughMap<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

/// Number of threads for `work` elements spread over `rows` rows.
fn threads_for(work: usize, rows: usize) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    cores.min(work / MIN_WORK_PER_THREAD).min(rows).max(1)
}

/// Runs `f(first_row, chunk)` over `threads` contiguous chunks of `out`, on scoped threads.
fn for_each_chunk<T: Send, F: Fn(usize, &mut [T]) + Sync>(out: &mut [T], threads: usize, f: F) {
    if threads <= 1 || out.len() < 2 {
        f(0, out);
        return;
    }
    let chunk = out.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let mut parts = out.chunks_mut(chunk).enumerate();
        let (_, first) = parts.next().expect("out is non-empty");
        for (i, part) in parts {
            s.spawn(move || f(i * chunk, part));
        }
        f(0, first);
    });
}

/// Groups the `n` rows of `data` (`[n, d]`, row-major) by `keys`, using `hash` to find candidates.
///
/// Callers guarantee `data.len() == n * d`, `n >= 1`, `d >= 1`, `n <= u32::MAX`. `hash` must be a
/// function of the keys of a row only (it may be arbitrarily bad: correctness never depends on it).
pub(crate) fn group_rows_with<K, H>(data: &[f32], n: usize, d: usize, keys: &K, hash: &H) -> Symbols
where
    K: RowKeys,
    H: Fn(&[f32]) -> u64 + Sync,
{
    debug_assert_eq!(data.len(), n * d);
    let row = |r: usize| &data[r * d..(r + 1) * d];
    let threads = threads_for(n * d, n);

    // 1. Hash every row.
    let mut hashes = vec![0u64; n];
    for_each_chunk(&mut hashes, threads, |start, out| {
        for (i, h) in out.iter_mut().enumerate() {
            *h = hash(row(start + i));
        }
    });

    // 2. Candidate = first row with the same hash.
    let mut first: PassThroughMap<u32> = PassThroughMap::default();
    let cand: Vec<u32> = hashes
        .iter()
        .enumerate()
        .map(|(r, &h)| *first.entry(h).or_insert(r as u32))
        .collect();
    drop(first);

    // 3. Verify each row against its candidate.
    let mut ok = vec![false; n];
    for_each_chunk(&mut ok, threads, |start, out| {
        for (i, o) in out.iter_mut().enumerate() {
            let r = start + i;
            let c = cand[r] as usize;
            *o = c == r || rows_equal(row(c), row(r), keys);
        }
    });

    // 4. Dense ids in first-appearance order; rows that failed verification are hash collisions
    //    with a different row and are matched exactly against every representative of their hash.
    let mut ids = vec![0u32; n];
    let mut distinct: u32 = 0;
    let mut collided: PassThroughMap<Vec<u32>> = PassThroughMap::default();
    for r in 0..n {
        let c = cand[r] as usize;
        if c == r {
            ids[r] = distinct;
            distinct += 1;
        } else if ok[r] {
            ids[r] = ids[c];
        } else {
            let reps = collided.entry(hashes[r]).or_default();
            match reps
                .iter()
                .find(|&&q| rows_equal(row(q as usize), row(r), keys))
            {
                Some(&q) => ids[r] = ids[q as usize],
                None => {
                    reps.push(r as u32);
                    ids[r] = distinct;
                    distinct += 1;
                }
            }
        }
    }
    Symbols {
        ids,
        distinct: distinct as usize,
    }
}

/// Groups rows as [`group_rows_with`] does (the same ids): rows whose codes pack into a `u64` or
/// `u128` ([`RowKeys::code_bits`] · `d` bits) by the packed word (the `packed` module), others by
/// the production row hash.
pub(crate) fn group_rows<K: RowKeys>(data: &[f32], n: usize, d: usize, keys: &K) -> Symbols {
    match keys.code_bits().map(|b| (b, d as u64 * b as u64)) {
        Some((bits, total)) if total <= 64 => {
            packed::group_packed::<u64, K>(data, n, d, bits, keys)
        }
        Some((bits, total)) if total <= 128 => {
            packed::group_packed::<u128, K>(data, n, d, bits, keys)
        }
        _ => group_rows_hashed(data, n, d, keys),
    }
}

/// [`group_rows_with`] using the production row hash (every scheme, every width).
pub(crate) fn group_rows_hashed<K: RowKeys>(data: &[f32], n: usize, d: usize, keys: &K) -> Symbols {
    group_rows_with(data, n, d, keys, &|r: &[f32]| hash_row(r, keys))
}

mod packed;

#[cfg(test)]
mod tests;
