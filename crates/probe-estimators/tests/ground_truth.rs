//! Ground-truth values of binned MI on the 12-bit data set and on small hand-worked examples.

mod common;

use common::{twelve_bit_inputs, twelve_bit_labels};
use probe_estimators::{binned_mi, entropy_bits, exact_symbols, BinnedMi, Binning};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const IDNNS: Binning = Binning::DEFAULT_FIXED;

fn x_ids() -> Vec<u32> {
    exact_symbols(&twelve_bit_inputs(), 4096, 12).unwrap().ids
}

/// tanh(x W) for a random W of shape [12, width].
fn random_tanh_layer(rng: &mut ChaCha8Rng, x: &[f32], width: usize, scale: f32) -> Vec<f32> {
    let w: Vec<f32> = (0..12 * width)
        .map(|_| rng.random_range(-scale..scale))
        .collect();
    x.chunks(12)
        .flat_map(|row| {
            let w = &w;
            (0..width).map(move |k| {
                (0..12)
                    .map(|j| row[j] * w[j * width + k])
                    .sum::<f32>()
                    .tanh()
            })
        })
        .collect()
}

#[test]
fn twelve_bit_labels_match_the_published_statistics() {
    // Guards the test fixture itself: 2118 ones, H(Y) = 0.99916 bits (docs/references.md).
    let y = twelve_bit_labels();
    assert_eq!(y.iter().filter(|&&v| v == 1).count(), 2118);
    assert!(
        (entropy_bits(&y) - 0.99916).abs() < 5e-6,
        "{}",
        entropy_bits(&y)
    );
    assert_eq!(
        exact_symbols(&twelve_bit_inputs(), 4096, 12)
            .unwrap()
            .distinct,
        4096
    );
}

#[test]
fn constant_layer_carries_no_information() {
    let y = twelve_bit_labels();
    for binning in [IDNNS, Binning::Floor { width: 0.07 }] {
        let acts = vec![0.3f32; 4096 * 5];
        let mi = binned_mi(&acts, 4096, 5, &binning, &x_ids(), &y).unwrap();
        assert_eq!(
            (mi.i_xt, mi.i_ty, mi.h_t, mi.distinct),
            (0.0, 0.0, 0.0, 1),
            "{binning:?}"
        );
    }
}

#[test]
fn identity_on_twelve_bits_gives_twelve_bits() {
    let x = twelve_bit_inputs();
    let y = twelve_bit_labels();
    let h_y = entropy_bits(&y);
    for binning in [
        IDNNS,
        Binning::Floor { width: 0.07 },
        Binning::Floor { width: 0.5 },
    ] {
        let mi = binned_mi(&x, 4096, 12, &binning, &x_ids(), &y).unwrap();
        assert_eq!(mi.distinct, 4096, "{binning:?}");
        assert!((mi.i_xt - 12.0).abs() < 1e-12, "{binning:?}: {}", mi.i_xt);
        assert_eq!(mi.h_t_given_x, 0.0);
        // T determines X determines Y, so I(T;Y) = H(Y).
        assert!(
            (mi.i_ty - h_y).abs() < 1e-12,
            "{binning:?}: {} vs {h_y}",
            mi.i_ty
        );
    }
}

