//! The analysis itself, over data held in memory (a Python binding's arrays, a test's tensors):
//! every estimator on every layer, the flow between consecutive layers and the per-layer
//! statistics, with the entropies that bound the plane. No file is read or written; units: bits.
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use probe_run::analyze::{analyze_layers, InputIds};
//! use probe_run::measure::ExtrasSpec;
//! use probe_estimators::{Binning, EstimatorSpec, NamedEstimator};
//! let t = Tensor::new(&[[0.0f32, 0.0], [0.0, 0.5], [0.5, 0.0], [0.5, 0.5]], &Device::Cpu).unwrap();
//! let layers = vec![("layers.0.hook_post".to_string(), t)];
//! let x = Tensor::new(&[[0u8, 0], [0, 1], [1, 0], [1, 1]], &Device::Cpu).unwrap();
//! let inputs = InputIds::from_tensor(&x).unwrap();
//! let est = [NamedEstimator {
//!     name: "floor".into(),
//!     spec: EstimatorSpec::Binned(Binning::Floor { width: 0.25 }),
//! }];
//! let extras = ExtrasSpec::new(true, true, 0.99).unwrap();
//! let a = analyze_layers(&layers, &[0, 0, 1, 1], Some(&inputs), &est, &extras).unwrap();
//! assert_eq!((a.rows[0].i_xt, a.rows[0].i_ty), (2.0, 1.0));
//! assert_eq!((a.h_x, a.h_y, a.distinct_inputs), (2.0, 1.0, 4));
//! ```

use candle_core::DType;
use probe_estimators::{
    entropy_bits, extras_all, Activations, Estimate, EstimatorSpec, ExtrasSpec, Flow,
    NamedEstimator, Samples, Stats,
};

use crate::error::{bail, Result};
use crate::measure::estimate_all;
use crate::tensors::InputIds;

/// One analysed layer, as `analysis.json` lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerInfo {
    /// Layer (tensor) name.
    pub name: String,
    /// Its shape, `[samples, …]`.
    pub shape: Vec<usize>,
    /// Its dtype.
    pub dtype: DType,
}

/// Everything `probe analyze` measures, in memory (what its output directory holds, less the
/// provenance: see [`super::AnalysisSource`]). Values in bits.
#[derive(Clone, Debug, PartialEq)]
pub struct Analysis {
    /// The layers, in the order they were analysed.
    pub layers: Vec<LayerInfo>,
    /// The estimators, in order (the first names the plot `analysis.png`).
    pub estimators: Vec<NamedEstimator>,
    /// Which extras ran: `flows` is empty unless `extras.flow`, `stats` unless `extras.stats`.
    pub extras: ExtrasSpec,
    /// Number of samples (dim 0 of every layer).
    pub samples: usize,
    /// Number of distinct inputs (`samples` without inputs: every sample its own input).
    pub distinct_inputs: usize,
    /// `H(X)` of the input symbols, bits (the bound on `I(X;T)`).
    pub h_x: f64,
    /// `H(Y)` of the labels, bits (the bound on `I(T;Y)`).
    pub h_y: f64,
    /// One row per (layer, estimator), layers outermost.
    pub rows: Vec<Estimate>,
    /// The flow between consecutive layers per estimator, bottlenecks marked.
    pub flows: Vec<Flow>,
    /// Per-layer statistics (one row per layer and binned-family estimator).
    pub stats: Vec<Stats>,
    /// Caveats about reading the results (e.g. kde's bounds with repeated inputs), one sentence
    /// each; `probe analyze` prints them as `note: …`.
    pub notes: Vec<String>,
}

impl Analysis {
    /// The flows marked as their estimator's bottleneck.
    pub fn bottlenecks(&self) -> impl Iterator<Item = &Flow> {
        self.flows.iter().filter(|f| f.bottleneck)
    }
}

