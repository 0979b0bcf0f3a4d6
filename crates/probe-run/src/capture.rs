//! Capture: the probe set (the samples information is measured on, resident on the model's
//! device) and the activations of the selected hook points on it, computed in chunks of
//! [`CHUNK`] samples with the model in evaluation mode. Activations stay on the model's device
//! until an estimator reads them. An MLP trained on the fused CPU path is captured by the fused
//! loops ([`capture_fused`]), so its activations are those its training computes.

use candle_core::Tensor;
use probe_capture::{ActivationCache, NameFilter, Representations};
use probe_estimators::Samples;
use probe_train::fused::FusedMlp;
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
    capture_with(model, None, probe, hooks)
}

/// [`capture`] of an MLP trained on the fused path (`fused`, with the model's parameters
/// `params`, its vars' values in `named_vars` order): the fused loops compute the activations
/// ([`FusedMlp::hook`]) unless a hook asks for what they do not keep (a hidden layer's
/// `hook_pre`), in which case the model's candle forward does. The two agree to rounding (the
/// sums run in another order).
pub fn capture_fused(
    model: &dyn Model,
    fused: &FusedMlp,
    params: &[Tensor],
    probe: &ProbeSet,
    hooks: &[String],
) -> Result<Vec<(String, Tensor)>> {
    capture_with(model, Some((fused, params)), probe, hooks)
}

fn capture_with(
    model: &dyn Model,
    fused: Option<(&FusedMlp, &[Tensor])>,
    probe: &ProbeSet,
    hooks: &[String],
) -> Result<Vec<(String, Tensor)>> {
    // Representations ([measure.represent]) reduce each chunk as it is captured; the model runs
    // in evaluation mode (dropout off, batch norm's running statistics).
    let cache =
        ActivationCache::new(NameFilter::new(hooks)?).with_representations(probe.represent.clone());
    model.set_training(false);
    match fused.filter(|(f, _)| f.can_hook(&cache)) {
        Some((f, params)) => in_chunks(probe, hooks, cache, |x, c| Ok(f.hook(params, x, c)?)),
        None => in_chunks(probe, hooks, cache, |x, c| {
            model.forward(x, Some(c))?;
            Ok(())
        }),
    }
}

/// Runs `forward` on each chunk of [`CHUNK`] probe samples in order, recording into `cache`,
/// then takes `hooks` (in that order) from it.
pub(crate) fn in_chunks(
    probe: &ProbeSet,
    hooks: &[String],
    mut cache: ActivationCache,
    mut forward: impl FnMut(&Tensor, &mut ActivationCache) -> Result<()>,
) -> Result<Vec<(String, Tensor)>> {
    let n = probe.x.dim(0)?;
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        forward(&probe.x.narrow(0, start, len)?, &mut cache)?;
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
