//! Unit tests of `rows` (private items).

use super::*;
use crate::binning::{Binner, Binning};
use crate::keys::ExactKeys;

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

fn floor_quarter() -> crate::binning::FloorBins {
    match (Binning::Floor { width: 0.25 }).binner().unwrap() {
        Binner::Floor(b) => b,
        _ => unreachable!(),
    }
}

#[test]
fn colliding_hashes_never_merge_rows() {
    // A constant hash makes every row a collision candidate of every other: only the exact
    // comparison separates them.
    let keys = floor_quarter();
    let key = |x: f32| keys.bin(x);
    for (n, d) in [(200, 1), (200, 2), (300, 3), (64, 7), (40, 130)] {
        let m = data(n, d);
        let want = naive(&m, d, &key);
        let got = group_rows_with(&m, n, d, &keys, &|_: &[f32]| 0);
        assert_eq!(got.ids, want, "constant hash, n={n} d={d}");
        let got = group_rows_with(&m, n, d, &keys, &|r: &[f32]| (r[0] > 0.0) as u64);
        assert_eq!(got.ids, want, "two-valued hash, n={n} d={d}");
        let got = group_rows(&m, n, d, &keys);
        assert_eq!(got.ids, want, "real hash, n={n} d={d}");
        assert_eq!(got.distinct, *want.iter().max().unwrap() as usize + 1);
    }
}

#[test]
fn single_element_changes_change_the_hash() {
    for d in [1, 7, 64, 100, 1024] {
        let base = vec![0.0f32; d];
        let h0 = hash_row(&base, &ExactKeys);
        assert_eq!(
            h0,
            hash_row_body(&base, &ExactKeys),
            "dispatch must not change the hash"
        );
        for j in 0..d {
            let mut r = base.clone();
            r[j] = 1.0;
            assert_ne!(hash_row(&r, &ExactKeys), h0, "d={d} column {j}");
        }
    }
}

#[test]
fn sign_swaps_within_a_lane_change_the_hash() {
    // Floor keys of 1.0 and -1.0 differ only in bit 63. Without the rotation in `mix`, a
    // difference in bit 63 never leaves bit 63, so swapping the signs at two columns of the same
    // lane (j and j + LANES) would cancel and collide every time.
    let keys = floor_quarter();
    let mut a = vec![0.0f32; 64];
    let mut b = a.clone();
    (a[3], a[3 + LANES]) = (1.0, -1.0);
    (b[3], b[3 + LANES]) = (-1.0, 1.0);
    assert_ne!(hash_row(&a, &keys), hash_row(&b, &keys));
}

#[test]
fn dispatched_kernels_agree_with_the_baseline_build() {
    // The AVX2 build (when this CPU has it) must give the very same hashes and verdicts.
    let (n, d) = (64, 150);
    let m = data(n, d);
    let row = |r: usize| &m[r * d..(r + 1) * d];
    let fixed = match (Binning::Fixed {
        lo: -1.0,
        hi: 1.0,
        edges: 30,
    })
    .binner()
    .unwrap()
    {
        Binner::Fixed(b) => b,
        _ => unreachable!(),
    };
    for r in 0..n {
        assert_eq!(hash_row(row(r), &fixed), hash_row_body(row(r), &fixed));
        assert_eq!(
            hash_row(row(r), &ExactKeys),
            hash_row_body(row(r), &ExactKeys)
        );
        for q in 0..n {
            let (a, b) = (row(r), row(q));
            assert_eq!(rows_equal(a, b, &fixed), rows_equal_body(a, b, &fixed));
        }
    }
}

#[test]
fn threaded_passes_agree_with_single_thread() {
    // Large enough to cross MIN_WORK_PER_THREAD (when the machine has more than one core).
    let (n, d) = (4096, 64);
    let m = data(n, d);
    let keys = floor_quarter();
    assert_eq!(
        group_rows(&m, n, d, &keys).ids,
        naive(&m, d, &|x| keys.bin(x))
    );
}
