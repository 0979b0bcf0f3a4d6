//! The host-side preparation of the CUDA kernels, checked against the CPU binners.

use super::*;
use crate::adaptive::EdgeBins;
use crate::binning::Binning;
use crate::test_values::tricky;

#[test]
fn ceil_f32_is_the_smallest_f32_at_or_above() {
    for e in [
        0.1f64, -0.1, 1.0, -1.0, 1e-50, -1e-50, 3.5e38, -3.5e38, 1e300, -1e300, 0.0,
    ] {
        let t = ceil_f32(e);
        assert!(t as f64 >= e, "{e}: {t}");
        let below = -next_up(-t);
        assert!((below as f64) < e, "{e}: {below} is below and still >= e");
    }
    assert_eq!(ceil_f32(3.5e38), f32::INFINITY);
    assert_eq!(ceil_f32(-3.5e38), f32::MIN);
}

#[test]
fn threshold_codes_equal_the_cpu_bins() {
    let fixed = [
        (-1.0, 1.0, 30),
        (-0.5, 2.0, 7),
        (-1.0, 2.0, 69),
        (-1.0, 1.0, 2),
        (0.0, 1e-30, 5),
        (-3e38, 3e38, 10),
        (-1e300, 1e300, 4),
        (0.1, 0.7, 1000),
    ];
    for (lo, hi, edges) in fixed {
        let binning = Binning::Fixed { lo, hi, edges };
        let binner = binning.binner().unwrap();
        let plan = BinPlan::new(&binner);
        let BinPlan::Thresholds {
            ref thr, search, ..
        } = plan
        else {
            panic!("Fixed must give thresholds")
        };
        assert_eq!(thr.len(), edges - 2);
        assert!(!search);
        assert!(thr.windows(2).all(|w| w[0] <= w[1]), "{binning:?}");
        for x in tricky(&binning.edges().unwrap()) {
            let want = match binner.bin(x) {
                crate::binning::NAN_BIN => edges as u32 - 1,
                b => b as u32,
            };
            assert_eq!(plan.code(x), Some(want), "{binning:?} at {x:e}");
        }
    }
    for edges in [
        vec![-1.0f32, -0.25, -0.25, 0.0, 0.5, 0.5, 0.5, 1.0],
        vec![],
        vec![0.0],
        (0..300).map(|i| (i as f32 - 150.0) * 0.01).collect(),
    ] {
        let binner = Binner::Edges(EdgeBins::new(edges.clone()).unwrap());
        let plan = BinPlan::new(&binner);
        let bounds: Vec<f64> = edges.iter().map(|&e| e as f64).collect();
        for x in tricky(&bounds) {
            let want = match binner.bin(x) {
                crate::binning::NAN_BIN => edges.len() as u32 + 1,
                b => b as u32,
            };
            assert_eq!(plan.code(x), Some(want), "{} edges at {x:e}", edges.len());
        }
    }
    let floor = Binning::Floor { width: 0.5 }.binner().unwrap();
    assert_eq!(BinPlan::new(&floor), BinPlan::Floor { width: 0.5 });
}

#[test]
fn fixed_guess_lands_on_the_bin_for_idnns_edges() {
    // Not needed for exactness (the kernels walk from any guess), but it is what makes them fast.
    let binner = Binning::DEFAULT_FIXED.binner().unwrap();
    let plan = BinPlan::new(&binner);
    let BinPlan::Thresholds {
        t0, inv, ref thr, ..
    } = plan
    else {
        unreachable!()
    };
    let m = thr.len() as f32;
    let mut off = 0;
    for i in -1200..=1200 {
        let x = i as f32 * 0.001;
        let f = (x - t0) * inv;
        let g = if f >= 0.0 { f.min(m) as u32 } else { 0 };
        off = off.max((g as i64 - plan.code(x).unwrap() as i64).abs());
    }
    assert!(off <= 1, "guess off by {off}");
}

#[test]
fn key_layout_packs_codes_injectively() {
    for (edges, d, bits, per, limbs) in [(30, 12, 5, 6, 2), (2, 5, 1, 32, 1), (3, 64, 2, 16, 4)] {
        let binner = Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            edges,
        }
        .binner()
        .unwrap();
        let l = KeyLayout::new(&BinPlan::new(&binner), d);
        assert_eq!(
            (l.bits, l.per, l.limbs),
            (bits, per, limbs),
            "edges {edges}, d {d}"
        );
        // Every code 0..=edges-1 (NaN = edges - 1) fits, and `per` codes fit in 32 bits.
        assert!(1u64 << l.bits > edges as u64 - 1);
        assert!(l.bits * l.per <= 32);
    }
    let floor = BinPlan::Floor { width: 0.5 };
    assert_eq!(KeyLayout::new(&floor, 1024).limbs, 2048);
    let lanes = |d| 1u32 << KeyLayout::new(&floor, d).glog;
    assert_eq!(
        (lanes(12), lanes(20), lanes(100), lanes(1024)),
        (1, 2, 8, 32)
    );
}

#[test]
fn coefficients_are_deterministic_residues() {
    let c = coefficients(500, KEY_SEED);
    assert_eq!(c.len(), 1000);
    assert_eq!(c, coefficients(500, KEY_SEED));
    assert_ne!(c, coefficients(500, KEY_SEED + 1));
    assert!(c.iter().all(|&v| v < (1 << 61) - 1));
    // Uniform on [0, 2^61): the mean of 1000 draws is within 5 standard errors of 2^60.
    let mean = c.iter().map(|&v| v as f64).sum::<f64>() / c.len() as f64;
    let se = 2f64.powi(61) / 12f64.sqrt() / (c.len() as f64).sqrt();
    assert!((mean - 2f64.powi(60)).abs() < 5.0 * se, "{mean:e}");
}

#[test]
fn dense_labels_keep_the_partition() {
    let sparse = [7u32, u32::MAX, 7, 3, u32::MAX, 7];
    let dense = [7u32, 9, 7, 3, 9, 7];
    for l in [&sparse[..], &dense[..]] {
        let d = DenseLabels::new(l);
        assert_eq!(d.ids, vec![0, 1, 0, 2, 1, 0]);
        assert_eq!(d.groups, vec![3, 2, 1]);
        assert_eq!(d.distinct_sizes(), 3);
    }
}

#[test]
fn table_sizes_bound_the_distinct_terms() {
    // kc(kc+1)/2 <= n: n = 6 allows counts {1, 2, 3} (3 distinct), n = 5 only 2.
    let s = TableSizes::new(6, 1, 1).unwrap();
    assert_eq!((s.log_cap, s.log_runs), (4, 3)); // 16 >= 12 slots; 8 >= 2 * 3
    assert_eq!(TableSizes::new(5, 1, 1).unwrap().log_runs, 2);
    // 60 000 test images, 10 classes of various sizes, distinct inputs.
    let s = TableSizes::new(60_000, 1, 10).unwrap();
    assert_eq!(s.log_cap, 17);
    assert!(1u64 << s.log_runs >= 2 * 345 * 10);
    assert!(TableSizes::new(0, 1, 1).is_err());
    assert!(TableSizes::new(MAX_ROWS + 1, 1, 1).is_err());
}
