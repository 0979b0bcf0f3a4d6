//! One measurement: capture the selected hook points on the probe set and run every estimator on
//! each of them. Activations stay on the model's device until an estimator reads them.
//!
//! Besides the information plane, a measurement gives (see [`extras_all`]; units: bits):
//! * the **flow** `I(A_l; A_{l+1})` between consecutive measured layers, per binned-family and
//!   kde estimator (knn has none: see `docs/estimators.md`), with the loss `H(A_l) − I` of each
//!   transition and the **bottleneck** (largest loss) per estimator, under [`FLOW_HEADER`];
//! * per-layer **statistics** (per-neuron entropy under each binned-family estimator's bins,
//!   sparsity, saturation, dead units, mean surprisal), under [`STATS_HEADER`].

use std::path::Path;

use crate::error::{bail, Context, Result};
use candle_core::Tensor;
use probe_capture::{ActivationCache, NameFilter, Representations};
use probe_estimators::{
    binned_flow_from_symbols, binned_symbols, bottleneck, kde_entropy, kde_joint_entropy,
    layer_stats, Binning, KdeEntropy, KdeFlow,
};
use probe_report::{fmt_f64, CsvTable};
use probe_train::model::Model;
use rayon::prelude::*;
use serde::Serialize;

use crate::estimate::{
    estimate_layer, host_rows, Estimate, EstimatorSpec, NamedEstimator, Samples,
};

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
const CHUNK: usize = 8192;

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

/// Every estimator on every layer: one [`Estimate`] per (layer, estimator), layers outermost.
pub fn estimate_all(
    layers: &[(String, Tensor)],
    samples: &Samples,
    estimators: &[NamedEstimator],
) -> Result<Vec<Estimate>> {
    // Independent estimates, in parallel; collected in (layer, estimator) order.
    let jobs: Vec<(&(String, Tensor), &NamedEstimator)> = layers
        .iter()
        .flat_map(|l| estimators.iter().map(move |e| (l, e)))
        .collect();
    jobs.par_iter()
        .map(|((name, t), e)| estimate_layer(name, t, e, samples))
        .collect()
}

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
    /// Checks the saturation threshold (finite, `> 0`, representable in f32).
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

/// Columns of `flow.csv` (`probe train`) and `analysis-flow.csv` (`probe analyze`).
pub const FLOW_HEADER: [&str; 9] = [
    "epoch",
    "layer_from",
    "layer_to",
    "estimator",
    "i_bits",
    "i_bits_lower",
    "h_from_bits",
    "loss_bits",
    "bottleneck",
];

/// Columns of `stats.csv` (`probe train`) and `analysis-stats.csv` (`probe analyze`).
pub const STATS_HEADER: [&str; 12] = [
    "epoch",
    "layer",
    "estimator",
    "samples",
    "neurons",
    "entropy_mean",
    "entropy_min",
    "entropy_max",
    "surprisal_mean",
    "sparsity",
    "saturation",
    "dead_units",
];

/// The information between two consecutive layers under one estimator, in bits.
#[derive(Clone, Debug, PartialEq, Serialize)]
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

/// One layer's activation statistics (see `probe_estimators::stats`).
#[derive(Clone, Debug, PartialEq, Serialize)]
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

/// The binning of a binned-family estimator.
fn binning_of(e: &NamedEstimator) -> Option<&Binning> {
    match &e.spec {
        EstimatorSpec::Binned(b) => Some(b),
        _ => None,
    }
}

