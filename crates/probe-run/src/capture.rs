//! Capture: the probe set (the samples information is measured on, resident on the model's
//! device) and the activations of the selected hook points on it, computed in chunks of
//! [`CHUNK`] samples with the model in evaluation mode. Activations stay on the model's device
//! until an estimator reads them.

use candle_core::Tensor;
use probe_capture::{ActivationCache, NameFilter, Representations};
use probe_estimators::Samples;
use probe_train::model::Model;

use crate::error::{Context, Result};

/// The samples information is measured on, resident on the device, and their fixed symbols.
pub struct ProbeSet {
    /// Inputs `[n, d]`.
    pub x: Tensor,
    /// Input symbols (equal rows share one) and labels.
    pub samples: Samples,
    /// How each hook's tensor becomes rows (`measure.represent`), applied per chunk as captured.
    pub represent: Representations,
}

/// Rows the probe forward pass processes at a time.
pub const CHUNK: usize = 8192;

/// The activations of `hooks` (in that order) of `model` on the whole probe set, as rows
/// `[n, features]` (see `ProbeSet::represent`), on the model's device.
pub fn capture(
    model: &dyn Model,
    probe: &ProbeSet,
    hooks: &[String],
) -> Result<Vec<(String, Tensor)>> {
    // Representations ([measure.represent]) reduce each chunk as it is captured; the model runs
    // in evaluation mode (dropout off, batch norm's running statistics).
    let mut cache =
        ActivationCache::new(NameFilter::new(hooks)?).with_representations(probe.represent.clone());
    model.set_training(false);
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
