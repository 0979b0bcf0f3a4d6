//! Test inputs shared by unit tests: the `f32` values where a bin decision is most likely to go
//! wrong (the binners' fast paths, `keys` and `kernel_plan`), and reproducible pseudo-random
//! numbers (the KDE's unit tests).

/// Pseudo-random numbers in `[0, 1)` from `seed` (an LCG; reproducible, no dependency).
pub(crate) fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed;
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Specials (±0, NaN of both signs, ±∞, the extremes, the smallest normal and subnormal), large
/// magnitudes, a grid on [-3, 3], and every boundary in `bounds` (edges or multiples of the
/// width) as the nearest `f32` and one ulp either side, each with both signs.
pub(crate) fn tricky(bounds: &[f64]) -> Vec<f32> {
    let mut v = vec![
        0.0,
        -0.0,
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ];
    v.extend([
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
    ]);
    v.extend([4.5e15, -4.5e15, 9.3e18, -9.3e18, 1e30, -1e30, 3e38, -3e38]);
    let grid = (-300i32..=300).map(|i| i as f64 * 0.01);
    for e in bounds.iter().copied().chain(grid) {
        let x = e as f32;
        let up = f32::from_bits(x.to_bits().wrapping_add(1));
        let down = f32::from_bits(x.to_bits().wrapping_sub(1));
        v.extend([x, up, down, -x, -up, -down]);
    }
    v
}
