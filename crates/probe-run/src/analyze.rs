//! `probe analyze`: the information plane of activations captured anywhere (a PyTorch forward
//! hook, a `probe train` dump): every tensor of a safetensors file is a layer `[samples, …]`, the
//! labels file gives Y, and the optional inputs file gives X (equal inputs share a symbol;
//! without it every sample is its own input). Writes `analysis.csv` (the columns of
//! `infoplane.csv`), `analysis-flow.csv` and `analysis-stats.csv` (the columns of `flow.csv` and
//! `stats.csv`), `analysis.json` (all of them, and the bottlenecks) and `analysis.{png,svg}`
//! (`analysis-{name}.*` for further estimators) to the output directory. Units: bits.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{bail, Context, Result};
use probe_estimators::entropy_bits;
use probe_report::{
    create_run_dir, plot_infoplane, write_atomic, CsvTable, InfoPoint, PlaneOptions,
};

use crate::config::Config;
use crate::estimate::{EstimatorSpec, NamedEstimator, RawEstimator, Samples};
use crate::measure::{bottleneck_lines, estimate_all, extras_all, ExtrasSpec, DEFAULT_SATURATION};
use crate::rundir::files::{is_analysis_file, remove_own_files};
use crate::rundir::{
    estimate_row, flow_row, stats_row, FLOW_HEADER, INFOPLANE_HEADER, STATS_HEADER,
};
use crate::tensors;

/// Estimator parameters given as flags; each applies to the selected estimator(s) that take it.
#[derive(Clone, Debug, Default)]
pub struct EstimatorFlags {
    /// `--estimator`, in order (default: `binned`).
    pub kinds: Vec<String>,
    /// `--lo`.
    pub lo: Option<f64>,
    /// `--hi`.
    pub hi: Option<f64>,
    /// `--edges`.
    pub edges: Option<usize>,
    /// `--width`.
    pub width: Option<f64>,
    /// `--bins`.
    pub bins: Option<usize>,
    /// `--sigma2`.
    pub sigma2: Option<f64>,
    /// `--k`.
    pub k: Option<usize>,
}

/// What `probe analyze` was asked to do.
pub struct AnalyzeArgs {
    /// Safetensors file, one tensor per layer.
    pub activations: PathBuf,
    /// Safetensors file with the labels.
    pub labels: PathBuf,
    /// Tensor of the labels file to use.
    pub labels_key: Option<String>,
    /// Safetensors file with the inputs X.
    pub inputs: Option<PathBuf>,
    /// Tensor of the inputs file to use.
    pub inputs_key: Option<String>,
    /// Estimators from flags …
    pub flags: EstimatorFlags,
    /// … or from a config's `[[measure.estimators]]`.
    pub config: Option<PathBuf>,
    /// `--no-flow`: skip the layer-to-layer information.
    pub no_flow: bool,
    /// `--no-stats`: skip the activation statistics.
    pub no_stats: bool,
    /// `--saturation`: the statistics' threshold on `|x|`.
    pub saturation: Option<f64>,
    /// Output directory.
    pub out: PathBuf,
    /// Replace analyze's files in an existing directory.
    pub overwrite: bool,
    /// No summary line.
    pub quiet: bool,
}

impl EstimatorFlags {
    /// The parameter flags that are set, by key.
    fn given(&self) -> Vec<&'static str> {
        [
            ("lo", self.lo.is_some()),
            ("hi", self.hi.is_some()),
            ("edges", self.edges.is_some()),
            ("width", self.width.is_some()),
            ("bins", self.bins.is_some()),
            ("sigma2", self.sigma2.is_some()),
            ("k", self.k.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| k)
        .collect()
    }

