//! Entropy, cross-entropy and Kullback–Leibler divergence of discrete distributions and of
//! Gaussians with diagonal covariance, in **bits or nats** as the caller asks ([`Unit`]).
//!
//! * Discrete (probability vectors `p`, `q` of equal length, each entry finite and `>= 0`, summing
//!   to 1 within [`SUM_TOLERANCE`]): `H(p) = −Σ p ln p`, `CE(p, q) = −Σ p ln q`,
//!   `KL(p‖q) = Σ p (ln p − ln q) = CE(p, q) − H(p)`, with `0·ln 0 = 0`. Where `p_i > 0 = q_i`,
//!   `CE` and `KL` are `+inf` (returned, not an error).
//! * Diagonal Gaussians `N(μ, diag σ²)` given by their means `μ` and **standard deviations** `σ`
//!   (finite, `> 0`), one entry per dimension, dimensions independent so every quantity is a sum
//!   over them:
//!   - differential entropy `H = Σ ½ ln(2πe σ²)` (negative for small σ);
//!   - cross-entropy `CE(p, q) = Σ [½ ln(2π σ_q²) + (σ_p² + (μ_p − μ_q)²) / (2σ_q²)]`;
//!   - `KL(p‖q) = Σ [ln(σ_q/σ_p) + (σ_p² + (μ_p − μ_q)²) / (2σ_q²) − ½]`;
//!   - the VIB regulariser (Alemi et al. 2017) `KL(N(μ, σ²)‖N(0, I)) = Σ ½ (μ² + σ² − 1 − ln σ²)`
//!     on `f64` slices ([`kl_diag_gaussian_std_normal_f64`]), for analysis and as the reference of
//!     the training loss. The loss itself, a differentiable candle op, is training code and lives
//!     in `probe-train` (`probe_train::vib::kl`), so that crate need not depend on this one.
//!
//! Nats are the natural unit of a training loss (PyTorch's cross-entropy is in nats); bits are the
//! unit of every value probe writes. `x` nats = `x / ln 2` bits.
//!
//! ```
//! use probe_estimators::divergence::{entropy, kl_divergence, diag_gaussian_entropy, Unit};
//! assert_eq!(entropy(&[0.5, 0.25, 0.25], Unit::Bits).unwrap(), 1.5);
//! assert_eq!(kl_divergence(&[0.5, 0.5], &[0.5, 0.5], Unit::Nats).unwrap(), 0.0);
//! let h = diag_gaussian_entropy(&[1.0], Unit::Nats).unwrap(); // ½ ln(2πe)
//! assert!((h - 0.5 * (2.0 * std::f64::consts::PI * std::f64::consts::E).ln()).abs() < 1e-15);
//! ```

use std::f64::consts::{LN_2, PI};

use crate::error::{Error, Result};

/// Largest `|Σ p − 1|` a probability vector may have.
pub const SUM_TOLERANCE: f64 = 1e-6;

/// The unit of an entropy or divergence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Logarithm base 2.
    Bits,
    /// Natural logarithm.
    Nats,
}

impl Unit {
    /// The factor that turns nats into this unit (1 or `1 / ln 2`).
    pub fn from_nats(self) -> f64 {
        match self {
            Unit::Bits => 1.0 / LN_2,
            Unit::Nats => 1.0,
        }
    }

    /// The logarithm of this unit (`log2` or `ln`).
    pub fn log(self, x: f64) -> f64 {
        match self {
            Unit::Bits => x.log2(),
            Unit::Nats => x.ln(),
        }
    }
}

/// Checks that `p` is a probability vector.
fn check_probs(what: &'static str, p: &[f64]) -> Result<()> {
    let bad = |reason: String| Err(Error::InvalidDistribution { what, reason });
    if p.is_empty() {
        return bad("empty; expected at least one probability".into());
    }
    if let Some(i) = p.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
        return bad(format!(
            "entry {i} is {}; expected finite probabilities >= 0",
            p[i]
        ));
    }
    let sum: f64 = p.iter().sum();
    if (sum - 1.0).abs() > SUM_TOLERANCE {
        return bad(format!(
            "entries sum to {sum}; expected 1 (within {SUM_TOLERANCE})"
        ));
    }
    Ok(())
}

