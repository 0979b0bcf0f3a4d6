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

use crate::error::{Context, Result};
use probe_estimators::{
    binned_mi_from_symbols, binned_symbols, estimate_layer, flows_with, host_rows, stats_of_layer,
    Activations, Estimate, EstimatorSpec, NamedEstimator, Samples,
};
pub use probe_estimators::{
    bottleneck_lines, extras_all, ExtrasSpec, Flow, Stats, DEFAULT_SATURATION,
};

/// One measurement's rows: the estimates of every replica (as [`estimate_replicas`]) and, for a
/// single replica, its flows and statistics (as [`extras_all`]; none for an ensemble).
pub type Measurement = (Vec<Vec<Estimate>>, Vec<Flow>, Vec<Stats>);

/// One measurement: [`estimate_replicas`], then [`extras_all`] for a single replica, with the
/// same rows. On host (CPU) layers of a single replica every (layer, estimator) and every layer's
/// statistics run in parallel, each layer is copied out of its tensor once, and a binned
/// estimator's symbols of each layer are computed once for its plane and its flows.
pub fn measure_replicas(
    replicas: &[Vec<(String, Tensor)>],
    samples: &Samples,
    estimators: &[NamedEstimator],
    extras: &ExtrasSpec,
) -> Result<Measurement> {
    match replicas {
        [one] if one.iter().all(|(_, t)| t.device().is_cpu()) => {
            let (estimates, flows, stats) = measure_host(one, samples, estimators, extras)?;
            Ok((vec![estimates], flows, stats))
        }
        [one] => {
            let estimates = estimate_replicas(replicas, samples, estimators)?;
            let (flows, stats) = extras_all(extras, one, estimators, &estimates[0])?;
            Ok((estimates, flows, stats))
        }
        _ => Ok((
            estimate_replicas(replicas, samples, estimators)?,
            Vec::new(),
            Vec::new(),
        )),
    }
}

/// What one parallel job of [`measure_host`] computes.
enum Job {
    /// Layer `.0` under estimator `.1`.
    Estimate(usize, usize),
    /// The statistics rows of layer `.0`.
    Stats(usize),
}

/// What it gives back.
enum Done {
    /// The estimate, and the layer's binned symbols for a binned-family estimator.
    Estimate(Estimate, Option<Vec<u32>>),
    Stats(Vec<Stats>),
}

