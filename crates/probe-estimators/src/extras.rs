//! What a measurement gives besides the information plane, over the measured layers in order
//! (each `[n, …]` on the same `n` samples; units: bits):
//!
//! * the **flow** `I(A_l; A_{l+1})` between consecutive layers, per binned-family and kde
//!   estimator (knn has none: see [`crate::flow`]), with the loss `H(A_l) − I` of each transition
//!   and the **bottleneck** (largest loss, [`crate::bottleneck`]) marked per estimator: [`Flow`];
//! * per-layer **statistics** (per-neuron entropy under each binned-family estimator's bins,
//!   sparsity, saturation, dead units, mean surprisal; see [`crate::stats`]): [`Stats`].
//!
//! [`extras_all`] computes both for one measurement, as [`ExtrasSpec`] asks.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use probe_estimators::{extras_all, Binning, EstimatorSpec, ExtrasSpec, NamedEstimator};
//! let a = Tensor::new(&[[-0.9f32], [-0.4], [0.3], [0.8]], &Device::Cpu).unwrap();
//! let b = Tensor::new(&[[-1.0f32], [-1.0], [1.0], [1.0]], &Device::Cpu).unwrap();
//! let layers = vec![("a".to_string(), a), ("b".to_string(), b)];
//! let est = [NamedEstimator {
//!     name: "floor".into(),
//!     spec: EstimatorSpec::Binned(Binning::Floor { width: 0.5 }),
//! }];
//! let spec = ExtrasSpec::new(true, true, 0.99).unwrap();
//! let (flows, stats) = extras_all(&spec, &layers, &est, &[]).unwrap();
//! assert_eq!((flows[0].i_bits, flows[0].loss_bits, flows[0].bottleneck), (1.0, 1.0, true));
//! assert_eq!(stats.len(), 2);
//! ```

use crate::binned::binned_symbols;
use crate::binning::Binning;
use crate::discrete::entropy_bits;
use crate::error::{bail, Context, Result};
use crate::estimate::Estimate;
use crate::flow::{binned_flow_with_entropies, bottleneck, kde_joint_entropy, KdeFlow};
use crate::kde::{kde_entropy, KdeEntropy};
use crate::layer::Activations;
use crate::spec::{EstimatorSpec, NamedEstimator};
use crate::stats::layer_stats;

/// Default `measure.saturation` / `--saturation`: `|x| >= 0.99` counts as saturated (tanh within
/// 1% of ±1, which in f32 includes every unit whose pre-activation exceeds about 2.65).
pub const DEFAULT_SATURATION: f64 = 0.99;

/// Which extra measurements run, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtrasSpec {
    /// Layer-to-layer information and bottlenecks.
    pub flow: bool,
    /// Per-layer activation statistics.
    pub stats: bool,
    /// Saturation threshold on `|x|`.
    pub saturation: f64,
}

impl ExtrasSpec {
    /// Checks the saturation threshold (finite, `> 0`, representable in f32). The message starts
    /// with the value; the caller says which key or flag gave it.
    pub fn new(flow: bool, stats: bool, saturation: f64) -> Result<Self> {
        if !(saturation.is_finite() && saturation > 0.0 && (saturation as f32).is_finite()) {
            bail!("{saturation}; expected a finite threshold > 0 on |x| (default {DEFAULT_SATURATION})");
        }
        Ok(Self {
            flow,
            stats,
            saturation,
        })
    }
}

/// The information between two consecutive layers under one estimator, in bits.
#[derive(Clone, Debug, PartialEq)]
pub struct Flow {
    /// The earlier layer.
    pub layer_from: String,
    /// The next measured layer.
    pub layer_to: String,
    /// Estimator name.
    pub estimator: String,
    /// `I(A;B)` (kde: at `2σ²`).
    pub i_bits: f64,
    /// kde only: at `8σ²`.
    pub i_bits_lower: Option<f64>,
    /// `H(A)` (kde: `F_A` at `2σ²`).
    pub h_from_bits: f64,
    /// `H(A) − I(A;B)`: what the transition loses.
    pub loss_bits: f64,
    /// Whether this transition loses the most under this estimator (first on ties).
    pub bottleneck: bool,
}