#[test]
fn random_layers_obey_the_information_inequalities() {
    let x = twelve_bit_inputs();
    let y = twelve_bit_labels();
    let h_y = entropy_bits(&y);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut saw_partial = false;
    // Every binned kind: the fixed IDNNs bins, Saxe's floor bins, Chelombiev's adaptive bins.
    let kinds = [
        IDNNS,
        Binning::Floor { width: 0.07 },
        Binning::Adaptive { bins: 30 },
    ];
    for (width, binning) in [1, 2, 3, 5, 10]
        .into_iter()
        .flat_map(|w| kinds.iter().map(move |b| (w, b)))
    {
        for scale in [0.1f32, 0.5, 2.0] {
            let acts = random_tanh_layer(&mut rng, &x, width, scale);
            let mi = binned_mi(&acts, 4096, width, binning, &x_ids(), &y).unwrap();
            assert!(mi.i_ty <= h_y + 1e-12, "I(T;Y) {} > H(Y) {h_y}", mi.i_ty);
            assert!(
                mi.i_ty <= mi.i_xt + 1e-12,
                "I(T;Y) {} > I(X;T) {}",
                mi.i_ty,
                mi.i_xt
            );
            assert!(mi.i_xt <= 12.0 + 1e-12 && mi.i_ty >= 0.0);
            assert_eq!(
                mi.i_xt, mi.h_t,
                "deterministic layer on distinct X: I(X;T) = H(T)"
            );
            saw_partial |= mi.i_xt > 0.5 && mi.i_xt < 11.5;
        }
    }
    assert!(saw_partial, "the random layers should not all be trivial");
}

#[test]
fn layer_that_is_a_function_of_y_has_i_ty_equal_h_y() {
    let y = twelve_bit_labels();
    let h_y = entropy_bits(&y);
    // Column 0 = y (in {-0.5, 0.5}), columns 1..3 constant.
    let acts: Vec<f32> = y
        .iter()
        .flat_map(|&v| [v as f32 - 0.5, 0.2, -0.9])
        .collect();
    let mi = binned_mi(&acts, 4096, 3, &IDNNS, &x_ids(), &y).unwrap();
    assert_eq!(mi.distinct, 2);
    assert_eq!(mi.h_t_given_y, 0.0);
    assert!((mi.i_ty - h_y).abs() < 1e-12, "{} vs {h_y}", mi.i_ty);
    assert!((mi.i_xt - h_y).abs() < 1e-12);
}

#[test]
fn permuting_samples_changes_nothing() {
    let x = twelve_bit_inputs();
    let y = twelve_bit_labels();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let acts = random_tanh_layer(&mut rng, &x, 4, 0.7);
    // A stochastic X (repeated rows) too, so H(T|X) > 0 is permuted as well.
    let xr: Vec<u32> = (0..4096).map(|r| r % 300).collect();
    let base = binned_mi(&acts, 4096, 4, &IDNNS, &xr, &y).unwrap();
    assert!(base.h_t_given_x > 0.0);
    let mut perm: Vec<usize> = (0..4096).collect();
    perm.shuffle(&mut rng);
    let pa: Vec<f32> = perm
        .iter()
        .flat_map(|&r| acts[r * 4..r * 4 + 4].to_vec())
        .collect();
    let px: Vec<u32> = perm.iter().map(|&r| xr[r]).collect();
    let py: Vec<u32> = perm.iter().map(|&r| y[r]).collect();
    let permuted = binned_mi(&pa, 4096, 4, &IDNNS, &px, &py).unwrap();
    // Sums run over sorted (count, group) pairs, so the results are bit-identical.
    assert_eq!(permuted, base);
}

