//! `probe.analyze`, `probe.entropy`, `probe.mutual_information` and the information-plane plot:
//! arrays in, [`probe_run::analyze::analyze_layers`] (or the estimators themselves) on them with
//! the GIL released, tables out. No measurement logic lives here. float32 activations are read
//! in place ([`crate::layers`]).

use std::path::PathBuf;

use probe_estimators::{
    binned_symbols, entropy_bits, kde_entropy, Activations, EstimatorSpec, ExtrasSpec,
    DEFAULT_SATURATION,
};
use probe_report::{plot_infoplane, InfoPoint, PlaneOptions};
use probe_run::analyze::{
    analyze_layers, prepare_out_dir, write_analysis, Analysis, AnalysisSource, InputIds,
};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::arrays::input_tensor;
use crate::errors::{detached, est_to_py, to_py, value_error};
use crate::estimators::{extract, extract_all};
use crate::layers::{hold_all, lend, Held};
use crate::tables;

/// The result of one analysis, held in Rust: its tables and what writes its files.
#[pyclass(frozen, module = "probe._probe")]
pub struct AnalysisResult {
    analysis: Analysis,
    epoch: Option<usize>,
}

#[pymethods]
impl AnalysisResult {
    /// `{"infoplane": {...}, "flow": {...} or None, "stats": {...} or None, "samples", "distinct_inputs",
    /// "h_x", "h_y", "notes", "estimators"}` (tables as dicts of column lists).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let a = &self.analysis;
        let d = PyDict::new(py);
        let [rows, flow, stats] = a.tables(self.epoch).map_err(to_py)?;
        for (key, t) in [("infoplane", rows), ("flow", flow), ("stats", stats)] {
            match t {
                Some(t) => d.set_item(key, tables::table(py, &t)?)?,
                None => d.set_item(key, py.None())?,
            }
        }
        d.set_item("samples", a.samples)?;
        d.set_item("distinct_inputs", a.distinct_inputs)?;
        d.set_item("h_x", a.h_x)?;
        d.set_item("h_y", a.h_y)?;
        d.set_item("notes", a.notes.clone())?;
        d.set_item(
            "estimators",
            a.estimators
                .iter()
                .map(|e| e.name.clone())
                .collect::<Vec<_>>(),
        )?;
        Ok(d)
    }

    /// Writes `probe analyze`'s files (`analysis.csv`, `analysis-flow.csv`,
    /// `analysis-stats.csv`, `analysis.json`, `analysis.png`/`.svg`) into `out`; an existing
    /// non-empty `out` needs `overwrite`, which replaces only analyze's own files.
    #[pyo3(signature = (out, overwrite = false, title = None))]
    fn write(
        &self,
        py: Python<'_>,
        out: PathBuf,
        overwrite: bool,
        title: Option<String>,
    ) -> PyResult<()> {
        let source = AnalysisSource {
            epoch: self.epoch,
            title: title.unwrap_or_else(|| "probe.analyze".to_string()),
            ..Default::default()
        };
        detached(py, || {
            prepare_out_dir(&out, overwrite).map_err(to_py)?;
            write_analysis(&out, &self.analysis, &source).map_err(to_py)
        })
    }
}