/// Checks that `p` and `q` are probability vectors of equal length.
fn check_pair(p: &[f64], q: &[f64]) -> Result<()> {
    check_probs("p", p)?;
    if q.len() != p.len() {
        return Err(Error::LengthMismatch {
            what: "q",
            expected: p.len(),
            got: q.len(),
        });
    }
    check_probs("q", q)
}

/// Entropy `H(p) = −Σ p ln p` of a probability vector, in `unit` (`0 ln 0 = 0`).
pub fn entropy(p: &[f64], unit: Unit) -> Result<f64> {
    check_probs("p", p)?;
    Ok(p.iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| -v * unit.log(v))
        .sum())
}

/// Cross-entropy `CE(p, q) = −Σ p ln q`, in `unit`; `+inf` when some `p_i > 0` has `q_i = 0`.
pub fn cross_entropy(p: &[f64], q: &[f64], unit: Unit) -> Result<f64> {
    check_pair(p, q)?;
    Ok(sum_over_support(p, q, |pi, qi| -pi * unit.log(qi)))
}

/// `KL(p‖q) = Σ p (ln p − ln q)`, in `unit`; `+inf` when some `p_i > 0` has `q_i = 0`; exactly 0
/// for `q == p`.
pub fn kl_divergence(p: &[f64], q: &[f64], unit: Unit) -> Result<f64> {
    check_pair(p, q)?;
    Ok(sum_over_support(p, q, |pi, qi| {
        pi * (unit.log(pi) - unit.log(qi))
    }))
}

/// `Σ term(p_i, q_i)` over the support of `p` (`p_i > 0`; `0 · log 0 = 0`).
fn sum_over_support(p: &[f64], q: &[f64], term: impl Fn(f64, f64) -> f64) -> f64 {
    p.iter()
        .zip(q)
        .filter(|(&pi, _)| pi > 0.0)
        .map(|(&pi, &qi)| term(pi, qi))
        .sum()
}

/// Checks the standard deviations of a diagonal Gaussian: non-empty, finite, `> 0`.
fn check_sigma(what: &'static str, sigma: &[f64]) -> Result<()> {
    if sigma.is_empty() {
        return Err(Error::InvalidDistribution {
            what,
            reason: "empty; expected one standard deviation per dimension".into(),
        });
    }
    if let Some(i) = sigma.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
        return Err(Error::InvalidDistribution {
            what,
            reason: format!(
                "entry {i} is {}; expected finite standard deviations > 0",
                sigma[i]
            ),
        });
    }
    Ok(())
}

/// Checks the means and standard deviations of a diagonal Gaussian.
fn check_gaussian(
    mu_what: &'static str,
    mu: &[f64],
    sigma_what: &'static str,
    sigma: &[f64],
) -> Result<()> {
    check_sigma(sigma_what, sigma)?;
    if mu.len() != sigma.len() {
        return Err(Error::LengthMismatch {
            what: mu_what,
            expected: sigma.len(),
            got: mu.len(),
        });
    }
    if let Some(i) = mu.iter().position(|v| !v.is_finite()) {
        return Err(Error::InvalidDistribution {
            what: mu_what,
            reason: format!("entry {i} is {}; expected finite means", mu[i]),
        });
    }
    Ok(())
}

/// Differential entropy `Σ ½ ln(2πe σ_i²)` of `N(μ, diag σ²)` (it does not depend on μ), in
/// `unit`. `sigma` holds standard deviations.
pub fn diag_gaussian_entropy(sigma: &[f64], unit: Unit) -> Result<f64> {
    check_sigma("sigma", sigma)?;
    let h: f64 = sigma
        .iter()
        .map(|&s| 0.5 * (2.0 * PI * std::f64::consts::E).ln() + s.ln())
        .sum();
    Ok(h * unit.from_nats())
}

