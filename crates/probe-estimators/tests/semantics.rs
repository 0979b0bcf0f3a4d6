//! The documented binning semantics, observed through the public API: edges, clamping, NaN, ±inf,
//! negative floor bins.

use probe_estimators::binning::{NAN_BIN, NEG_INF_BIN, POS_INF_BIN};
use probe_estimators::{binned_symbols, Binning};

fn ids(values: &[f32], binning: &Binning) -> Vec<u32> {
    binned_symbols(values, values.len(), 1, binning)
        .unwrap()
        .ids
}

#[test]
fn values_on_fixed_edges_and_out_of_range_are_clamped() {
    // linspace(-1, 1, 3) = (-1, 0, 1): bins [-1, 0) = 0 and [0, 1] = 1.
    let b = Binning::fixed(-1.0, 1.0, 3);
    let binner = b.binner().unwrap();
    let xs = [0.0f32, -1.0, 1.0, 1.5, -7.0, -0.0, -1e-30];
    let bins: Vec<i64> = xs.iter().map(|&x| binner.bin(x)).collect();
    assert_eq!(bins, [1, 0, 1, 1, 0, 1, 0]);
    // Same through row grouping: ids in first-appearance order.
    assert_eq!(ids(&xs, &b), [0, 1, 0, 0, 1, 0, 1]);
}

#[test]
fn values_below_lo_do_not_wrap_to_the_top_bin() {
    // Regression guard for the IDNNs bug (digitize 0 -> bins[-1] = top bin).
    let b = Binning::DEFAULT_FIXED.binner().unwrap();
    assert_eq!(b.bin(-1.5), 0);
    assert_ne!(b.bin(-1.5), b.bin(0.99));
    assert_eq!(
        b.bin(1.0),
        b.bin(0.99),
        "tanh saturation at 1.0 joins the top interval"
    );
}

#[test]
fn nan_and_inf_under_fixed_bins() {
    let b = Binning::DEFAULT_FIXED;
    let binner = b.binner().unwrap();
    assert_eq!(binner.bin(f32::NAN), NAN_BIN);
    assert_eq!(binner.bin(f32::INFINITY), 28);
    assert_eq!(binner.bin(f32::NEG_INFINITY), 0);
    // NaNs (any sign/payload) share a bin of their own; ±inf join the end bins.
    let xs = [
        f32::NAN,
        0.99,
        -0.99,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -f32::NAN,
        f32::from_bits(0x7fc0_0001),
    ];
    assert_eq!(ids(&xs, &b), [0, 1, 2, 1, 2, 0, 0]);
}

#[test]
fn nan_and_inf_under_floor_bins() {
    let b = Binning::Floor { width: 1.0 };
    let binner = b.binner().unwrap();
    assert_eq!(binner.bin(f32::INFINITY), POS_INF_BIN);
    assert_eq!(binner.bin(f32::NEG_INFINITY), NEG_INF_BIN);
    assert_eq!(binner.bin(f32::NAN), NAN_BIN);
    // +inf, -inf, NaN and the largest finite values: five different bins.
    let xs = [
        f32::INFINITY,
        f32::MAX,
        f32::NEG_INFINITY,
        f32::MIN,
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
    ];
    assert_eq!(ids(&xs, &b), [0, 1, 2, 3, 4, 4, 0]);
}

#[test]
fn floor_bins_of_negative_values() {
    let b = Binning::Floor { width: 0.5 };
    let binner = b.binner().unwrap();
    assert_eq!(binner.bin(-0.01), -1);
    assert_eq!(binner.bin(-0.5), -1);
    assert_eq!(binner.bin(-0.500_001), -2);
    assert_eq!(binner.bin(0.01), 0);
    assert_eq!(binner.bin(-0.0), 0);
    assert_eq!(ids(&[-0.01, -0.4, 0.01, -0.0, 0.0], &b), [0, 0, 1, 1, 1]);
}

#[test]
fn fixed_edges_are_numpy_linspace() {
    let e = Binning::DEFAULT_FIXED.edges().unwrap();
    let step = 2.0 / 29.0;
    for (i, &v) in e.iter().enumerate().take(29) {
        assert_eq!(v, -1.0 + i as f64 * step, "edge {i}");
    }
    assert_eq!(e[29], 1.0, "last edge is exactly hi");
    assert_eq!(Binning::Floor { width: 1.0 }.edges(), None);
}
