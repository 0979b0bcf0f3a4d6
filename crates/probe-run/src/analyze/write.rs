//! The output directory of `probe analyze`, written from an [`Analysis`]: `analysis.csv` (the
//! columns of `infoplane.csv`), `analysis-flow.csv` and `analysis-stats.csv` (those of `flow.csv`
//! and `stats.csv`, when the analysis ran them), `analysis.json` (all of it, the bottlenecks, and
//! where the data came from) and `analysis.{png,svg}` (`analysis-{name}.*` for further
//! estimators). Units: bits.

use std::path::{Path, PathBuf};

use probe_estimators::{Binning, Estimate, EstimatorSpec, Flow, Stats};
use probe_report::{write_atomic, CsvTable, InfoPoint, PlaneOptions};
use serde_json::{json, Value};

use super::Analysis;
use crate::error::Result;
use crate::rundir::plots::plot_plane;
use crate::rundir::{
    estimate_row, flow_row, stats_row, FLOW_HEADER, INFOPLANE_HEADER, STATS_HEADER,
};

/// Where the analysed data came from: what `analysis.json` records (`null` where `None`), the
/// `epoch` column, and the plots' title.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AnalysisSource {
    /// The activations file.
    pub activations: Option<PathBuf>,
    /// The labels file.
    pub labels: Option<PathBuf>,
    /// The tensor of the labels file used.
    pub labels_key: Option<String>,
    /// The inputs file.
    pub inputs: Option<PathBuf>,
    /// The tensor of the inputs file used.
    pub inputs_key: Option<String>,
    /// The epoch the activations were captured after (the `epoch` column; empty if `None`).
    pub epoch: Option<usize>,
    /// Title of the plots (followed by ` — information plane (estimator)`).
    pub title: String,
}

impl Analysis {
    /// The tables of the analysis with `epoch` in their `epoch` column, in the order of their
    /// files: the rows (the columns of `infoplane.csv`), then the flows and the statistics
    /// (those of `flow.csv` and `stats.csv`; `None` when the analysis did not run them).
    pub fn tables(&self, epoch: Option<usize>) -> Result<[Option<CsvTable>; 3]> {
        let rows = table(&INFOPLANE_HEADER, &self.rows, |e| estimate_row(epoch, e))?;
        let flow = (self.extras.flow)
            .then(|| table(&FLOW_HEADER, &self.flows, |f| flow_row(epoch, f)))
            .transpose()?;
        let stats = (self.extras.stats)
            .then(|| table(&STATS_HEADER, &self.stats, |s| stats_row(epoch, s)))
            .transpose()?;
        Ok([Some(rows), flow, stats])
    }
}

/// A table of `header`'s columns with `row` of each of `items`.
fn table<T, const N: usize>(
    header: &[&str],
    items: &[T],
    row: impl Fn(&T) -> [String; N],
) -> Result<CsvTable> {
    let mut t = CsvTable::new(header);
    for item in items {
        t.push(row(item))?;
    }
    Ok(t)
}

/// Writes `analysis`'s files into `dir`, which must exist (see [`super::prepare_out_dir`]).
pub fn write_analysis(dir: &Path, analysis: &Analysis, source: &AnalysisSource) -> Result<()> {
    let a = analysis;
    let epoch = source.epoch;
    let files = ["analysis.csv", "analysis-flow.csv", "analysis-stats.csv"];
    for (table, file) in a.tables(epoch)?.iter().zip(files) {
        if let Some(t) = table {
            t.write_atomic(&dir.join(file))?;
        }
    }

    let mut text = serde_json::to_string_pretty(&analysis_json(a, source))?;
    text.push('\n');
    write_atomic(&dir.join("analysis.json"), text.as_bytes())?;

    let plane = PlaneOptions {
        title: format!("{} — information plane", source.title),
        x_max: Some((a.distinct_inputs as f64).log2()).filter(|m| *m > 0.0),
        y_max: Some(a.h_y).filter(|m| *m > 0.0),
    };
    for (i, est) in a.estimators.iter().enumerate() {
        let pts: Vec<InfoPoint> = a
            .rows
            .iter()
            .filter(|e| e.estimator == est.name)
            .map(|e| InfoPoint {
                epoch: epoch.unwrap_or(0),
                layer: e.layer.clone(),
                i_xt: e.i_xt,
                i_ty: e.i_ty,
            })
            .collect();
        if !pts.iter().any(|p| p.i_xt.is_finite() && p.i_ty.is_finite()) {
            continue;
        }
        let stem = if i == 0 {
            "analysis".to_string()
        } else {
            format!("analysis-{}", est.name)
        };
        let title = format!("{} ({})", plane.title, est.name);
        plot_plane(&pts, &plane, title, dir, &stem)?;
    }
    Ok(())
}

