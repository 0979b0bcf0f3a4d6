//! The VIB regulariser `KL(N(μ, diag σ²) ‖ N(0, I))` as a differentiable candle op, in **nats**.
//!
//! Per row of `[…, K]` tensors `μ` and `σ` (standard deviations):
//!
//! ```text
//! KL = ½ Σ_k (μ_k² + σ_k² − 1) − Σ_k ln σ_k          (nats; divide by ln 2 for bits)
//! ```
//!
//! Built from candle ops (`sqr`, `affine`, `log`, `sum`), so `backward()` gives `∂/∂μ = μ` and
//! `∂/∂σ = σ − 1/σ`.
//!
//! Why it lives here and not in `probe-estimators`: it is a training loss (a term of the VIB
//! objective, differentiated every step), not an estimate of a measured quantity, and keeping it
//! here means the training crate does not depend on the estimators crate. The `f64` closed forms
//! used for analysis (`kl_diag_gaussian_std_normal_f64`, `kl_diag_gaussians`, …) stay in
//! `probe_estimators::divergence`. The op moved from there unchanged but for its unit: it was
//! `kl_diag_gaussian_std_normal(μ, σ, Unit::Nats)` (the only unit the VIB used); with the unit's
//! factor 1 its `affine(1, 0)` on `ln σ` was exact and is gone, so values and gradients are bit for
//! bit the same. Its tests are in `tests/vib_objective.rs`.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use probe_train::vib::kl::kl_to_std_normal;
//! let mu = Tensor::new(&[[0.0f32, 0.0], [1.0, 0.0]], &Device::Cpu).unwrap();
//! let sigma = Tensor::new(&[[1.0f32, 1.0], [1.0, 1.0]], &Device::Cpu).unwrap();
//! let kl = kl_to_std_normal(&mu, &sigma).unwrap().to_vec1::<f32>().unwrap();
//! assert_eq!(kl, [0.0, 0.5]); // nats
//! ```

use candle_core::{Tensor, D};

use crate::Result;

/// Name of the op in its errors.
const OP: &str = "kl_to_std_normal";

/// `KL(N(μ, diag σ²) ‖ N(0, I))` per row, in nats: `mu` and `sigma` (standard deviations, e.g.
/// `softplus(ρ − 5)`) have the same shape `[…, K]` and float dtype; the result has shape `[…]`
/// (the last dimension summed), that dtype and their device. Differentiable (see the
/// [module docs](self)). No value is read back to the host, so σ is not checked: `σ <= 0` gives
/// NaN or inf.
///
/// Errors ([`crate::Error::Candle`]): a rank-0 `mu`, a non-float dtype, or shapes that differ.
pub fn kl_to_std_normal(mu: &Tensor, sigma: &Tensor) -> Result<Tensor> {
    if mu.rank() == 0 {
        return Err(candle_core::Error::DimOutOfRange {
            shape: mu.shape().clone(),
            dim: -1,
            op: OP,
        }
        .into());
    }
    for t in [mu, sigma] {
        if !t.dtype().is_float() {
            return Err(candle_core::Error::UnsupportedDTypeForOp(t.dtype(), OP).into());
        }
    }
    if sigma.dims() != mu.dims() {
        return Err(candle_core::Error::ShapeMismatchBinaryOp {
            lhs: mu.shape().clone(),
            rhs: sigma.shape().clone(),
            op: OP,
        }
        .into());
    }
    let quad = (mu.sqr()? + sigma.sqr()?)?.affine(0.5, -0.5)?;
    Ok((quad - sigma.log()?)?.sum(D::Minus1)?)
}
