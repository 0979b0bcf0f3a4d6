//! Exact grouping of the rows of a row-major `[n, d]` `f32` matrix by a per-element key.
//!
//! Two rows belong together iff `key(a[j]) == key(b[j])` for every column `j`. A 64-bit hash of the
//! keys only proposes a candidate (the first earlier row with the same hash); the candidate is then
//! verified element by element, and rows that fail verification go through an exact slow path, so
//! no hash collision can ever merge two rows. Nothing of size `[n, d]` is materialised: keys are
//! recomputed from the raw values when two rows are compared (after a cheap raw-bits check).
//!
//! Work is split in four passes; the two `O(n·d)` ones run on scoped threads over row ranges:
//! 1. hash every row (parallel);
//! 2. map each row to the first row with its hash (sequential, `O(n)`);
//! 3. verify each row against that candidate (parallel);
//! 4. assign dense ids in first-appearance order (sequential; exact fallback for collisions).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// Odd 64-bit multiplier (2^64 / golden ratio).
const MUL: u64 = 0x9E37_79B9_7F4A_7C15;
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

/// One mixing step: a bijection in `h` for fixed `v` and in `v` for fixed `h`, so two sequences
/// that differ in exactly one element never collide within a lane.
#[inline(always)]
fn mix(h: u64, v: i64) -> u64 {
    (h ^ v as u64).wrapping_mul(MUL).rotate_left(26)
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

/// Hash of the keys of one row; four independent lanes keep the multiply chains short.
#[inline]
pub(crate) fn hash_row<K: Fn(f32) -> i64>(row: &[f32], key: &K) -> u64 {
    let mut l = [1u64, 2, 3, 4];
    let mut chunks = row.chunks_exact(4);
    for c in &mut chunks {
        l[0] = mix(l[0], key(c[0]));
        l[1] = mix(l[1], key(c[1]));
        l[2] = mix(l[2], key(c[2]));
        l[3] = mix(l[3], key(c[3]));
    }
    for (lane, &x) in l.iter_mut().zip(chunks.remainder()) {
        *lane = mix(*lane, key(x));
    }
    fmix(l[0] ^ fmix(l[1] ^ fmix(l[2] ^ fmix(l[3]))))
}

/// Whether two rows have equal keys everywhere (equal raw bits imply equal keys).
#[inline]
fn rows_equal<K: Fn(f32) -> i64>(a: &[f32], b: &[f32], key: &K) -> bool {
    a.iter()
        .zip(b)
        .all(|(&x, &y)| x.to_bits() == y.to_bits() || key(x) == key(y))
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
            self.0 = mix(self.0, b as i64);
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

/// Groups the `n` rows of `data` (`[n, d]`, row-major) by `key`, using `hash` to find candidates.
///
/// Callers guarantee `data.len() == n * d`, `n >= 1`, `d >= 1`, `n <= u32::MAX`. `hash` must be a
/// function of the keys of a row only (it may be arbitrarily bad: correctness never depends on it).
pub(crate) fn group_rows_with<K, H>(data: &[f32], n: usize, d: usize, key: &K, hash: &H) -> Symbols
where
    K: Fn(f32) -> i64 + Sync,
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
            *o = c == r || rows_equal(row(c), row(r), key);
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
                .find(|&&q| rows_equal(row(q as usize), row(r), key))
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

/// [`group_rows_with`] using the production row hash.
pub(crate) fn group_rows<K: Fn(f32) -> i64 + Sync>(
    data: &[f32],
    n: usize,
    d: usize,
    key: &K,
) -> Symbols {
    group_rows_with(data, n, d, key, &|r: &[f32]| hash_row(r, key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(data: &[f32], d: usize, key: &impl Fn(f32) -> i64) -> Vec<u32> {
        let mut seen = std::collections::BTreeMap::new();
        data.chunks(d)
            .map(|r| {
                let k: Vec<i64> = r.iter().map(|&x| key(x)).collect();
                let next = seen.len() as u32;
                *seen.entry(k).or_insert(next)
            })
            .collect()
    }

    fn data(n: usize, d: usize) -> Vec<f32> {
        // Deterministic values from a small set, so rows repeat and differ in single elements.
        let mut s = 0x1234_5678_u64;
        (0..n * d)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 61) as f32) * 0.25 - 0.5
            })
            .collect()
    }

    #[test]
    fn colliding_hashes_never_merge_rows() {
        // A constant hash makes every row a collision candidate of every other: only the exact
        // comparison separates them.
        let key = |x: f32| (x * 4.0).floor() as i64;
        for (n, d) in [(200, 1), (200, 2), (300, 3), (64, 7)] {
            let m = data(n, d);
            let want = naive(&m, d, &key);
            let got = group_rows_with(&m, n, d, &key, &|_: &[f32]| 0);
            assert_eq!(got.ids, want, "constant hash, n={n} d={d}");
            let got = group_rows_with(&m, n, d, &key, &|r: &[f32]| (r[0] > 0.0) as u64);
            assert_eq!(got.ids, want, "two-valued hash, n={n} d={d}");
            let got = group_rows(&m, n, d, &key);
            assert_eq!(got.ids, want, "real hash, n={n} d={d}");
            assert_eq!(got.distinct, *want.iter().max().unwrap() as usize + 1);
        }
    }

    #[test]
    fn single_element_changes_change_the_hash() {
        let key = |x: f32| x as i64;
        let base = vec![0.0f32; 1024];
        let h0 = hash_row(&base, &key);
        for j in 0..1024 {
            let mut r = base.clone();
            r[j] = 1.0;
            assert_ne!(hash_row(&r, &key), h0, "column {j}");
        }
    }

    #[test]
    fn threaded_passes_agree_with_single_thread() {
        // Large enough to cross MIN_WORK_PER_THREAD (when the machine has more than one core).
        let (n, d) = (4096, 64);
        let m = data(n, d);
        let key = |x: f32| (x * 4.0).floor() as i64;
        assert_eq!(group_rows(&m, n, d, &key).ids, naive(&m, d, &key));
    }
}
