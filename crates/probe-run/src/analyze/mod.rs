//! `probe analyze`: the information plane of activations captured anywhere (a PyTorch forward
//! hook, a `probe train` dump). Units: bits.
//!
//! Three layers, so that a caller without files (the Python bindings, a notebook) uses the same
//! code as the CLI:
//!
//! * [`analyze_layers`] — the analysis over tensors in memory (layers `[samples, …]`, labels,
//!   optionally the inputs' symbols [`InputIds`]), returning an [`Analysis`]: the rows, flows,
//!   statistics, `H(X)`, `H(Y)` and the number of distinct inputs;
//! * [`write_analysis`] — the output directory of an [`Analysis`]: `analysis.csv` (the columns of
//!   `infoplane.csv`), `analysis-flow.csv` and `analysis-stats.csv` (the columns of `flow.csv` and
//!   `stats.csv`), `analysis.json` (all of them, and the bottlenecks) and `analysis.{png,svg}`
//!   (`analysis-{name}.*` for further estimators);
//! * [`analyze`] — what the CLI calls: reads the files ([`crate::tensors`]: every tensor of the
//!   activations file is a layer, the labels file gives Y, the optional inputs file X — equal
//!   inputs share a symbol; without it every sample is its own input), then the two above.

mod layers;
mod write;

use std::path::{Path, PathBuf};
use std::time::Instant;

use probe_estimators::{
    bottleneck_lines, ExtrasSpec, NamedEstimator, RawEstimator, DEFAULT_SATURATION, KINDS,
};
use probe_report::create_run_dir;

use crate::config::Config;
use crate::error::{bail, Context, Result};
use crate::rundir::files::{is_analysis_file, remove_own_files};
use crate::tensors;

pub use crate::tensors::InputIds;
pub use layers::{analyze_layers, Analysis, LayerInfo};
pub use write::{write_analysis, AnalysisSource};

/// Estimator parameters given as flags; each applies to the selected estimator(s) that take it.
#[derive(Clone, Debug, Default)]
pub struct EstimatorFlags {
    /// `--estimator`, in order (default: `binned`).
    pub kinds: Vec<String>,
    /// `--lo`, `--hi`, `--edges`, `--width`, `--bins`, `--sigma2`, `--k` (`kind` unused).
    pub params: RawEstimator,
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
        self.raw(String::new(), |_| true).given()
    }

    /// The flags as the raw parameters of an estimator of `kind`, keeping the parameters `keep`
    /// accepts (by key).
    fn raw(&self, kind: String, keep: impl Fn(&str) -> bool) -> RawEstimator {
        let p = &self.params;
        RawEstimator {
            kind,
            lo: p.lo.filter(|_| keep("lo")),
            hi: p.hi.filter(|_| keep("hi")),
            edges: p.edges.filter(|_| keep("edges")),
            width: p.width.filter(|_| keep("width")),
            bins: p.bins.filter(|_| keep("bins")),
            sigma2: p.sigma2.filter(|_| keep("sigma2")),
            k: p.k.filter(|_| keep("k")),
        }
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
            let raw = self.raw(kind.clone(), |k| keys.contains(&k));
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
            let owners: Vec<&str> = KINDS
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

/// Runs `probe analyze`: reads the files, checks them against the estimators, prepares the
/// output directory, analyses ([`analyze_layers`]) and writes ([`write_analysis`]); prints notes
/// and (unless quiet) a summary to stderr. Returns the output directory.
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
    let inputs = match &args.inputs {
        Some(path) => Some(tensors::load_inputs(
            path,
            args.inputs_key.as_deref(),
            acts.n,
        )?),
        None if args.inputs_key.is_some() => bail!("--inputs-key needs --inputs"),
        None => None,
    };
    // Every check that needs no estimate, before the directory is made.
    layers::check_inputs(&estimators, inputs.as_ref())?;
    let distinct = inputs.as_ref().map_or(acts.n, |x| x.distinct);
    if !args.quiet {
        for note in layers::notes(&estimators, acts.n, distinct) {
            eprintln!("note: {note}");
        }
    }
    // The output directory is checked (and made) before the long work, so that an existing one
    // fails at once; if the analysis then fails (kde on a layer holding NaN, say), a directory
    // made here is removed again rather than left empty.
    let made_here = !args.out.exists();
    prepare_out_dir(&args.out, args.overwrite)?;
    let analysis = analyze_layers(&acts.layers, &y, inputs.as_ref(), &estimators, &extras)
        .inspect_err(|_| {
            if made_here {
                let _ = std::fs::remove_dir(&args.out); // only if still empty
            }
        })?;
    let path_str = |p: &Path| p.display().to_string();
    let source = AnalysisSource {
        activations: Some(args.activations.clone()),
        labels: Some(args.labels.clone()),
        labels_key: args.labels_key.clone(),
        inputs: args.inputs.clone(),
        inputs_key: args.inputs_key.clone(),
        epoch: acts.epoch,
        title: args
            .activations
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path_str(&args.activations)),
    };
    write_analysis(&args.out, &analysis, &source)?;
    if !args.quiet {
        eprintln!(
            "analyzed {} layers × {} estimators on {} samples in {:.1} s; results in {}",
            acts.layers.len(),
            estimators.len(),
            acts.n,
            started.elapsed().as_secs_f64(),
            args.out.display()
        );
        for line in bottleneck_lines(&analysis.flows) {
            eprintln!("{line}");
        }
    }
    Ok(args.out.clone())
}

