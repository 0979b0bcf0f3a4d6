//! One measurement: every estimator on every measured layer, in parallel. Activations stay on
//! the model's device until an estimator reads them.
//!
//! The estimators, the flow between consecutive layers with its bottleneck and the per-layer
//! statistics are `probe_estimators`' ([`probe_estimators::estimate`],
//! [`probe_estimators::extras`]; re-exported here for `crate::measure::…`); this module holds
//! only the fan-out over (replica, layer, estimator), on rayon's pool. It stays in the run
//! because how a measurement is scheduled is the run's policy (the training loop measures the
//! replicas of an ensemble at once; the CUDA path shares one device), while each estimator call
//! is plain, single-layer code a caller may schedule as it likes. Units: bits; the tables are
//! written under [`crate::rundir::FLOW_HEADER`] and [`crate::rundir::STATS_HEADER`].

use candle_core::Tensor;
use rayon::prelude::*;

use crate::error::Result;
pub use probe_estimators::{
    bottleneck_lines, extras_all, ExtrasSpec, Flow, Stats, DEFAULT_SATURATION,
};
use probe_estimators::{estimate_layer, Estimate, NamedEstimator, Samples};

/// Every estimator on every layer: one [`Estimate`] per (layer, estimator), layers outermost.
pub fn estimate_all(
    layers: &[(String, Tensor)],
    samples: &Samples,
    estimators: &[NamedEstimator],
) -> Result<Vec<Estimate>> {
    let mut out = estimate_replicas(std::slice::from_ref(&layers.to_vec()), samples, estimators)?;
    Ok(out.pop().unwrap_or_default())
}

/// [`estimate_all`] for every replica of an ensemble (`replicas[r]`: replica r's layers): every
/// (replica, layer, estimator) is independent, so all run in parallel; the result is in that
/// order, one `Vec` per replica.
pub fn estimate_replicas(
    replicas: &[Vec<(String, Tensor)>],
    samples: &Samples,
    estimators: &[NamedEstimator],
) -> Result<Vec<Vec<Estimate>>> {
    let jobs: Vec<(usize, &(String, Tensor), &NamedEstimator)> = replicas
        .iter()
        .enumerate()
        .flat_map(|(r, layers)| {
            layers
                .iter()
                .flat_map(move |l| estimators.iter().map(move |e| (r, l, e)))
        })
        .collect();
    let results: Vec<(usize, probe_estimators::Result<Estimate>)> = jobs
        .par_iter()
        .map(|&(r, (name, t), e)| (r, estimate_layer(name, t, e, samples)))
        .collect();
    let mut out: Vec<Vec<Estimate>> = vec![Vec::new(); replicas.len()];
    for (r, e) in results {
        out[r].push(e?);
    }
    Ok(out)
}