/// The analysis of `layers` (each `(name, [n, …])`, all on the same `n` samples), with class
/// labels `labels` (`n` of them) and the inputs' symbols `inputs` (`None`: every sample is its
/// own input, and knn cannot run; [`InputIds::from_tensor`] groups inputs held in memory as
/// `probe analyze` groups a file's).
///
/// A layer is a candle `Tensor` (any float dtype, any device), or host `f32` rows that the
/// estimators read in place, without a copy ([`probe_estimators::HostRows`]; a mix of both:
/// [`probe_estimators::Layer`]). The same values give the same results to the bit either way.
pub fn analyze_layers<A: Activations + Sync>(
    layers: &[(String, A)],
    labels: &[u32],
    inputs: Option<&InputIds>,
    estimators: &[NamedEstimator],
    extras: &ExtrasSpec,
) -> Result<Analysis> {
    let n = samples_of(layers)?;
    if labels.len() != n {
        bail!(
            "{} labels but the layers have {n} samples; they must describe the same samples in the same order",
            labels.len()
        );
    }
    if let Some(x) = inputs {
        if x.ids.len() != n {
            bail!(
                "{} inputs but the layers have {n} samples; they must describe the same samples in the same order",
                x.ids.len()
            );
        }
    }
    check_inputs(estimators, inputs)?;
    let samples = Samples {
        x_ids: inputs.map_or_else(|| (0..n as u32).collect(), |x| x.ids.clone()),
        x: inputs.map(|x| (x.values.clone(), x.d)),
        y: labels.to_vec(),
    };
    let distinct_inputs = inputs.map_or(n, |x| x.distinct);
    let rows = estimate_all(layers, &samples, estimators)?;
    let (flows, stats) = extras_all(extras, layers, estimators, &rows)?;
    Ok(Analysis {
        layers: layers
            .iter()
            .map(|(name, t)| LayerInfo {
                name: name.clone(),
                shape: t.dims().to_vec(),
                dtype: t.dtype(),
            })
            .collect(),
        estimators: estimators.to_vec(),
        extras: extras.clone(),
        samples: n,
        distinct_inputs,
        h_x: entropy_bits(&samples.x_ids),
        h_y: entropy_bits(&samples.y),
        rows,
        flows,
        stats,
        notes: notes(estimators, n, distinct_inputs),
    })
}

/// The number of samples of `layers`: dim 0, the same in every layer.
fn samples_of<A: Activations>(layers: &[(String, A)]) -> Result<usize> {
    let mut n: Option<(usize, &str)> = None;
    for (name, t) in layers {
        let Some(&rows) = t.dims().first() else {
            bail!("layer {name:?} is a scalar; a layer is [samples, …] (one row per sample)");
        };
        match n {
            None => n = Some((rows, name)),
            Some((m, first)) if m != rows => bail!(
                "layer {name:?} has {rows} samples but layer {first:?} has {m}; every layer needs the same samples"
            ),
            Some(_) => {}
        }
    }
    match n {
        Some((n, _)) => Ok(n),
        None => bail!("no layers to analyze; give at least one (name, tensor [samples, …])"),
    }
}

/// knn estimates `I(X;T)` from the inputs themselves: without them it cannot run.
pub(super) fn check_inputs(estimators: &[NamedEstimator], inputs: Option<&InputIds>) -> Result<()> {
    if inputs.is_none() {
        if let Some(e) = estimators
            .iter()
            .find(|e| matches!(e.spec, EstimatorSpec::Knn { .. }))
        {
            bail!(
                "estimator {} (knn) estimates I(X;T) from the inputs themselves; give them with --inputs",
                e.name
            );
        }
    }
    Ok(())
}

/// The caveats of reading `estimators` on `n` samples with `distinct` distinct inputs.
pub(super) fn notes(estimators: &[NamedEstimator], n: usize, distinct: usize) -> Vec<String> {
    let kde = estimators
        .iter()
        .find(|e| matches!(e.spec, EstimatorSpec::Kde { .. }));
    match kde {
        Some(e) if distinct < n => vec![format!(
            "{} of the {} inputs are distinct; estimator {} (kde) assumes distinct inputs, so its I(X;T) bounds are not I(X;T) here (docs/estimators.md)",
            distinct, n, e.name
        )],
        _ => Vec::new(),
    }
}
