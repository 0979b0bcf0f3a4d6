//! Layer-to-layer information `I(A_l; A_{l+1})` between two layers measured on the same samples
//! (the "information flow" through a network), in **bits**, and the bottleneck: the transition
//! that loses the most.
//!
//! * **Binned** ([`binned_flow`]): each layer's binned rows are symbols (as in [`crate::binned`];
//!   a [`Binning::Adaptive`] gets its own edges per layer); `I(A;B) = H(A) − H(A|B)` with plug-in
//!   entropies. `0 ≤ I ≤ min(H(A), H(B)) ≤ log2 N`. The **loss** of the transition is
//!   `H(A|B) = H(A) − I(A;B)`: what the binned first layer holds that the second does not. With
//!   distinct inputs and a deterministic network `H(A) = I(X;A)`, so the loss is how far the flow
//!   drops below what reached layer `A`.
//! * **KDE** ([`kde_flow`]): both layers taken as noisy, `A' = A + Z_A`, `B' = B + Z_B` with
//!   independent `N(0, σ²I)` noise, so `(A', B')` is the mixture of `N` Gaussians centred on the
//!   concatenated rows `[a_i, b_i]`. The Gaussian noise entropies cancel exactly in
//!   `I = H(A') + H(B') − H(A', B')`, leaving `I = F_A + F_B − F_AB` with `F` the KDE terms of
//!   [`crate::kde_entropy`] (`F_AB` on the concatenated rows). Reported at `s = 2σ²` (`i_bits`)
//!   and `s = 8σ²` (`i_bits_lower`); each is a combination of same-kind entropy bounds, hence an
//!   estimate (like KDE's `I(T;Y)`), not a bound. Since joint distances are at least those within
//!   either layer, `F_AB ≥ max(F_A, F_B)`, so `I ≤ min(F_A, F_B) ≤ log2 N`; `I ≥ 0` is not
//!   guaranteed. The loss is `F_A − I = F_AB − F_B`, `≥ 0`.
//! * **kNN** is not offered: for a deterministic network `B` is a function of the continuous `A`
//!   and `I(A;B)` is infinite, so KSG would only report its own resolution (set by `N` and `k`).
//!
//! ```
//! use probe_estimators::{binned_flow, Binning};
//! // A takes 4 values, B = A's sign: B keeps 1 of A's 2 bits; the loss is 1 bit.
//! let a = [-0.9f32, -0.4, 0.3, 0.8];
//! let b = [-1.0f32, -1.0, 1.0, 1.0];
//! let f = binned_flow(&a, 1, &b, 1, 4, &Binning::Floor { width: 0.5 }).unwrap();
//! assert_eq!((f.i_bits, f.h_from, f.loss()), (1.0, 2.0, 1.0));
//! ```

use candle_core::{DType, Tensor};

use crate::binned::binned_symbols;
use crate::binning::Binning;
use crate::discrete::{clamp_rounding, conditional_entropy_bits, entropy_bits};
use crate::error::{Error, Result};
use crate::kde::{kde_entropy, KdeEntropy};
use crate::shape::samples_shape;
use crate::stats::host_rows;

/// Binned information between two layers, in bits.
#[derive(Clone, Debug, PartialEq)]
pub struct BinnedFlow {
    /// `I(A;B) = H(A) − H(A|B)`, bits.
    pub i_bits: f64,
    /// `H(A)` of the first (`from`) layer, bits.
    pub h_from: f64,
    /// `H(B)` of the second (`to`) layer, bits.
    pub h_to: f64,
    /// `H(A|B)`, bits: the loss of the transition.
    pub h_from_given_to: f64,
}

impl BinnedFlow {
    /// The loss `H(A|B) = H(A) − I(A;B)` in bits.
    pub fn loss(&self) -> f64 {
        self.h_from_given_to
    }
}

/// Binned `I(A;B)` of two layers on the same `n` samples: `from` row-major `[n, d_from]`, `to`
/// row-major `[n, d_to]`, both binned with `binning` (each layer resolved on its own values).
/// Errors on bad shapes or an invalid binning.
pub fn binned_flow(
    from: &[f32],
    d_from: usize,
    to: &[f32],
    d_to: usize,
    n: usize,
    binning: &Binning,
) -> Result<BinnedFlow> {
    let a = binned_symbols(from, n, d_from, binning)?;
    let b = binned_symbols(to, n, d_to, binning)?;
    binned_flow_from_symbols(&a.ids, &b.ids)
}

/// [`binned_flow`] from the two layers' symbols (e.g. [`binned_symbols`] ids, one per sample).
/// Errors when the lengths differ.
pub fn binned_flow_from_symbols(from: &[u32], to: &[u32]) -> Result<BinnedFlow> {
    binned_flow_with_entropies(from, to, entropy_bits(from), entropy_bits(to))
}