/// The document of `analysis.json`.
fn analysis_json(a: &Analysis, source: &AnalysisSource) -> Value {
    let path_str = |p: &Path| p.display().to_string();
    let flow = a.extras.flow;
    let stats = a.extras.stats;
    json!({
        "activations": source.activations.as_deref().map(path_str),
        "labels": source.labels.as_deref().map(path_str),
        "labels_key": source.labels_key,
        "inputs": source.inputs.as_deref().map(path_str),
        "inputs_key": source.inputs_key,
        "epoch": source.epoch,
        "samples": a.samples,
        "distinct_inputs": a.distinct_inputs,
        "h_x": a.h_x,
        "h_y": a.h_y,
        "units": "bits",
        "layers": a.layers.iter().map(|l| json!({
            "name": l.name,
            "shape": l.shape,
            "dtype": format!("{:?}", l.dtype),
        })).collect::<Vec<_>>(),
        "estimators": a.estimators.iter().map(|e| json!({
            "name": e.name,
            "kind": e.spec.kind(),
            "params": params_json(&e.spec),
        })).collect::<Vec<_>>(),
        "rows": a.rows.iter().map(|e| estimate_json(e, source.epoch)).collect::<Vec<_>>(),
        "flow": flow.then(|| a.flows.iter().map(flow_json).collect::<Vec<_>>()),
        "bottlenecks": flow.then(|| a.bottlenecks().map(flow_json).collect::<Vec<_>>()),
        "stats": stats.then(|| a.stats.iter().map(stats_json).collect::<Vec<_>>()),
        "saturation_threshold": stats.then_some(a.extras.saturation),
    })
}

/// An estimator's parameters.
fn params_json(spec: &EstimatorSpec) -> Value {
    match spec {
        EstimatorSpec::Binned(Binning::Fixed { lo, hi, edges }) => {
            json!({ "lo": lo, "hi": hi, "edges": edges })
        }
        EstimatorSpec::Binned(Binning::Floor { width }) => json!({ "width": width }),
        EstimatorSpec::Binned(Binning::Adaptive { bins }) => json!({ "bins": bins }),
        EstimatorSpec::Kde { sigma2 } => json!({ "sigma2": sigma2 }),
        EstimatorSpec::Knn { k } => json!({ "k": k }),
    }
}

/// A row of the information plane (the fields of [`Estimate`], then `epoch`).
fn estimate_json(e: &Estimate, epoch: Option<usize>) -> Value {
    json!({
        "layer": e.layer,
        "estimator": e.estimator,
        "i_xt": e.i_xt,
        "i_ty": e.i_ty,
        "i_xt_lower": e.i_xt_lower,
        "i_ty_lower": e.i_ty_lower,
        "sigma2": e.sigma2,
        "epoch": epoch,
    })
}

/// A flow (the fields of [`Flow`]).
fn flow_json(f: &Flow) -> Value {
    json!({
        "layer_from": f.layer_from,
        "layer_to": f.layer_to,
        "estimator": f.estimator,
        "i_bits": f.i_bits,
        "i_bits_lower": f.i_bits_lower,
        "h_from_bits": f.h_from_bits,
        "loss_bits": f.loss_bits,
        "bottleneck": f.bottleneck,
    })
}

/// A layer's statistics (the fields of [`Stats`]).
fn stats_json(s: &Stats) -> Value {
    json!({
        "layer": s.layer,
        "estimator": s.estimator,
        "samples": s.samples,
        "neurons": s.neurons,
        "entropy_mean": s.entropy_mean,
        "entropy_min": s.entropy_min,
        "entropy_max": s.entropy_max,
        "surprisal_mean": s.surprisal_mean,
        "sparsity": s.sparsity,
        "saturation": s.saturation,
        "dead_units": s.dead_units,
    })
}
