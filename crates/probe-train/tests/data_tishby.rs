//! Ground truth for the built-in 12-bit data set, from docs/references.md.

use probe_train::data::{tishby12, tishby12_label};
use std::collections::HashSet;

#[test]
fn has_4096_rows_of_12_binary_features_and_2_classes() {
    let ds = tishby12();
    assert_eq!((ds.n, ds.d, ds.classes), (4096, 12, 2));
    assert_eq!(ds.x.len(), 4096 * 12);
    assert_eq!(ds.y.len(), 4096);
    assert!(ds.image_shape.is_none());
    assert!(ds.x.iter().all(|&v| v == 0.0 || v == 1.0));
    assert!(ds.y.iter().all(|&y| y < 2));
}

#[test]
fn has_2118_positives() {
    let ds = tishby12();
    assert_eq!(ds.y.iter().filter(|&&y| y == 1).count(), 2118);
    assert_eq!(ds.class_counts(), vec![1978, 2118]);
}

#[test]
fn label_entropy_is_0_99916_bits() {
    // Published value, to the 5 decimals given: |H - 0.99916| must be below 1e-5.
    let h = tishby12().label_entropy_bits();
    assert!((h - 0.99916).abs() < 1e-5, "H(Y) = {h}");
}

#[test]
fn first_row_all_zeros_negative_last_row_all_ones_positive() {
    let ds = tishby12();
    assert!(ds.row(0).iter().all(|&v| v == 0.0));
    assert_eq!(ds.y[0], 0);
    assert!(ds.row(4095).iter().all(|&v| v == 1.0));
    assert_eq!(ds.y[4095], 1);
}

#[test]
fn row_r_holds_bits_of_r_msb_first() {
    let ds = tishby12();
    for r in 0..4096usize {
        let value = ds
            .row(r)
            .iter()
            .fold(0usize, |acc, &b| (acc << 1) | b as usize);
        assert_eq!(value, r, "row {r}");
        assert_eq!(ds.y[r], tishby12_label(r as u16));
    }
    // Column 0 is the most significant bit: row 2048 = 1000_0000_0000.
    assert_eq!(ds.row(2048)[0], 1.0);
    assert!(ds.row(2048)[1..].iter().all(|&v| v == 0.0));
}

#[test]
fn weight_at_most_4_is_negative_at_least_8_is_positive() {
    let ds = tishby12();
    for r in 0..4096usize {
        let w = (r as u32).count_ones();
        if w <= 4 {
            assert_eq!(ds.y[r], 0, "row {r} weight {w}");
        }
        if w >= 8 {
            assert_eq!(ds.y[r], 1, "row {r} weight {w}");
        }
    }
}

#[test]
fn rows_are_distinct() {
    let ds = tishby12();
    let rows: HashSet<Vec<u32>> = (0..ds.n)
        .map(|i| ds.row(i).iter().map(|v| v.to_bits()).collect())
        .collect();
    assert_eq!(rows.len(), 4096);
}

#[test]
fn subset_picks_rows_in_order() {
    let ds = tishby12();
    let sub = ds.subset(&[4095, 0, 5]);
    assert_eq!(sub.n, 3);
    assert_eq!(sub.d, 12);
    assert_eq!(sub.y, vec![1, 0, ds.y[5]]);
    assert_eq!(sub.row(2), ds.row(5));
    assert_eq!(sub.classes, 2);
}

#[test]
fn label_entropy_edge_cases() {
    let ds = tishby12();
    assert_eq!(ds.subset(&[]).label_entropy_bits(), 0.0);
    // One class only: zero entropy.
    assert_eq!(ds.subset(&[0, 1, 2]).label_entropy_bits(), 0.0);
    // One of each: exactly 1 bit.
    assert!((ds.subset(&[0, 4095]).label_entropy_bits() - 1.0).abs() < 1e-12);
}