/// Per-dimension `(σ_p² + (μ_p − μ_q)²) / (2σ_q²)`, the shared term of CE and KL.
fn quad(mu_p: f64, s_p: f64, mu_q: f64, s_q: f64) -> f64 {
    let d = mu_p - mu_q;
    (s_p * s_p + d * d) / (2.0 * s_q * s_q)
}

/// Checks both Gaussians of a pair and that they have the same dimension.
fn check_gaussian_pair(mu_p: &[f64], sigma_p: &[f64], mu_q: &[f64], sigma_q: &[f64]) -> Result<()> {
    check_gaussian("mu_p", mu_p, "sigma_p", sigma_p)?;
    if sigma_q.len() != sigma_p.len() {
        return Err(Error::LengthMismatch {
            what: "sigma_q",
            expected: sigma_p.len(),
            got: sigma_q.len(),
        });
    }
    check_gaussian("mu_q", mu_q, "sigma_q", sigma_q)
}

/// Cross-entropy `CE(p, q) = −E_p[ln q]` of `p = N(μ_p, diag σ_p²)` and `q = N(μ_q, diag σ_q²)`,
/// in `unit`: `Σ [½ ln(2π σ_q²) + (σ_p² + (μ_p − μ_q)²) / (2σ_q²)]`. Equals
/// [`diag_gaussian_entropy`]`(σ_p) + `[`kl_diag_gaussians`]`(p, q)`.
pub fn diag_gaussian_cross_entropy(
    mu_p: &[f64],
    sigma_p: &[f64],
    mu_q: &[f64],
    sigma_q: &[f64],
    unit: Unit,
) -> Result<f64> {
    check_gaussian_pair(mu_p, sigma_p, mu_q, sigma_q)?;
    let ce: f64 = (0..mu_p.len())
        .map(|i| {
            0.5 * (2.0 * PI).ln() + sigma_q[i].ln() + quad(mu_p[i], sigma_p[i], mu_q[i], sigma_q[i])
        })
        .sum();
    Ok(ce * unit.from_nats())
}

/// `KL(p‖q)` of `p = N(μ_p, diag σ_p²)` and `q = N(μ_q, diag σ_q²)`, in `unit`:
/// `Σ [ln(σ_q/σ_p) + (σ_p² + (μ_p − μ_q)²) / (2σ_q²) − ½]`.
pub fn kl_diag_gaussians(
    mu_p: &[f64],
    sigma_p: &[f64],
    mu_q: &[f64],
    sigma_q: &[f64],
    unit: Unit,
) -> Result<f64> {
    check_gaussian_pair(mu_p, sigma_p, mu_q, sigma_q)?;
    let kl: f64 = (0..mu_p.len())
        .map(|i| {
            (sigma_q[i].ln() - sigma_p[i].ln()) + quad(mu_p[i], sigma_p[i], mu_q[i], sigma_q[i])
                - 0.5
        })
        .sum();
    Ok(kl * unit.from_nats())
}

/// `KL(N(μ, diag σ²)‖N(0, I)) = Σ ½ (μ² + σ² − 1 − ln σ²)` in `unit`, on `f64` slices (σ are
/// standard deviations).
pub fn kl_diag_gaussian_std_normal_f64(mu: &[f64], sigma: &[f64], unit: Unit) -> Result<f64> {
    check_gaussian("mu", mu, "sigma", sigma)?;
    let kl: f64 = mu
        .iter()
        .zip(sigma)
        .map(|(&m, &s)| 0.5 * (m * m + s * s - 1.0) - s.ln())
        .sum();
    Ok(kl * unit.from_nats())
}
