//! One measurement: capture the selected hook points on the probe set and run every estimator on
//! each of them. Activations stay on the model's device until an estimator reads them.

use anyhow::{Context, Result};
use candle_core::Tensor;
use probe_capture::{ActivationCache, NameFilter};
use probe_train::model::Model;

use crate::estimate::{estimate_layer, Estimate, NamedEstimator, Samples};

/// The samples information is measured on, resident on the device, and their fixed symbols.
pub struct ProbeSet {
    /// Inputs `[n, d]`.
    pub x: Tensor,
    /// Input symbols (equal rows share one) and labels.
    pub samples: Samples,
}

/// Rows the probe forward pass processes at a time.
const CHUNK: usize = 8192;

/// The activations of `hooks` (in that order) of `model` on the whole probe set, `[n, …]` each,
/// on the model's device.
pub fn capture(
    model: &dyn Model,
    probe: &ProbeSet,
    hooks: &[String],
) -> Result<Vec<(String, Tensor)>> {
    let mut cache = ActivationCache::new(NameFilter::new(hooks)?);
    let n = probe.x.dim(0)?;
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        model.forward(&probe.x.narrow(0, start, len)?, Some(&mut cache))?;
        start += len;
    }
    hooks
        .iter()
        .map(|hook| {
            let t = cache
                .take(hook)?
                .with_context(|| format!("hook point {hook} produced no activation"))?;
            Ok((hook.clone(), t))
        })
        .collect()
}

/// Every estimator on every layer: one [`Estimate`] per (layer, estimator), layers outermost.
pub fn estimate_all(
    layers: &[(String, Tensor)],
    samples: &Samples,
    estimators: &[NamedEstimator],
) -> Result<Vec<Estimate>> {
    let mut out = Vec::with_capacity(layers.len() * estimators.len());
    for (name, t) in layers {
        for e in estimators {
            out.push(estimate_layer(name, t, e, samples)?);
        }
    }
    Ok(out)
}
