//! The 12-bit data set of Shwartz-Ziv & Tishby (2017), generated in closed form.
//!
//! X is all 4096 patterns of 12 bits in binary order: row `r` holds the bits of `r`, column 0 the
//! most significant bit, as `0.0` / `1.0`. The label follows a closed-form rule that reproduces the
//! published `var_u.mat` for every row (see `docs/references.md`): with `w` set bits and, over all
//! pairs `a < b` of set bits, `nP` / `nS` / `nB` pairs in classes P / S / B,
//! `y = 1 ⇔ 23·w − 8·nP − 5·nS + nB ≥ 99`. 2118 of the 4096 labels are 1; H(Y) = 0.99916 bits.
//!
//! ```
//! use probe_train::data::{tishby12, tishby12_label};
//! let ds = tishby12();
//! assert_eq!(ds.row(5), &[0., 0., 0., 0., 0., 0., 0., 0., 0., 1., 0., 1.]);
//! assert_eq!(ds.y[4095], 1);
//! assert_eq!(tishby12_label(0), 0);
//! ```

use super::Dataset;

/// Number of input bits (columns) of the 12-bit data set.
pub const TISHBY12_BITS: usize = 12;

/// Pairs of bit columns `(a, b)`, `a < b`, in class P. Column 0 is the most significant bit.
const PAIRS_P: [(u8, u8); 6] = [(0, 9), (1, 7), (2, 5), (3, 6), (4, 10), (8, 11)];

/// Pairs of bit columns in class S. All 66 − 6 − 30 other pairs are class B.
const PAIRS_S: [(u8, u8); 30] = [
    (0, 2),
    (0, 4),
    (0, 6),
    (0, 7),
    (0, 8),
    (1, 5),
    (1, 6),
    (1, 8),
    (1, 9),
    (1, 10),
    (2, 6),
    (2, 7),
    (2, 10),
    (2, 11),
    (3, 4),
    (3, 5),
    (3, 7),
    (3, 9),
    (3, 11),
    (4, 5),
    (4, 7),
    (4, 8),
    (5, 8),
    (5, 9),
    (6, 8),
    (6, 10),
    (7, 11),
    (9, 10),
    (9, 11),
    (10, 11),
];

/// Weight of a pair in the score: P pairs −8, S pairs −5, B pairs +1.
fn pair_weight(a: usize, b: usize) -> i32 {
    let pair = (a as u8, b as u8);
    if PAIRS_P.contains(&pair) {
        -8
    } else if PAIRS_S.contains(&pair) {
        -5
    } else {
        1
    }
}

/// Whether bit column `c` (0 = most significant of 12) is set in `pattern`.
fn column_bit(pattern: u16, c: usize) -> bool {
    (pattern >> (TISHBY12_BITS - 1 - c)) & 1 == 1
}

/// The label (0 or 1) of a 12-bit pattern; bit 11 of `pattern` is column 0. Bits above 11 are
/// ignored.
pub fn tishby12_label(pattern: u16) -> u32 {
    let set: Vec<usize> = (0..TISHBY12_BITS)
        .filter(|&c| column_bit(pattern, c))
        .collect();
    let mut score = 23 * set.len() as i32;
    for (i, &a) in set.iter().enumerate() {
        for &b in &set[i + 1..] {
            score += pair_weight(a, b);
        }
    }
    u32::from(score >= 99)
}

/// The full 12-bit data set: `[4096, 12]` features in `{0.0, 1.0}`, 2 classes, name `tishby12`.
pub fn tishby12() -> Dataset {
    let n = 1usize << TISHBY12_BITS;
    let mut x = Vec::with_capacity(n * TISHBY12_BITS);
    let mut y = Vec::with_capacity(n);
    for r in 0..n {
        let pattern = r as u16;
        x.extend((0..TISHBY12_BITS).map(|c| if column_bit(pattern, c) { 1.0f32 } else { 0.0 }));
        y.push(tishby12_label(pattern));
    }
    Dataset {
        name: "tishby12".to_string(),
        x,
        y,
        n,
        d: TISHBY12_BITS,
        classes: 2,
        image_shape: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pair classes must partition all 66 pairs: 6 P, 30 S, 30 B, no pair listed twice.
    #[test]
    fn pair_classes_partition_all_pairs() {
        let mut seen = std::collections::HashSet::new();
        for &(a, b) in PAIRS_P.iter().chain(PAIRS_S.iter()) {
            assert!(a < b && (b as usize) < TISHBY12_BITS, "bad pair ({a},{b})");
            assert!(seen.insert((a, b)), "pair ({a},{b}) listed twice");
        }
        let n_b = (0..12)
            .flat_map(|a| (a + 1..12).map(move |b| (a, b)))
            .filter(|&(a, b)| pair_weight(a, b) == 1)
            .count();
        assert_eq!(n_b, 30);
    }

    #[test]
    fn single_bits_are_negative_all_bits_positive() {
        for c in 0..12 {
            assert_eq!(tishby12_label(1 << c), 0);
        }
        assert_eq!(tishby12_label(0x0fff), 1);
        // Bits above the 12th are ignored.
        assert_eq!(tishby12_label(0xf000), 0);
    }
}