/// [`measure_replicas`] of one replica whose layers are in host memory.
fn measure_host(
    layers: &[(String, Tensor)],
    samples: &Samples,
    estimators: &[NamedEstimator],
    extras: &ExtrasSpec,
) -> Result<(Vec<Estimate>, Vec<Flow>, Vec<Stats>)> {
    let host = layers
        .par_iter()
        .map(|(name, t)| host_rows(t).with_context(|| format!("layer {name}")))
        .collect::<Result<Vec<_>>>()?;
    let mut jobs: Vec<Job> = (0..layers.len())
        .flat_map(|l| (0..estimators.len()).map(move |e| Job::Estimate(l, e)))
        .collect();
    if extras.stats {
        jobs.extend((0..layers.len()).map(Job::Stats));
    }
    let done = jobs
        .par_iter()
        .map(|job| -> Result<Done> {
            Ok(match *job {
                Job::Estimate(l, e) => {
                    let ((name, t), (n, d, v), est) = (&layers[l], &host[l], &estimators[e]);
                    match &est.spec {
                        EstimatorSpec::Binned(b) => {
                            let context = || format!("estimator {} on {name}", est.name);
                            let t = binned_symbols(v, *n, *d, b).with_context(context)?;
                            let mi = binned_mi_from_symbols(&t, &samples.x_ids, &samples.y)
                                .with_context(context)?;
                            let row = Estimate {
                                layer: name.clone(),
                                estimator: est.name.clone(),
                                i_xt: mi.i_xt,
                                i_ty: mi.i_ty,
                                i_xt_lower: None,
                                i_ty_lower: None,
                                sigma2: None,
                            };
                            Done::Estimate(row, Some(t.ids))
                        }
                        _ => Done::Estimate(estimate_layer(name, t, est, samples)?, None),
                    }
                }
                Job::Stats(l) => {
                    let ((name, _), (n, d, v)) = (&layers[l], &host[l]);
                    Done::Stats(stats_of_layer(
                        name,
                        v,
                        *n,
                        *d,
                        estimators,
                        extras.saturation,
                    )?)
                }
            })
        })
        .collect::<Result<Vec<Done>>>()?;
    // symbols[e][l]: layer l's symbols under estimator e (binned family only).
    let mut symbols: Vec<Vec<Vec<u32>>> = vec![Vec::new(); estimators.len()];
    let (mut estimates, mut stats) = (Vec::new(), Vec::new());
    for (job, out) in jobs.iter().zip(done) {
        match (job, out) {
            (Job::Estimate(_, e), Done::Estimate(row, ids)) => {
                estimates.push(row);
                if let Some(ids) = ids {
                    symbols[*e].push(ids);
                }
            }
            (_, Done::Stats(rows)) => stats.extend(rows),
            (_, Done::Estimate(..)) => {}
        }
    }
    let flows = if extras.flow {
        // Every binned estimator has every layer's symbols (layers in order), taken once.
        flows_with(layers, estimators, &estimates, |e, _| {
            Ok(std::mem::take(&mut symbols[e]))
        })?
    } else {
        Vec::new()
    };
    Ok((estimates, flows, stats))
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use probe_estimators::{exact_symbols, Binning};

    /// `[n, d]` tanh-like values on a coarse grid (rows repeat, some saturate); `dead`: neuron 0
    /// constant.
    fn layer(n: usize, d: usize, seed: u64, dead: bool) -> Tensor {
        let mut s = seed;
        let mut v: Vec<f32> = (0..n * d)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 58) as f32 / 32.0) * 2.2 - 1.1
            })
            .collect();
        if dead {
            (0..n).for_each(|r| v[r * d] = 1.0);
        }
        Tensor::from_vec(v, (n, d), &Device::Cpu).unwrap()
    }

    #[test]
    fn one_pass_gives_the_rows_of_estimates_then_extras() {
        // The run's measurement (measure_replicas) must give exactly what estimate_replicas then
        // extras_all give (what `probe analyze` computes), row for row, to the bit (NaN == NaN).
        let n = 300;
        let layers: Vec<(String, Tensor)> = [10, 7, 5, 2]
            .iter()
            .enumerate()
            .map(|(l, &d)| (format!("layers.{l}"), layer(n, d, l as u64 + 1, l == 1)))
            .collect();
        let x: Vec<f32> = (0..n * 2).map(|i| ((i * 37) % 101) as f32).collect();
        let samples = Samples {
            x_ids: exact_symbols(&x, n, 2).unwrap().ids,
            x: Some((x, 2)),
            y: (0..n as u32).map(|i| i % 3).collect(),
        };
        let named = |name: &str, spec| NamedEstimator {
            name: name.into(),
            spec,
        };
        let estimators = vec![
            named(
                "binned",
                EstimatorSpec::Binned(Binning::Fixed {
                    lo: -1.0,
                    hi: 1.0,
                    edges: 30,
                }),
            ),
            named("kde", EstimatorSpec::Kde { sigma2: 0.01 }),
            named(
                "floor",
                EstimatorSpec::Binned(Binning::Floor { width: 0.3 }),
            ),
            named(
                "adaptive",
                EstimatorSpec::Binned(Binning::Adaptive { bins: 12 }),
            ),
            named("knn", EstimatorSpec::Knn { k: 3 }),
        ];
        let replicas = vec![layers.clone()];
        for (flow, stats) in [(true, true), (false, true), (true, false)] {
            let extras = ExtrasSpec::new(flow, stats, 0.99).unwrap();
            let (est, flows, st) =
                measure_replicas(&replicas, &samples, &estimators, &extras).unwrap();
            let want = estimate_replicas(&replicas, &samples, &estimators).unwrap();
            let (want_flows, want_stats) =
                extras_all(&extras, &layers, &estimators, &want[0]).unwrap();
            let bits = |v: &dyn std::fmt::Debug| format!("{v:?}");
            assert_eq!(
                bits(&est),
                bits(&want),
                "estimates, flow {flow} stats {stats}"
            );
            assert_eq!(
                bits(&flows),
                bits(&want_flows),
                "flows, flow {flow} stats {stats}"
            );
            assert_eq!(
                bits(&st),
                bits(&want_stats),
                "stats, flow {flow} stats {stats}"
            );
            assert_eq!(est[0].len(), 4 * 5);
            assert_eq!(flows.len(), if flow { 3 * 4 } else { 0 });
            assert_eq!(st.len(), if stats { 4 * 3 } else { 0 });
        }
        // An ensemble gets its estimates only.
        let two = vec![layers.clone(), layers];
        let extras = ExtrasSpec::new(true, true, 0.99).unwrap();
        let (est, flows, st) = measure_replicas(&two, &samples, &estimators, &extras).unwrap();
        assert_eq!((est.len(), flows.len(), st.len()), (2, 0, 0));
    }
}