/// [`binned_flow_from_symbols`] given `H(A)` and `H(B)` (each layer's [`entropy_bits`], computed
/// once for the two transitions it takes part in).
pub(crate) fn binned_flow_with_entropies(
    from: &[u32],
    to: &[u32],
    h_from: f64,
    h_to: f64,
) -> Result<BinnedFlow> {
    let h_from_given_to = conditional_entropy_bits(from, to)?;
    Ok(BinnedFlow {
        i_bits: clamp_rounding(h_from - h_from_given_to),
        h_from,
        h_to,
        h_from_given_to,
    })
}

/// [`binned_flow`] on tensors `[n, …]` (flattened per sample; any float dtype, any device; copied
/// to host memory as `f32`). Errors also when the sample counts differ.
pub fn binned_flow_tensor(from: &Tensor, to: &Tensor, binning: &Binning) -> Result<BinnedFlow> {
    let (n, d_from, a) = host_rows(from)?;
    let (m, d_to, b) = host_rows(to)?;
    if m != n {
        return Err(Error::LengthMismatch {
            what: "to (samples)",
            expected: n,
            got: m,
        });
    }
    binned_flow(&a, d_from, &b, d_to, n, binning)
}

/// KDE estimate of the information between two noisy layers, in bits (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct KdeFlow {
    /// `F_A + F_B − F_AB` at `s = 2σ²` (KL kernel), bits.
    pub i_bits: f64,
    /// The same at `s = 8σ²` (Bhattacharyya kernel), bits.
    pub i_bits_lower: f64,
    /// `F_A` (both kernels): the first layer's entropy term.
    pub h_from: KdeEntropy,
    /// `F_B`: the second layer's entropy term.
    pub h_to: KdeEntropy,
    /// `F_AB`: the entropy term of the concatenated rows.
    pub h_joint: KdeEntropy,
    /// The noise variance σ².
    pub sigma2: f64,
}

impl KdeFlow {
    /// Combines the three entropy terms (e.g. `F_A`, `F_B` reused from [`crate::KdeMi::i_xt_upper`]
    /// / [`crate::KdeMi::i_xt_lower`] of each layer, and `F_AB` from [`kde_joint_entropy`]).
    pub fn from_entropies(
        h_from: KdeEntropy,
        h_to: KdeEntropy,
        h_joint: KdeEntropy,
        sigma2: f64,
    ) -> Self {
        Self {
            i_bits: h_from.upper + h_to.upper - h_joint.upper,
            i_bits_lower: h_from.lower + h_to.lower - h_joint.lower,
            h_from,
            h_to,
            h_joint,
            sigma2,
        }
    }

    /// The loss `F_A − I = F_AB − F_B` at `s = 2σ²`, bits.
    pub fn loss(&self) -> f64 {
        self.h_joint.upper - self.h_to.upper
    }
}

/// `F_AB`: [`kde_entropy`] of the rows of `from` and `to` (`[n, …]` each, flattened per sample)
/// concatenated, `[n, d_from + d_to]`, on `from`'s device. Errors when the sample counts differ,
/// or as [`kde_entropy`].
pub fn kde_joint_entropy(from: &Tensor, to: &Tensor, sigma2: f64) -> Result<KdeEntropy> {
    let flat = |t: &Tensor| -> Result<Tensor> {
        let (n, d) = samples_shape(t)?;
        Ok(t.reshape((n, d))?
            .to_dtype(DType::F32)?
            .to_device(from.device())?)
    };
    let (a, b) = (flat(from)?, flat(to)?);
    if a.dim(0)? != b.dim(0)? {
        return Err(Error::LengthMismatch {
            what: "to (samples)",
            expected: a.dim(0)?,
            got: b.dim(0)?,
        });
    }
    kde_entropy(&Tensor::cat(&[&a, &b], 1)?, sigma2)
}

/// KDE information between the layers `from` and `to` (`[n, …]` each; any float dtype and
/// device) at noise variance `sigma2`: three [`kde_entropy`] passes (`F_A`, `F_B`, `F_AB`).
pub fn kde_flow(from: &Tensor, to: &Tensor, sigma2: f64) -> Result<KdeFlow> {
    let h_joint = kde_joint_entropy(from, to, sigma2)?;
    Ok(KdeFlow::from_entropies(
        kde_entropy(from, sigma2)?,
        kde_entropy(to, sigma2)?,
        h_joint,
        sigma2,
    ))
}

/// The bottleneck of a chain of transitions: the index of the largest loss (the first one on
/// ties), ignoring NaN; `None` when there is no finite loss.
pub fn bottleneck(losses: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &l) in losses.iter().enumerate() {
        let better = match best {
            None => true,
            Some((_, b)) => l > b,
        };
        if l.is_finite() && better {
            best = Some((i, l));
        }
    }
    best.map(|(i, _)| i)
}