#[test]
fn hand_computed_example() {
    // 8 samples, 2 units. Fixed{-1, 1, 5}: edges -1, -0.5, 0, 0.5, 1, bins
    // 0 = [-1,-0.5), 1 = [-0.5,0), 2 = [0,0.5), 3 = [0.5,1] (values >= 1 and < -1 clamped).
    //   s0 (-0.9, 0.1) -> (0,2) A     s4 ( 0.7,-0.2) -> (3,1) C
    //   s1 (-0.7, 0.4) -> (0,2) A     s5 (-0.3,-0.6) -> (1,0) D
    //   s2 ( 0.2, 0.6) -> (2,3) B     s6 (-0.4,-2.0) -> (1,0) D   (-2 clamped to bin 0)
    //   s3 ( 0.3, 1.0) -> (2,3) B     s7 ( 0.0, 0.5) -> (2,3) B   (values on edges go up)
    // counts A2 B3 C1 D2: H(T) = 2·(2/8)·2 + (3/8)·log2(8/3) + (1/8)·3 = 2.5 - (3/8)·log2 3.
    // X distinct: I(X;T) = H(T). y = 0 0 0 1 1 1 0 1:
    //   y=0 {s0,s1,s2,s6} = A A B D -> H = 1.5;  y=1 {s3,s4,s5,s7} = B C D B -> H = 1.5.
    // H(T|Y) = 1.5, I(T;Y) = 1 - (3/8)·log2 3.
    let acts = [
        -0.9f32, 0.1, -0.7, 0.4, 0.2, 0.6, 0.3, 1.0, 0.7, -0.2, -0.3, -0.6, -0.4, -2.0, 0.0, 0.5,
    ];
    let x: Vec<u32> = (0..8).collect();
    let y = [0, 0, 0, 1, 1, 1, 0, 1];
    let l3 = 3f64.log2();
    let mi = binned_mi(&acts, 8, 2, &Binning::fixed(-1.0, 1.0, 5), &x, &y).unwrap();
    assert_eq!(mi.distinct, 4);
    assert!((mi.h_t - (2.5 - 0.375 * l3)).abs() < 1e-14, "{mi:?}");
    assert_eq!(mi.i_xt, mi.h_t);
    assert_eq!(mi.h_t_given_y, 1.5);
    assert!((mi.i_ty - (1.0 - 0.375 * l3)).abs() < 1e-14, "{mi:?}");

    // Floor{0.5} on the same values: floor(x/0.5) per unit
    //   s0 (-2,0) s1 (-2,0) s2 (0,1) s3 (0,2) s4 (1,-1) s5 (-1,-2) s6 (-1,-4) s7 (0,1)
    // -> ids 0 0 1 2 3 4 5 1, counts (2,2,1,1,1,1): H(T) = 2·(1/4)·2 + 4·(1/8)·3 = 2.5.
    //   y=0 {s0,s1,s2,s6} = 0 0 1 5 -> 1.5;  y=1 {s3,s4,s5,s7} = 2 3 4 1 -> 2.  H(T|Y) = 1.75.
    let mi = binned_mi(&acts, 8, 2, &Binning::Floor { width: 0.5 }, &x, &y).unwrap();
    let want = BinnedMi {
        i_xt: 2.5,
        i_ty: 0.75,
        h_t: 2.5,
        h_t_given_x: 0.0,
        h_t_given_y: 1.75,
        distinct: 6,
    };
    assert_eq!(mi, want);
}

#[test]
fn repeated_input_rows_use_h_t_minus_h_t_given_x() {
    // X rows: a, a, b, b (with -0.0 == 0.0 and NaN == NaN making the repeats), a noisy layer:
    // T bins 0, 1, 1, 1 under Fixed{-1, 1, 3}. H(T) = h(1/4) = 2 - (3/4)·log2 3.
    // H(T|X) = (1/2)·1 + (1/2)·0 = 0.5, so I(X;T) = 1.5 - (3/4)·log2 3 (and not H(T)).
    let x = [0.0f32, f32::NAN, -0.0, f32::NAN, 1.0, 2.0, 1.0, 2.0];
    let xs = exact_symbols(&x, 4, 2).unwrap();
    assert_eq!((xs.ids.as_slice(), xs.distinct), (&[0, 0, 1, 1][..], 2));
    let acts = [-0.5f32, 0.5, 0.5, 0.5];
    let mi = binned_mi(
        &acts,
        4,
        1,
        &Binning::fixed(-1.0, 1.0, 3),
        &xs.ids,
        &[0, 1, 0, 1],
    )
    .unwrap();
    let l3 = 3f64.log2();
    assert!((mi.h_t - (2.0 - 0.75 * l3)).abs() < 1e-15);
    assert_eq!(mi.h_t_given_x, 0.5);
    assert!((mi.i_xt - (1.5 - 0.75 * l3)).abs() < 1e-15, "{mi:?}");
}