/// The native half of `probe.analyze` (the Python wrapper turns mappings, torch tensors and
/// DLPack arrays into numpy arrays and the result into DataFrames).
#[pyfunction]
#[pyo3(signature = (layers, labels, inputs = None, estimators = None, flow = true, stats = true, saturation = None, epoch = None))]
#[allow(clippy::too_many_arguments)]
pub fn analyze(
    py: Python<'_>,
    layers: Vec<(String, Bound<'_, PyAny>, bool)>,
    labels: Bound<'_, PyAny>,
    inputs: Option<(Bound<'_, PyAny>, bool)>,
    estimators: Option<Bound<'_, PyAny>>,
    flow: bool,
    stats: bool,
    saturation: Option<f64>,
    epoch: Option<usize>,
) -> PyResult<AnalysisResult> {
    let estimators = extract_all(estimators.as_ref())?;
    let extras = ExtrasSpec::new(flow, stats, saturation.unwrap_or(DEFAULT_SATURATION))
        .map_err(|e| value_error(format!("invalid value for saturation: {e}")))?;
    // float32 arrays are lent in place (their borrows live here, with the GIL, until the
    // analysis has returned: see crate::layers), other dtypes converted once.
    let held = hold_all(&layers)?;
    let lent = lend(layers.iter().map(|(name, _, _)| name), &held)?;
    let y = crate::arrays::labels(&labels, "labels")?;
    let x = inputs
        .map(|(a, bf16)| input_tensor(&a, "inputs", bf16))
        .transpose()?;
    let analysis = detached(py, move || {
        let ids = x
            .map(|x| InputIds::from_tensor(&x))
            .transpose()
            .map_err(to_py)?;
        analyze_layers(&lent, &y, ids.as_ref(), &estimators, &extras).map_err(to_py)
    })?;
    Ok(AnalysisResult { analysis, epoch })
}

/// `H(T)` in bits of activations `t` `[samples, …]` under a binned-family estimator (plug-in
/// entropy of each sample's row of bins) or `Kde` (the upper bound `F(2σ²)` of `T + N(0, σ²I)`).
#[pyfunction]
#[pyo3(signature = (t, estimator = None, bf16 = false))]
pub fn entropy(
    py: Python<'_>,
    t: Bound<'_, PyAny>,
    estimator: Option<Bound<'_, PyAny>>,
    bf16: bool,
) -> PyResult<f64> {
    let est = extract_all(estimator.as_ref())?.remove(0);
    let held = Held::new(&t, "t", bf16)?;
    let t = held.layer()?;
    detached(py, move || {
        match &est.spec {
        EstimatorSpec::Binned(b) => {
            let (n, d, v) = t.host_rows().map_err(est_to_py)?;
            let s = binned_symbols(&v, n, d, b).map_err(est_to_py)?;
            Ok(entropy_bits(&s.ids))
        }
        EstimatorSpec::Kde { sigma2 } => {
            let t = t.tensor().map_err(est_to_py)?;
            Ok(kde_entropy(&t, *sigma2).map_err(est_to_py)?.upper)
        }
        EstimatorSpec::Knn { .. } => Err(value_error(
            "entropy: knn estimates mutual information, not entropy; use Binned, Floor, Adaptive or Kde",
        )),
    }
    })
}

/// `(i_xt, i_ty, i_xt_lower, i_ty_lower)` in bits of one layer `t` (lower bounds: `Kde` only).
#[pyfunction]
#[pyo3(signature = (t, labels, inputs = None, estimator = None, bf16 = false))]
pub fn mutual_information(
    py: Python<'_>,
    t: Bound<'_, PyAny>,
    labels: Bound<'_, PyAny>,
    inputs: Option<(Bound<'_, PyAny>, bool)>,
    estimator: Option<Bound<'_, PyAny>>,
    bf16: bool,
) -> PyResult<(f64, f64, Option<f64>, Option<f64>)> {
    let est = match &estimator {
        Some(e) => extract(e)?,
        None => extract_all(None)?.remove(0),
    };
    let held = Held::new(&t, "t", bf16)?;
    let layers = vec![("t".to_string(), held.layer()?)];
    let y = crate::arrays::labels(&labels, "labels")?;
    let x = inputs
        .map(|(a, b)| input_tensor(&a, "inputs", b))
        .transpose()?;
    let extras = ExtrasSpec::new(false, false, DEFAULT_SATURATION).map_err(est_to_py)?;
    detached(py, move || {
        let ids = x
            .map(|x| InputIds::from_tensor(&x))
            .transpose()
            .map_err(to_py)?;
        let a = analyze_layers(&layers, &y, ids.as_ref(), &[est], &extras).map_err(to_py)?;
        let r = &a.rows[0];
        Ok((r.i_xt, r.i_ty, r.i_xt_lower, r.i_ty_lower))
    })
}

/// Draws the information plane of `points` (`(epoch, layer, i_xt, i_ty)`, bits) as `probe train`
/// draws `infoplane.png` / `.svg`: one trajectory per layer, points coloured by epoch.
#[pyfunction]
#[pyo3(signature = (points, png, svg, title = "Information plane".to_string(), x_max = None, y_max = None))]
pub fn plot_plane(
    py: Python<'_>,
    points: Vec<(usize, String, f64, f64)>,
    png: PathBuf,
    svg: PathBuf,
    title: String,
    x_max: Option<f64>,
    y_max: Option<f64>,
) -> PyResult<()> {
    let pts: Vec<InfoPoint> = points
        .into_iter()
        .map(|(epoch, layer, i_xt, i_ty)| InfoPoint {
            epoch,
            layer,
            i_xt,
            i_ty,
        })
        .collect();
    let opts = PlaneOptions {
        title,
        x_max,
        y_max,
    };
    detached(py, move || {
        plot_infoplane(&pts, &opts, &png, &svg).map_err(|e| to_py(e.into()))
    })
}
