//! Unit tests of `rows` (private items).

use super::*;
use crate::binning::{Binner, Binning, FixedBins};
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

/// The binner of fixed binning with `edges` edges on [-1, 1].
fn fixed_bins(edges: usize) -> FixedBins {
    match Binning::fixed(-1.0, 1.0, edges).binner().unwrap() {
        Binner::Fixed(b) => b,
        _ => unreachable!("fixed binning"),
    }
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
    let fixed = fixed_bins(30);
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

fn check_isas<K: RowKeys>(vals: &[f32], n: usize, d: usize, keys: &K, what: &str) {
    let rows: Vec<&[f32]> = vals.chunks(d).take(n).collect();
    for isa in supported_isas() {
        for (r, row) in rows.iter().enumerate() {
            let h = hash_row_with(isa, row, keys);
            let h0 = hash_row_with(Isa::Baseline, row, keys);
            assert_eq!(h, h0, "{isa:?} hash of row {r} under {what}");
            for (q, other) in rows.iter().enumerate() {
                let eq = rows_equal_with(isa, row, other, keys);
                let eq0 = rows_equal_with(Isa::Baseline, row, other, keys);
                assert_eq!(eq, eq0, "{isa:?} rows {r}, {q} under {what}");
            }
        }
    }
}

#[test]
fn every_instruction_set_gives_the_same_hashes_and_comparisons() {
    // Values on and next to bin edges, NaN, ±inf, subnormals, huge values: where a vectorised
    // f64 key computation could differ from the scalar one if it were not exact.
    let mut vals: Vec<f32> = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::MIN_POSITIVE / 2.0,
        1e30,
        -1e30,
    ];
    for k in 0..30 {
        let f = (-1.0 + 2.0 * k as f64 / 29.0) as f32;
        vals.extend([f, f.next_up(), f.next_down()]);
    }
    let mut s = 0x9E37_u64;
    let (n, d) = (8, 200);
    while vals.len() < n * d {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1);
        vals.push(((s >> 40) as f32 / (1u64 << 24) as f32) * 2.4 - 1.2);
    }
    // Rows 6 and 7 equal rows 0 and 1 up to one element, so comparisons are not all false.
    let (head, tail) = vals.split_at_mut(6 * d);
    tail[..2 * d].copy_from_slice(&head[..2 * d]);
    tail[d + 17] = 0.5;
    check_isas(&vals, n, d, &fixed_bins(30), "fixed 30 edges");
    match (Binning::Floor { width: 0.07 }).binner().unwrap() {
        Binner::Floor(b) => check_isas(&vals, n, d, &b, "floor 0.07"),
        _ => unreachable!("floor binning"),
    }
    check_isas(&vals, n, d, &ExactKeys, "exact");
}

/// Values from a small set (rows repeat and differ in single columns) with the specials: NaN,
/// ±inf, ±0, values outside `[-1, 1]`, exact bin edges and their neighbours.
fn special_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut pool = vec![
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        -3.0,
        2.5,
        1.0,
    ];
    for k in [0, 7, 14, 28] {
        let f = (-1.0 + 2.0 * k as f64 / 29.0) as f32;
        pool.extend([f, f.next_up(), f.next_down()]);
    }
    let mut s = seed;
    (0..n * d)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Mostly one value, so that many rows repeat even at d = 30.
            let i = (s >> 59) as usize;
            if i < 24 {
                0.5
            } else {
                pool[(s >> 32) as usize % pool.len()]
            }
        })
        .collect()
}

#[test]
fn packed_words_group_like_the_hash_path() {
    // Fixed, 30 edges: 5-bit codes, so d <= 12 packs into a u64, d <= 25 into a u128, wider rows
    // take the hash; 3 edges: 2-bit codes (u64 up to d = 32, exactly 64 bits). Edge arrays: 2 edges
    // (2 bits) and 40 (6 bits). Rows counts cross the threading threshold at d = 25.
    let edges = |k: usize| {
        let e: Vec<f32> = (0..k).map(|i| -1.0 + 2.0 * i as f32 / k as f32).collect();
        crate::adaptive::EdgeBins::new(e).unwrap()
    };
    let mut packed_cases = 0;
    for d in [1, 2, 10, 12, 13, 25, 26, 32, 33, 64, 65] {
        for n in [1, 3, 500, 6000] {
            let m = special_rows(n, d, (n * 131 + d) as u64);
            for (what, keys) in [("fixed 30", fixed_bins(30)), ("fixed 3", fixed_bins(3))] {
                let bits = keys.code_bits().unwrap();
                packed_cases += (d as u32 * bits <= 128) as usize;
                let want = naive(&m, d, &|x| keys.bin(x));
                let got = group_rows(&m, n, d, &keys);
                assert_eq!(
                    got,
                    group_rows_hashed(&m, n, d, &keys),
                    "{what} n={n} d={d}"
                );
                assert_eq!(got.ids, want, "{what} n={n} d={d}");
                assert_eq!(got.distinct, *want.iter().max().unwrap() as usize + 1);
            }
            for k in [2, 40] {
                let keys = edges(k);
                let want = naive(&m, d, &|x| keys.bin(x));
                assert_eq!(
                    group_rows(&m, n, d, &keys).ids,
                    want,
                    "edges {k} n={n} d={d}"
                );
            }
        }
    }
    assert!(
        packed_cases >= 20,
        "the packed path ran {packed_cases} times"
    );
}

#[test]
fn packed_words_are_the_same_at_every_instruction_set() {
    let (n, d) = (300, 20);
    let m = special_rows(n, d, 7);
    let keys = fixed_bins(30);
    let mut base = vec![0u128; n];
    packed::pack_with(Isa::Baseline, &m, d, 5, &keys, &mut base);
    // Column j's code sits at bits 5j: decode and compare with the scalar bins.
    for (r, &w) in base.iter().enumerate() {
        for j in 0..d {
            let code = (w >> (5 * j) & 31) as i64;
            let b = keys.bin(m[r * d + j]);
            assert_eq!(
                code,
                if b == crate::binning::NAN_BIN { 29 } else { b },
                "row {r} col {j}"
            );
        }
    }
    for isa in supported_isas() {
        let mut words = vec![0u128; n];
        packed::pack_with(isa, &m, d, 5, &keys, &mut words);
        assert_eq!(words, base, "{isa:?}");
    }
}