/// Flows and statistics of one measurement (empty where `spec` turns them off). `estimates` are
/// this measurement's [`estimate_all`] rows: kde flows reuse each layer's entropy terms from them.
pub fn extras_all(
    spec: &ExtrasSpec,
    layers: &[(String, Tensor)],
    estimators: &[NamedEstimator],
    estimates: &[Estimate],
) -> Result<(Vec<Flow>, Vec<Stats>)> {
    let binned: Vec<&NamedEstimator> = estimators
        .iter()
        .filter(|e| binning_of(e).is_some())
        .collect();
    let need_host = spec.stats || (spec.flow && !binned.is_empty() && layers.len() > 1);
    let host = if need_host {
        layers
            .iter()
            .map(|(name, t)| host_rows(t).with_context(|| format!("layer {name}")))
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    let mut flows = Vec::new();
    if spec.flow && layers.len() > 1 {
        for e in estimators {
            let context = || format!("flow of estimator {}", e.name);
            let mut rows = match &e.spec {
                EstimatorSpec::Binned(b) => {
                    binned_flows(layers, &host, &e.name, b).with_context(context)?
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
    }
    let mut stats = Vec::new();
    if spec.stats {
        for ((name, _), (n, d, v)) in layers.iter().zip(&host) {
            let context = || format!("statistics of {name}");
            let mut push = |estimator: Option<&NamedEstimator>| -> Result<()> {
                let s = layer_stats(v, *n, *d, estimator.and_then(binning_of), spec.saturation)
                    .with_context(context)?;
                let e = s.entropy.as_ref();
                stats.push(Stats {
                    layer: name.clone(),
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
                });
                Ok(())
            };
            if binned.is_empty() {
                push(None)?;
            }
            for e in &binned {
                push(Some(e))?;
            }
        }
    }
    Ok((flows, stats))
}

/// Binned flows of consecutive layers (host rows `host`), each layer's symbols computed once.
fn binned_flows(
    layers: &[(String, Tensor)],
    host: &[(usize, usize, Vec<f32>)],
    estimator: &str,
    binning: &Binning,
) -> Result<Vec<Flow>> {
    let ids = host
        .iter()
        .map(|(n, d, v)| Ok(binned_symbols(v, *n, *d, binning)?.ids))
        .collect::<Result<Vec<_>>>()?;
    let mut out = Vec::with_capacity(layers.len() - 1);
    for (l, pair) in ids.windows(2).enumerate() {
        let f = binned_flow_from_symbols(&pair[0], &pair[1])?;
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
fn kde_flows(
    layers: &[(String, Tensor)],
    estimates: &[Estimate],
    estimator: &str,
    sigma2: f64,
) -> Result<Vec<Flow>> {
    let terms = |(name, t): &(String, Tensor)| -> Result<KdeEntropy> {
        let row = estimates
            .iter()
            .find(|e| e.estimator == estimator && &e.layer == name);
        Ok(match row.and_then(|e| Some((e.i_xt, e.i_xt_lower?))) {
            Some((upper, lower)) => KdeEntropy { upper, lower },
            None => kde_entropy(t, sigma2)?,
        })
    };
    let mut out = Vec::with_capacity(layers.len() - 1);
    for pair in layers.windows(2) {
        let joint = kde_joint_entropy(&pair[0].1, &pair[1].1, sigma2)?;
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

/// The row of `f` under [`FLOW_HEADER`] (`epoch` empty when `None`).
pub fn flow_row(epoch: Option<usize>, f: &Flow) -> [String; 9] {
    [
        epoch.map(|e| e.to_string()).unwrap_or_default(),
        f.layer_from.clone(),
        f.layer_to.clone(),
        f.estimator.clone(),
        fmt_f64(f.i_bits),
        f.i_bits_lower.map(fmt_f64).unwrap_or_default(),
        fmt_f64(f.h_from_bits),
        fmt_f64(f.loss_bits),
        u8::from(f.bottleneck).to_string(),
    ]
}

/// The row of `s` under [`STATS_HEADER`] (`epoch` empty when `None`).
pub fn stats_row(epoch: Option<usize>, s: &Stats) -> [String; 12] {
    let opt = |x: Option<f64>| x.map(fmt_f64).unwrap_or_default();
    [
        epoch.map(|e| e.to_string()).unwrap_or_default(),
        s.layer.clone(),
        s.estimator.clone().unwrap_or_default(),
        s.samples.to_string(),
        s.neurons.to_string(),
        opt(s.entropy_mean),
        opt(s.entropy_min),
        opt(s.entropy_max),
        opt(s.surprisal_mean),
        fmt_f64(s.sparsity),
        fmt_f64(s.saturation),
        s.dead_units.to_string(),
    ]
}

/// One line per estimator naming its bottleneck among `flows`.
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

/// `probe train`'s `flow.csv` and `stats.csv`, grown at every measured epoch.
pub struct Extras {
    spec: ExtrasSpec,
    flow: CsvTable,
    stats: CsvTable,
    last: Option<(usize, Vec<Flow>)>,
}

impl Extras {
    /// Empty tables for `spec`.
    pub fn new(spec: ExtrasSpec) -> Self {
        Self {
            spec,
            flow: CsvTable::new(&FLOW_HEADER),
            stats: CsvTable::new(&STATS_HEADER),
            last: None,
        }
    }

    /// Measures the flows and statistics of `epoch`'s captured `layers` (`estimates`: that
    /// epoch's [`estimate_all`] rows) and adds their rows.
    pub fn record(
        &mut self,
        epoch: usize,
        layers: &[(String, Tensor)],
        estimators: &[NamedEstimator],
        estimates: &[Estimate],
    ) -> Result<()> {
        let (flows, stats) = extras_all(&self.spec, layers, estimators, estimates)?;
        for f in &flows {
            self.flow.push(flow_row(Some(epoch), f))?;
        }
        for s in &stats {
            self.stats.push(stats_row(Some(epoch), s))?;
        }
        self.last = Some((epoch, flows));
        Ok(())
    }

    /// Continues the tables of a checkpoint.
    pub fn restore(&mut self, flow: CsvTable, stats: CsvTable) {
        self.flow = flow;
        self.stats = stats;
    }

    /// The tables, by file name, for a checkpoint.
    pub fn tables(&self) -> Vec<(&'static str, &CsvTable)> {
        vec![("flow.csv", &self.flow), ("stats.csv", &self.stats)]
    }

    /// Rewrites `flow.csv` / `stats.csv` in `dir` (those switched on); `durable` fsyncs them.
    pub fn flush(&self, dir: &Path, durable: bool) -> Result<()> {
        for (on, table, name) in [
            (self.spec.flow, &self.flow, "flow.csv"),
            (self.spec.stats, &self.stats, "stats.csv"),
        ] {
            if on {
                let path = dir.join(name);
                if durable {
                    table.write_atomic(&path)?;
                } else {
                    table.replace_atomic(&path)?;
                }
            }
        }
        Ok(())
    }

    /// The bottlenecks of the last measured epoch, one line per estimator (for the end-of-run
    /// summary); `None` without flows.
    pub fn summary(&self) -> Option<String> {
        let (epoch, flows) = self.last.as_ref()?;
        let lines = bottleneck_lines(flows);
        (!lines.is_empty()).then(|| {
            lines
                .iter()
                .map(|l| format!("epoch {epoch} {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        })
    }
}
