//! Entropy, cross-entropy and KL divergence against closed forms, identities and numerical
//! integration. (The VIB's differentiable KL loss and its tests live in `probe-train`.)

use std::f64::consts::{E, LN_2, PI};

use probe_estimators::divergence::{
    cross_entropy, diag_gaussian_cross_entropy, diag_gaussian_entropy, entropy, kl_diag_gaussians,
    kl_divergence, Unit,
};
use probe_estimators::{entropy_from_counts, kl_diag_gaussian_std_normal_f64, Error};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_probs(rng: &mut ChaCha8Rng, k: usize, zeros: bool) -> Vec<f64> {
    let mut p: Vec<f64> = (0..k)
        .map(|_| {
            if zeros && rng.random_range(0..4) == 0 {
                0.0
            } else {
                rng.random::<f64>() + 1e-3
            }
        })
        .collect();
    if p.iter().all(|&v| v == 0.0) {
        p[0] = 1.0;
    }
    let s: f64 = p.iter().sum();
    p.iter_mut().for_each(|v| *v /= s);
    p
}

#[test]
fn discrete_closed_forms() {
    assert_eq!(entropy(&[0.5, 0.25, 0.25], Unit::Bits).unwrap(), 1.5);
    assert!((entropy(&[0.5, 0.5], Unit::Nats).unwrap() - LN_2).abs() < 1e-15);
    assert_eq!(entropy(&[1.0, 0.0], Unit::Bits).unwrap(), 0.0);
    // KL(Ber(1/2) ‖ Ber(1/4)) = ½ log2 2 + ½ log2(2/3) = 1 − ½ log2 3 bits.
    let kl = kl_divergence(&[0.5, 0.5], &[0.25, 0.75], Unit::Bits).unwrap();
    assert!((kl - (1.0 - 0.5 * 3f64.log2())).abs() < 1e-15, "{kl}");
    // CE(uniform over 4, q) = −¼ Σ log2 q.
    let q = [0.1, 0.2, 0.3, 0.4];
    let ce = cross_entropy(&[0.25; 4], &q, Unit::Bits).unwrap();
    let want = -q.iter().map(|v: &f64| v.log2()).sum::<f64>() / 4.0;
    assert!((ce - want).abs() < 1e-14);
    // Support mismatch: infinite, not an error.
    assert_eq!(
        kl_divergence(&[0.5, 0.5], &[1.0, 0.0], Unit::Nats).unwrap(),
        f64::INFINITY
    );
    assert_eq!(
        cross_entropy(&[0.5, 0.5], &[1.0, 0.0], Unit::Nats).unwrap(),
        f64::INFINITY
    );
    // p = 0 where q = 0 contributes nothing.
    assert_eq!(
        kl_divergence(&[1.0, 0.0], &[1.0, 0.0], Unit::Bits).unwrap(),
        0.0
    );
}

/// KL = CE − H, KL(p‖p) = 0, Gibbs' inequality KL ≥ 0 (equivalently CE ≥ H), bits = nats / ln 2,
/// and the discrete entropy agrees with the count-based one.
#[test]
fn discrete_identities_on_random_cases() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    for case in 0..500 {
        let k = rng.random_range(1..40);
        let p = random_probs(&mut rng, k, case % 2 == 0);
        let q = random_probs(&mut rng, k, false);
        let h = entropy(&p, Unit::Nats).unwrap();
        let ce = cross_entropy(&p, &q, Unit::Nats).unwrap();
        let kl = kl_divergence(&p, &q, Unit::Nats).unwrap();
        assert!((kl - (ce - h)).abs() < 1e-12 * ce.max(1.0), "case {case}");
        assert!(kl >= -1e-15, "Gibbs, case {case}: {kl}");
        assert!(ce >= h - 1e-12);
        assert_eq!(kl_divergence(&p, &p, Unit::Nats).unwrap(), 0.0);
        let kl_bits = kl_divergence(&p, &q, Unit::Bits).unwrap();
        assert!((kl_bits - kl / LN_2).abs() < 1e-12);
        assert!(h >= 0.0 && h <= (k as f64).ln() + 1e-12);
    }
    let counts = [3u64, 1, 4, 1, 5, 9, 2, 6];
    let total: u64 = counts.iter().sum();
    let p: Vec<f64> = counts.iter().map(|&c| c as f64 / total as f64).collect();
    assert!((entropy(&p, Unit::Bits).unwrap() - entropy_from_counts(&counts)).abs() < 1e-14);
}

