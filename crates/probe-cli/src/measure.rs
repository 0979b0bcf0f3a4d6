//! One measurement: capture the selected hook points on the probe set and run every estimator on
//! each of them. Activations stay on the model's device until an estimator reads them.

use anyhow::{Context, Result};
use candle_core::Tensor;
use probe_capture::{ActivationCache, NameFilter};
use probe_estimators::binned_mi_tensor;
use probe_train::model::Model;

use crate::config::NamedEstimator;

/// The samples information is measured on, resident on the device, and their fixed symbols.
pub struct ProbeSet {
    /// Inputs `[n, d]`.
    pub x: Tensor,
    /// Symbol of each input row (equal rows share one), for I(X;T).
    pub x_ids: Vec<u32>,
    /// Labels, for I(T;Y).
    pub y: Vec<u32>,
}

/// One estimate: layer (hook name), estimator name, I(X;T) and I(T;Y) in bits.
pub struct Estimate {
    /// Hook point name.
    pub layer: String,
    /// Estimator name.
    pub estimator: String,
    /// I(X;T), bits.
    pub i_xt: f64,
    /// I(T;Y), bits.
    pub i_ty: f64,
}

/// Rows the probe forward pass processes at a time.
const CHUNK: usize = 8192;

/// Captures `hooks` of `model` on `probe` and estimates their information with `estimators`.
pub fn measure(
    model: &dyn Model,
    probe: &ProbeSet,
    hooks: &[String],
    estimators: &[NamedEstimator],
) -> Result<Vec<Estimate>> {
    let mut cache = ActivationCache::new(NameFilter::new(hooks)?);
    let n = probe.x.dim(0)?;
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        model.forward(&probe.x.narrow(0, start, len)?, Some(&mut cache))?;
        start += len;
    }
    let mut out = Vec::with_capacity(hooks.len() * estimators.len());
    for hook in hooks {
        let t = cache
            .take(hook)?
            .with_context(|| format!("hook point {hook} produced no activation"))?;
        for e in estimators {
            let mi = binned_mi_tensor(&t, &e.binning, &probe.x_ids, &probe.y)
                .with_context(|| format!("estimator {} on {hook}", e.name))?;
            out.push(Estimate {
                layer: hook.clone(),
                estimator: e.name.clone(),
                i_xt: mi.i_xt,
                i_ty: mi.i_ty,
            });
        }
    }
    Ok(out)
}