/// One layer's activation statistics (see [`crate::stats`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Stats {
    /// Layer name.
    pub layer: String,
    /// The binned-family estimator whose bins the entropies use (`None`: no such estimator runs,
    /// and the entropy columns are empty).
    pub estimator: Option<String>,
    /// Samples.
    pub samples: usize,
    /// Neurons (values per sample).
    pub neurons: usize,
    /// Mean per-neuron entropy, bits.
    pub entropy_mean: Option<f64>,
    /// Smallest per-neuron entropy, bits.
    pub entropy_min: Option<f64>,
    /// Largest per-neuron entropy, bits.
    pub entropy_max: Option<f64>,
    /// Mean `−log2 p(bin)` under the layer's pooled histogram, bits.
    pub surprisal_mean: Option<f64>,
    /// Fraction of exact zeros.
    pub sparsity: f64,
    /// Fraction with `|x| >=` the threshold.
    pub saturation: f64,
    /// Neurons constant on every sample.
    pub dead_units: usize,
}

/// Flows and statistics of one measurement (empty where `spec` turns them off). `estimates` are
/// this measurement's rows ([`crate::estimate_layer`] of every layer and estimator): kde flows
/// reuse each layer's entropy terms from them (and compute those missing). Layers are tensors or
/// host rows read in place ([`crate::layer`]).
pub fn extras_all<A: Activations>(
    spec: &ExtrasSpec,
    layers: &[(String, A)],
    estimators: &[NamedEstimator],
    estimates: &[Estimate],
) -> Result<(Vec<Flow>, Vec<Stats>)> {
    let any_binned = estimators.iter().any(|e| e.spec.binning().is_some());
    let need_host = spec.stats || (spec.flow && any_binned && layers.len() > 1);
    let host = if need_host {
        layers
            .iter()
            .map(|(name, t)| t.host_rows().with_context(|| format!("layer {name}")))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let flows = if spec.flow {
        let symbols = |_: usize, binning: &Binning| -> Result<Vec<Vec<u32>>> {
            host.iter()
                .map(|(n, d, v)| Ok(binned_symbols(v, *n, *d, binning)?.ids))
                .collect()
        };
        flows_with(layers, estimators, estimates, symbols)?
    } else {
        Vec::new()
    };
    let mut stats = Vec::new();
    if spec.stats {
        for ((name, _), (n, d, v)) in layers.iter().zip(&host) {
            stats.extend(stats_of_layer(
                name,
                v,
                *n,
                *d,
                estimators,
                spec.saturation,
            )?);
        }
    }
    Ok((flows, stats))
}

/// The flows of one measurement (as [`extras_all`] with `flow` on), with `symbols(i, binning)`
/// giving every layer's binned symbols under `estimators[i]` (binned family, `binning` its bins),
/// e.g. those its information-plane rows were computed from, so they are not computed twice.
pub fn flows_with<A: Activations>(
    layers: &[(String, A)],
    estimators: &[NamedEstimator],
    estimates: &[Estimate],
    mut symbols: impl FnMut(usize, &Binning) -> Result<Vec<Vec<u32>>>,
) -> Result<Vec<Flow>> {
    let mut flows = Vec::new();
    if layers.len() < 2 {
        return Ok(flows);
    }
    for (i, e) in estimators.iter().enumerate() {
        let context = || format!("flow of estimator {}", e.name);
        let mut rows = match &e.spec {
            EstimatorSpec::Binned(b) => {
                let ids = symbols(i, b).with_context(context)?;
                binned_flows(layers, &ids, &e.name).with_context(context)?
            }
            EstimatorSpec::Kde { sigma2 } => {
                kde_flows(layers, estimates, &e.name, *sigma2).with_context(context)?
            }
            EstimatorSpec::Knn { .. } => continue,
        };
        let losses: Vec<f64> = rows.iter().map(|f| f.loss_bits).collect();
        if let Some(i) = bottleneck(&losses) {
            rows[i].bottleneck = true;
        }
        flows.extend(rows);
    }
    Ok(flows)
}

/// The statistics rows of one layer (`name`, row-major `[n, d]` host values `v`): one per
/// binned-family estimator (its bins for the entropies), or one without entropies when there is
/// none; as [`extras_all`] with `stats` on.
pub fn stats_of_layer(
    name: &str,
    v: &[f32],
    n: usize,
    d: usize,
    estimators: &[NamedEstimator],
    saturation: f64,
) -> Result<Vec<Stats>> {
    let context = || format!("statistics of {name}");
    let row = |estimator: Option<&NamedEstimator>| -> Result<Stats> {
        let binning = estimator.and_then(|e| e.spec.binning());
        let s = layer_stats(v, n, d, binning, saturation).with_context(context)?;
        let e = s.entropy.as_ref();
        Ok(Stats {
            layer: name.to_string(),
            estimator: estimator.map(|e| e.name.clone()),
            samples: s.samples,
            neurons: s.neurons,
            entropy_mean: e.map(|e| e.mean),
            entropy_min: e.map(|e| e.min),
            entropy_max: e.map(|e| e.max),
            surprisal_mean: e.map(|e| e.surprisal_mean),
            sparsity: s.sparsity,
            saturation: s.saturation,
            dead_units: s.dead_units,
        })
    };
    let binned: Vec<&NamedEstimator> = estimators
        .iter()
        .filter(|e| e.spec.binning().is_some())
        .collect();
    if binned.is_empty() {
        return Ok(vec![row(None)?]);
    }
    binned.into_iter().map(|e| row(Some(e))).collect()
}

/// Binned flows of consecutive layers from each layer's symbols `ids`.
fn binned_flows<A>(layers: &[(String, A)], ids: &[Vec<u32>], estimator: &str) -> Result<Vec<Flow>> {
    let mut out = Vec::with_capacity(layers.len() - 1);
    let h: Vec<f64> = ids.iter().map(|ids| entropy_bits(ids)).collect();
    for (l, pair) in ids.windows(2).enumerate() {
        let f = binned_flow_with_entropies(&pair[0], &pair[1], h[l], h[l + 1])?;
        out.push(Flow {
            layer_from: layers[l].0.clone(),
            layer_to: layers[l + 1].0.clone(),
            estimator: estimator.to_string(),
            i_bits: f.i_bits,
            i_bits_lower: None,
            h_from_bits: f.h_from,
            loss_bits: f.loss(),
            bottleneck: false,
        });
    }
    Ok(out)
}

/// KDE flows of consecutive layers: each layer's terms from its `estimates` row (its `I(X;T)`
/// bounds are exactly those terms), plus one joint pass per transition.
fn kde_flows<A: Activations>(
    layers: &[(String, A)],
    estimates: &[Estimate],
    estimator: &str,
    sigma2: f64,
) -> Result<Vec<Flow>> {
    let terms = |(name, t): &(String, A)| -> Result<KdeEntropy> {
        let row = estimates
            .iter()
            .find(|e| e.estimator == estimator && &e.layer == name);
        Ok(match row.and_then(|e| Some((e.i_xt, e.i_xt_lower?))) {
            Some((upper, lower)) => KdeEntropy { upper, lower },
            None => kde_entropy(&*t.tensor()?, sigma2)?,
        })
    };
    let mut out = Vec::with_capacity(layers.len() - 1);
    for pair in layers.windows(2) {
        let joint = kde_joint_entropy(&*pair[0].1.tensor()?, &*pair[1].1.tensor()?, sigma2)?;
        let f = KdeFlow::from_entropies(terms(&pair[0])?, terms(&pair[1])?, joint, sigma2);
        out.push(Flow {
            layer_from: pair[0].0.clone(),
            layer_to: pair[1].0.clone(),
            estimator: estimator.to_string(),
            i_bits: f.i_bits,
            i_bits_lower: Some(f.i_bits_lower),
            h_from_bits: f.h_from.upper,
            loss_bits: f.loss(),
            bottleneck: false,
        });
    }
    Ok(out)
}

/// One line per estimator naming its bottleneck among `flows` (for a summary on a terminal):
/// `bottleneck (binned): a -> b loses 1.000 of 2.000 bits (I = 1.000 bits)`.
pub fn bottleneck_lines(flows: &[Flow]) -> Vec<String> {
    flows
        .iter()
        .filter(|f| f.bottleneck)
        .map(|f| {
            format!(
                "bottleneck ({}): {} -> {} loses {:.3} of {:.3} bits (I = {:.3} bits)",
                f.estimator, f.layer_from, f.layer_to, f.loss_bits, f.h_from_bits, f.i_bits
            )
        })
        .collect()
}