    /// Validated estimators, named after their kinds.
    pub fn resolve(&self) -> Result<Vec<NamedEstimator>> {
        let kinds: Vec<String> = if self.kinds.is_empty() {
            vec!["binned".to_string()]
        } else {
            self.kinds.clone()
        };
        for (i, k) in kinds.iter().enumerate() {
            if kinds[..i].contains(k) {
                bail!("--estimator {k} is given twice; each estimator runs once with the parameters of its flags");
            }
        }
        let mut used: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for kind in &kinds {
            let keys = RawEstimator::keys_of(kind).unwrap_or(&[]);
            used.extend(keys.iter().copied());
            let has = |k: &str| keys.contains(&k);
            let raw = RawEstimator {
                kind: kind.clone(),
                lo: self.lo.filter(|_| has("lo")),
                hi: self.hi.filter(|_| has("hi")),
                edges: self.edges.filter(|_| has("edges")),
                width: self.width.filter(|_| has("width")),
                bins: self.bins.filter(|_| has("bins")),
                sigma2: self.sigma2.filter(|_| has("sigma2")),
                k: self.k.filter(|_| has("k")),
            };
            let spec = raw.resolve(&|k| {
                if k == "kind" {
                    "--estimator".to_string()
                } else {
                    format!("--{k}")
                }
            })?;
            out.push(NamedEstimator {
                name: kind.clone(),
                spec,
            });
        }
        if let Some(k) = self.given().into_iter().find(|k| !used.contains(k)) {
            let owners: Vec<&str> = crate::estimate::KINDS
                .iter()
                .copied()
                .filter(|kind| RawEstimator::keys_of(kind).is_some_and(|ks| ks.contains(&k)))
                .collect();
            bail!(
                "--{k} applies to --estimator {}, which is not selected (selected: {})",
                owners.join(" / "),
                kinds.join(", ")
            );
        }
        Ok(out)
    }
}

