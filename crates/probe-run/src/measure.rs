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
use probe_estimators::{estimate_layer, Activations, Estimate, NamedEstimator, Samples};

/// Every estimator on every layer: one [`Estimate`] per (layer, estimator), layers outermost.
/// Layers are tensors or host rows read in place ([`probe_estimators::layer`]); on failure, the
/// error of the first failing (layer, estimator) in that order.
pub fn estimate_all<A: Activations + Sync>(
    layers: &[(String, A)],
    samples: &Samples,
    estimators: &[NamedEstimator],
) -> Result<Vec<Estimate>> {
    let jobs: Vec<(&String, &A, &NamedEstimator)> = layers
        .iter()
        .flat_map(|(name, t)| estimators.iter().map(move |e| (name, t, e)))
        .collect();
    let results: Vec<probe_estimators::Result<Estimate>> = jobs
        .par_iter()
        .map(|&(name, t, e)| estimate_layer(name, t, e, samples))
        .collect();
    Ok(results
        .into_iter()
        .collect::<probe_estimators::Result<_>>()?)
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