/// Makes `dir` ready for [`write_analysis`]: a missing or empty directory is used as is; a
/// non-empty one needs `overwrite` (`--overwrite`), which then removes only analyze's own files
/// (a `probe train` run directory keeps its results).
pub fn prepare_out_dir(dir: &Path, overwrite: bool) -> Result<()> {
    match create_run_dir(dir, false) {
        Err(probe_report::Error::RunDirExists { .. }) if overwrite => {
            remove_own_files(dir, is_analysis_file)
        }
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};
    use probe_estimators::{Binning, EstimatorSpec};

    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect();
        out.sort();
        out
    }

    /// The Python bindings' path (tensors in memory → `analyze_layers` → `write_analysis`) must
    /// write exactly what `probe analyze` writes from the same data saved as files.
    #[test]
    fn in_memory_analysis_writes_what_the_files_give() {
        let dir = std::env::temp_dir().join(format!("probe-analyze-mem-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let n = 48;
        // Inputs with repeats (every third row again), two layers, three classes.
        let x: Vec<f32> = (0..n * 3)
            .map(|e| ((e / 3) % 16) as f32 * 0.25 - (e % 3) as f32)
            .collect();
        let xt = Tensor::from_slice(&x, (n, 3), &Device::Cpu).unwrap();
        let l0 = xt.tanh().unwrap();
        let l1 = (l0.sum_keepdim(1).unwrap() * 0.3).unwrap().tanh().unwrap();
        let layers = vec![
            ("layers.0.hook_post".to_string(), l0),
            ("layers.1.hook_post".to_string(), l1),
        ];
        let y: Vec<u32> = (0..n as u32).map(|i| i % 3).collect();
        let acts = dir.join("acts.safetensors");
        let labels = dir.join("labels.safetensors");
        let inputs = dir.join("inputs.safetensors");
        std::fs::write(&acts, tensors::activations_bytes(&layers, 7).unwrap()).unwrap();
        std::fs::write(&labels, tensors::labels_bytes(&y).unwrap()).unwrap();
        std::fs::write(&inputs, tensors::inputs_bytes(&x, n, 3).unwrap()).unwrap();
        let args = AnalyzeArgs {
            activations: acts.clone(),
            labels: labels.clone(),
            labels_key: None,
            inputs: Some(inputs.clone()),
            inputs_key: None,
            flags: EstimatorFlags {
                kinds: vec!["binned".into(), "kde".into(), "knn".into()],
                params: RawEstimator {
                    sigma2: Some(0.01),
                    ..Default::default()
                },
            },
            config: None,
            no_flow: false,
            no_stats: false,
            saturation: None,
            out: dir.join("from-files"),
            overwrite: false,
            quiet: true,
        };
        analyze(&args).unwrap();

        let estimators = args.flags.resolve().unwrap();
        let extras = ExtrasSpec::new(true, true, DEFAULT_SATURATION).unwrap();
        let ids = InputIds::from_tensor(&xt).unwrap();
        let a = analyze_layers(&layers, &y, Some(&ids), &estimators, &extras).unwrap();
        assert_eq!((a.samples, a.distinct_inputs), (n, 16));
        assert_eq!(a.notes.len(), 1, "kde with repeated inputs: {:?}", a.notes);
        assert_eq!(a.rows.len(), 6);
        let source = AnalysisSource {
            activations: Some(acts),
            labels: Some(labels),
            inputs: Some(inputs),
            epoch: Some(7),
            title: "acts.safetensors".into(),
            ..Default::default()
        };
        let out = dir.join("from-memory");
        prepare_out_dir(&out, false).unwrap();
        write_analysis(&out, &a, &source).unwrap();
        let (from_files, from_memory) = (files(&args.out), files(&out));
        std::fs::remove_dir_all(&dir).unwrap();
        let names: Vec<&str> = from_files.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"analysis.json"), "{names:?}");
        assert_eq!(from_files, from_memory);
    }

    /// Data given in memory is checked as a file's is: the same samples everywhere, inputs for knn.
    #[test]
    fn in_memory_data_is_checked() {
        let t = |n: usize| Tensor::zeros((n, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let est = vec![NamedEstimator {
            name: "b".into(),
            spec: EstimatorSpec::Binned(Binning::Floor { width: 0.5 }),
        }];
        let knn = vec![NamedEstimator {
            name: "k".into(),
            spec: EstimatorSpec::Knn { k: 3 },
        }];
        let extras = ExtrasSpec::new(true, true, DEFAULT_SATURATION).unwrap();
        let err = |layers: Vec<(String, Tensor)>, y: &[u32], est: &[NamedEstimator]| {
            analyze_layers(&layers, y, None, est, &extras)
                .unwrap_err()
                .chain()
        };
        let two = || vec![("a".to_string(), t(4)), ("b".to_string(), t(5))];
        assert!(err(two(), &[0; 4], &est).contains("layer \"b\" has 5 samples"));
        assert!(err(vec![("a".into(), t(4))], &[0; 3], &est).starts_with("3 labels"));
        assert!(err(vec![], &[], &est).starts_with("no layers"));
        assert!(err(vec![("a".into(), t(4))], &[0; 4], &knn).contains("(knn) estimates I(X;T)"));
        // Estimator-side input errors stay "invalid input" (a ValueError in Python).
        let e = analyze_layers(&[("a".into(), t(4))], &[0; 4], None, &knn, &extras).unwrap_err();
        assert!(e.is_invalid_input(), "{}", e.chain());
        let flags = EstimatorFlags {
            kinds: vec!["kde".into()],
            ..Default::default()
        };
        let e = flags.resolve().unwrap_err();
        assert!(e.is_invalid_input(), "{}", e.chain());
    }
}