/// Runs the analysis; returns the output directory.
pub fn analyze(args: &AnalyzeArgs) -> Result<PathBuf> {
    let started = Instant::now();
    let (estimators, config_extras) = match &args.config {
        Some(path) => {
            let cfg = Config::load(path)?;
            let invalid = || format!("invalid config file {}", path.display());
            (
                cfg.estimators().with_context(invalid)?,
                Some(cfg.extras().with_context(invalid)?),
            )
        }
        None => (args.flags.resolve()?, None),
    };
    // Flags switch things off or set the threshold; a config's [measure] keys are the defaults.
    let base = config_extras.unwrap_or(ExtrasSpec {
        flow: true,
        stats: true,
        saturation: DEFAULT_SATURATION,
    });
    let extras = ExtrasSpec::new(
        base.flow && !args.no_flow,
        base.stats && !args.no_stats,
        args.saturation.unwrap_or(base.saturation),
    )
    .context("invalid value for --saturation")?;
    let acts = tensors::load_activations(&args.activations)?;
    let y = tensors::load_labels(&args.labels, args.labels_key.as_deref(), acts.n)?;
    let (x_ids, distinct, x) = match &args.inputs {
        Some(path) => {
            let x = tensors::load_inputs(path, args.inputs_key.as_deref(), acts.n)?;
            (x.ids, x.distinct, Some((x.values, x.d)))
        }
        None => {
            if args.inputs_key.is_some() {
                bail!("--inputs-key needs --inputs");
            }
            if let Some(e) = estimators
                .iter()
                .find(|e| matches!(e.spec, EstimatorSpec::Knn { .. }))
            {
                bail!(
                    "estimator {} (knn) estimates I(X;T) from the inputs themselves; give them with --inputs",
                    e.name
                );
            }
            ((0..acts.n as u32).collect(), acts.n, None)
        }
    };
    if distinct < acts.n && !args.quiet {
        if let Some(e) = estimators
            .iter()
            .find(|e| matches!(e.spec, EstimatorSpec::Kde { .. }))
        {
            eprintln!(
                "note: {} of the {} inputs are distinct; estimator {} (kde) assumes distinct inputs, so its I(X;T) bounds are not I(X;T) here (docs/estimators.md)",
                distinct, acts.n, e.name
            );
        }
    }
    prepare_out_dir(&args.out, args.overwrite)?;

    let samples = Samples { x_ids, x, y };
    let rows = estimate_all(&acts.layers, &samples, &estimators)?;
    let (flows, stats) = extras_all(&extras, &acts.layers, &estimators, &rows)?;

    let mut csv = CsvTable::new(&INFOPLANE_HEADER);
    for e in &rows {
        csv.push(estimate_row(acts.epoch, e))?;
    }
    csv.write_atomic(&args.out.join("analysis.csv"))?;
    if extras.flow {
        let mut csv = CsvTable::new(&FLOW_HEADER);
        for f in &flows {
            csv.push(flow_row(acts.epoch, f))?;
        }
        csv.write_atomic(&args.out.join("analysis-flow.csv"))?;
    }
    if extras.stats {
        let mut csv = CsvTable::new(&STATS_HEADER);
        for s in &stats {
            csv.push(stats_row(acts.epoch, s))?;
        }
        csv.write_atomic(&args.out.join("analysis-stats.csv"))?;
    }

    let path_str = |p: &Path| p.display().to_string();
    let json = serde_json::json!({
        "activations": path_str(&args.activations),
        "labels": path_str(&args.labels),
        "labels_key": args.labels_key,
        "inputs": args.inputs.as_deref().map(path_str),
        "inputs_key": args.inputs_key,
        "epoch": acts.epoch,
        "samples": acts.n,
        "distinct_inputs": distinct,
        "h_x": entropy_bits(&samples.x_ids),
        "h_y": entropy_bits(&samples.y),
        "units": "bits",
        "layers": acts.layers.iter().map(|(name, t)| serde_json::json!({
            "name": name,
            "shape": t.dims(),
            "dtype": format!("{:?}", t.dtype()),
        })).collect::<Vec<_>>(),
        "estimators": estimators.iter().map(|e| serde_json::json!({
            "name": e.name,
            "kind": e.spec.kind(),
            "params": e.spec.params(),
        })).collect::<Vec<_>>(),
        "rows": rows.iter().map(|e| {
            let mut v = serde_json::to_value(e).expect("an Estimate serialises");
            v["epoch"] = serde_json::json!(acts.epoch);
            v
        }).collect::<Vec<_>>(),
        "flow": extras.flow.then_some(&flows),
        "bottlenecks": extras.flow.then(|| flows.iter().filter(|f| f.bottleneck).collect::<Vec<_>>()),
        "stats": extras.stats.then_some(&stats),
        "saturation_threshold": extras.stats.then_some(extras.saturation),
    });
    let mut text = serde_json::to_string_pretty(&json)?;
    text.push('\n');
    write_atomic(&args.out.join("analysis.json"), text.as_bytes())?;

    let title = args
        .activations
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path_str(&args.activations));
    let plane = PlaneOptions {
        title: format!("{title} — information plane"),
        x_max: Some((distinct as f64).log2()).filter(|m| *m > 0.0),
        y_max: Some(entropy_bits(&samples.y)).filter(|m| *m > 0.0),
    };
    for (i, est) in estimators.iter().enumerate() {
        let pts: Vec<InfoPoint> = rows
            .iter()
            .filter(|e| e.estimator == est.name)
            .map(|e| InfoPoint {
                epoch: acts.epoch.unwrap_or(0),
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
        let opts = PlaneOptions {
            title: format!("{} ({})", plane.title, est.name),
            ..plane.clone()
        };
        plot_infoplane(
            &pts,
            &opts,
            &args.out.join(format!("{stem}.png")),
            &args.out.join(format!("{stem}.svg")),
        )?;
    }
    if !args.quiet {
        eprintln!(
            "analyzed {} layers × {} estimators on {} samples in {:.1} s; results in {}",
            acts.layers.len(),
            estimators.len(),
            acts.n,
            started.elapsed().as_secs_f64(),
            args.out.display()
        );
        for line in bottleneck_lines(&flows) {
            eprintln!("{line}");
        }
    }
    Ok(args.out.clone())
}

/// A missing or empty directory is used as is; a non-empty one needs `--overwrite`, which then
/// removes only analyze's own files (a `probe train` run directory keeps its results).
fn prepare_out_dir(dir: &Path, overwrite: bool) -> Result<()> {
    match create_run_dir(dir, false) {
        Err(probe_report::Error::RunDirExists { .. }) if overwrite => {
            remove_own_files(dir, is_analysis_file)
        }
        other => Ok(other?),
    }
}