#[test]
fn gaussian_closed_forms() {
    // H(N(μ, σ²)) = ½ log2(2πeσ²), for any μ; d dimensions add.
    for s in [0.01, 0.5, 1.0, 7.0] {
        let h = diag_gaussian_entropy(&[s], Unit::Bits).unwrap();
        assert!(
            (h - 0.5 * (2.0 * PI * E * s * s).log2()).abs() < 1e-13,
            "{s}"
        );
    }
    let h3 = diag_gaussian_entropy(&[0.5, 1.0, 2.0], Unit::Nats).unwrap();
    assert!(
        (h3 - 1.5 * (2.0 * PI * E).ln()).abs() < 1e-13,
        "½ln(2πe)·3 + ln(0.5·1·2)"
    );
    // KL(N(0, 1) ‖ N(1, 2²)) = ln 2 + (1 + 1)/8 − ½ nats.
    let kl = kl_diag_gaussians(&[0.0], &[1.0], &[1.0], &[2.0], Unit::Nats).unwrap();
    assert!((kl - (2f64.ln() + 0.25 - 0.5)).abs() < 1e-15, "{kl}");
    // KL(N(μ, 1) ‖ N(0, 1)) = μ²/2.
    let kl = kl_diag_gaussians(&[3.0], &[1.0], &[0.0], &[1.0], Unit::Nats).unwrap();
    assert!((kl - 4.5).abs() < 1e-15);
    assert_eq!(
        kl_diag_gaussians(
            &[0.3, -2.0],
            &[0.7, 1.5],
            &[0.3, -2.0],
            &[0.7, 1.5],
            Unit::Bits
        )
        .unwrap(),
        0.0
    );
    // CE = H + KL.
    let (mp, sp, mq, sq) = ([0.2, -1.0], [0.3, 2.0], [1.0, 0.5], [1.5, 0.7]);
    let ce = diag_gaussian_cross_entropy(&mp, &sp, &mq, &sq, Unit::Bits).unwrap();
    let sum = diag_gaussian_entropy(&sp, Unit::Bits).unwrap()
        + kl_diag_gaussians(&mp, &sp, &mq, &sq, Unit::Bits).unwrap();
    assert!((ce - sum).abs() < 1e-13);
    // The standard-normal form equals the general one with q = N(0, I).
    let kl0 = kl_diag_gaussian_std_normal_f64(&mp, &sp, Unit::Nats).unwrap();
    let kl1 = kl_diag_gaussians(&mp, &sp, &[0.0, 0.0], &[1.0, 1.0], Unit::Nats).unwrap();
    assert!((kl0 - kl1).abs() < 1e-14);
}

/// KL(p‖q) of two 1-d Gaussians by numerical integration of p·ln(p/q) (Simpson's rule over
/// ±12σ_p), independent of the closed form used by the code.
#[test]
fn gaussian_kl_matches_numerical_integration() {
    let pdf =
        |x: f64, m: f64, s: f64| (-(x - m).powi(2) / (2.0 * s * s)).exp() / (s * (2.0 * PI).sqrt());
    for (mp, sp, mq, sq) in [
        (0.0, 1.0, 1.0, 2.0),
        (0.5, 0.3, -0.2, 0.9),
        (2.0, 1.5, 0.0, 1.0),
    ] {
        let (a, b, m) = (mp - 12.0 * sp, mp + 12.0 * sp, 20_000);
        let h = (b - a) / m as f64;
        let f = |x: f64| {
            let p = pdf(x, mp, sp);
            if p == 0.0 {
                0.0
            } else {
                p * (p / pdf(x, mq, sq)).ln()
            }
        };
        let mut s = f(a) + f(b);
        for i in 1..m {
            s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        let numeric = s * h / 3.0;
        let kl = kl_diag_gaussians(&[mp], &[sp], &[mq], &[sq], Unit::Nats).unwrap();
        assert!((kl - numeric).abs() < 1e-9, "{kl} vs {numeric}");
    }
}

#[test]
fn errors() {
    let e = entropy(&[0.5, 0.6], Unit::Bits).unwrap_err();
    assert!(e.to_string().contains("sum to 1.1"), "{e}");
    let e = entropy(&[1.5, -0.5], Unit::Bits).unwrap_err();
    assert!(e.to_string().contains("entry 1 is -0.5"), "{e}");
    assert!(entropy(&[], Unit::Bits).is_err());
    assert!(entropy(&[f64::NAN, 1.0], Unit::Bits).is_err());
    let e = kl_divergence(&[1.0], &[0.5, 0.5], Unit::Bits).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                what: "q",
                expected: 1,
                got: 2
            }
        ),
        "{e}"
    );
    let e = cross_entropy(&[1.0], &[2.0], Unit::Bits).unwrap_err();
    assert!(
        matches!(e, Error::InvalidDistribution { what: "q", .. }),
        "{e}"
    );
    let e = diag_gaussian_entropy(&[1.0, 0.0], Unit::Bits).unwrap_err();
    assert!(e.to_string().contains("sigma: entry 1 is 0"), "{e}");
    let e = kl_diag_gaussians(&[0.0], &[1.0], &[0.0, 1.0], &[1.0], Unit::Bits).unwrap_err();
    assert!(
        matches!(e, Error::LengthMismatch { what: "mu_q", .. }),
        "{e}"
    );
    let e = kl_diag_gaussian_std_normal_f64(&[f64::INFINITY], &[1.0], Unit::Bits).unwrap_err();
    assert!(
        matches!(e, Error::InvalidDistribution { what: "mu", .. }),
        "{e}"
    );
}
