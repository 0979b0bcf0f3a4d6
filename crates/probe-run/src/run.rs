//! `probe train`: load the config and data, train, measure on the schedule, and write the run
//! directory. Results are written atomically as they are produced (the CSVs on every measured
//! epoch, the activations of `measure.dump_activations` epochs as soon as they are captured), so
//! an interrupted or diverged run keeps everything it finished.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::error::{bail, Context, Result};
use candle_core::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use probe_capture::NameFilter;
use probe_estimators::{entropy_bits, exact_symbols};
use probe_report::{
    create_run_dir, fmt_f64, plot_infoplane, write_atomic, CsvTable, InfoPoint, PlaneOptions,
};
use probe_train::fused::FusedMlp;
use probe_train::gradients::GradStats;
use probe_train::model::Model;
use probe_train::model::{Activation, Init};
use probe_train::optim::Optimizer;
use probe_train::trainer::{DeviceData, Trainer};
use probe_train::vib::trainer::VibTrainer;
use probe_train::vib::{Vib, VibSpec};

use crate::stepper::Stepper;

use crate::config::{Config, MeasureOn};
use crate::estimate::{csv_row, Estimate, EstimatorSpec, Samples, INFOPLANE_HEADER};
use crate::gradcsv::GRADIENTS_HEADER;
use crate::measure::{capture, estimate_all, Extras, ProbeSet, FLOW_HEADER, STATS_HEADER};
use crate::{data, device, gradcsv, outdir, resume, tensors};

/// What `probe train` was asked to do.
pub struct TrainArgs {
    /// The TOML config (absent with `resume`).
    pub config: Option<PathBuf>,
    /// Continue the run in this directory from its checkpoint.
    pub resume: Option<PathBuf>,
    /// Run directory (default `runs/{name}-{UTC time}`).
    pub out: Option<PathBuf>,
    /// Replace probe's files in an existing run directory.
    pub overwrite: bool,
    /// Overrides `device`.
    pub device: Option<String>,
    /// No progress bar or summary.
    pub quiet: bool,
    /// Overrides `train.epochs`.
    pub epochs: Option<usize>,
    /// Overrides `seed`.
    pub seed: Option<u64>,
    /// Stop (with a checkpoint) after this epoch, as an interrupted run would.
    pub stop_after: Option<usize>,
}

/// Everything a run needs before its first epoch: the resolved config, device, data and the probe
/// set, and the run directory (created, or the resumed one).
pub struct Setup {
    /// The resolved config.
    pub cfg: Config,
    /// The device.
    pub device: candle_core::Device,
    /// Train and test data.
    pub splits: data::Splits,
    /// Hook points measured.
    pub hooks: Vec<String>,
    /// The estimators.
    pub estimators: Vec<crate::config::NamedEstimator>,
    /// Epochs whose activations are dumped.
    pub dumped: BTreeSet<usize>,
    /// Measured epochs.
    pub measured: BTreeSet<usize>,
    /// The samples information is measured on.
    pub probe: ProbeSet,
    /// Plot axes and title.
    pub plane: PlaneOptions,
    /// The run directory.
    pub out: PathBuf,
    /// Whether this continues a checkpoint.
    pub resuming: bool,
    /// The single model (for ensembles: replica 0's shape, not trained).
    pub model: Box<dyn Model>,
    /// With `[vib]`: the VIB (encoder = the `[model]` MLP's hidden layers), trained instead of
    /// `model`.
    pub vib: Option<Vib>,
    /// Whether training takes the fused CPU path (`train.fused`).
    pub fused: bool,
}

/// Runs training and measurement; returns the run directory.
pub fn train(args: &TrainArgs) -> Result<PathBuf> {
    let started = Instant::now();
    let s = setup(args)?;
    if s.cfg.train.repeats > 1 && s.vib.is_none() {
        return crate::ensemble_run::train(s, args, started);
    }
    train_single(s, args, started)
}

/// Loads the config (or the resumed run's `config.toml`), applies the flags, validates, loads the
/// data, builds the model and prepares the run directory.
pub fn setup(args: &TrainArgs) -> Result<Setup> {
    let (cfg_path, resuming) = match (&args.resume, &args.config) {
        (Some(dir), _) => (dir.join("config.toml"), true),
        (None, Some(c)) => (c.clone(), false),
        (None, None) => {
            bail!("give --config FILE to start a run or --resume DIR to continue one")
        }
    };
    let mut cfg = Config::load(&cfg_path)?;
    if let Some(e) = args.epochs {
        cfg.train.epochs = e;
        // A shorter run keeps its log schedule: at most one measurement per epoch.
        if let Some(p) = cfg.measure.points.as_mut() {
            *p = (*p).min(e.max(1));
        }
    }
    if let Some(s) = args.seed {
        cfg.seed = s;
    }
    if let Some(d) = &args.device {
        cfg.device = d.clone();
    }
    cfg.validate()
        .with_context(|| format!("invalid config file {}", cfg_path.display()))?;
    cfg.train.checkpoint_every = Some(cfg.checkpoint_every());
    let device = device::resolve(&cfg.device)?;
    let splits = data::load(&cfg)?;
    let classes = splits.train.classes.max(splits.test.classes);
    let shape = crate::model::DataShape {
        features: splits.train.d,
        classes,
        image: splits.train.image_shape,
        name: &splits.train.name,
    };
    let (model, resolved) = crate::model::build(&cfg.model, &shape, cfg.seed, &device)
        .with_context(|| format!("invalid config file {}", cfg_path.display()))?;
    cfg.model = resolved;
    let vib = match &cfg.vib {
        None => None,
        Some(v) => {
            let w = cfg.model.widths.clone().unwrap_or_default();
            let spec = VibSpec {
                input_dim: splits.train.d,
                hidden: w[1..w.len().saturating_sub(1)].to_vec(),
                k: v.k,
                classes,
                activation: cfg.model.activation.unwrap_or(Activation::Relu),
                init: cfg.model.init.unwrap_or(Init::Default),
            };
            Some(Vib::new(&spec, cfg.seed, &device)?)
        }
    };
    let fused = crate::model::use_fused(
        cfg.train.fused,
        crate::model::mlp_spec(&cfg.model)
            .filter(|_| vib.is_none())
            .as_ref(),
        &device,
    )
    .with_context(|| format!("invalid config file {}", cfg_path.display()))?;
    let hook_names = match &vib {
        Some(v) => v.hook_names(),
        None => model.hook_names(),
    };
    let hooks: Vec<String> = NameFilter::new(&cfg.measure.hooks)?
        .select(&hook_names)
        .with_context(|| {
            format!(
                "invalid value for `measure.hooks` in {}",
                cfg_path.display()
            )
        })?
        .into_iter()
        .map(String::from)
        .collect();
    let estimators = cfg.estimators()?;
    let dumped = cfg.dump_epochs()?;
    let measured: BTreeSet<usize> = cfg
        .schedule()?
        .epochs(cfg.train.epochs)?
        .into_iter()
        .collect();

    let probe_ds = match cfg.measure_on()? {
        MeasureOn::All => data::concat(&splits.train, &splits.test),
        MeasureOn::Train => splits.train.clone(),
        MeasureOn::Test => splits.test.clone(),
    };
    let x_sym = exact_symbols(&probe_ds.x, probe_ds.n, probe_ds.d)?;
    let plane = PlaneOptions {
        title: format!("{} — information plane", cfg.name),
        x_max: Some((x_sym.distinct as f64).log2()),
        y_max: Some(entropy_bits(&probe_ds.y)),
    };
    let probe = ProbeSet {
        x: Tensor::from_slice(&probe_ds.x, (probe_ds.n, probe_ds.d), &device)?,
        samples: Samples {
            x_ids: x_sym.ids,
            // Only knn reads the inputs themselves; others need just their symbols.
            x: estimators
                .iter()
                .any(|e| matches!(e.spec, EstimatorSpec::Knn { .. }))
                .then(|| (probe_ds.x.clone(), probe_ds.d)),
            y: probe_ds.y.clone(),
        },
        represent: cfg
            .representations(&hooks)
            .with_context(|| format!("invalid config file {}", cfg_path.display()))?,
    };

    let out = match &args.resume {
        Some(dir) => dir.clone(),
        None => {
            let out = args.out.clone().unwrap_or_else(|| default_out(&cfg.name));
            create_run_dir(&out, args.overwrite)?;
            if args.overwrite {
                outdir::remove_own_files(&out, outdir::is_train_file)?;
            }
            if !dumped.is_empty() {
                // Written once: every dumped epoch shares the probe set's labels and inputs.
                write_atomic(
                    &out.join("labels.safetensors"),
                    &tensors::labels_bytes(&probe_ds.y)?,
                )?;
                write_atomic(
                    &out.join("inputs.safetensors"),
                    &tensors::inputs_bytes(&probe_ds.x, probe_ds.n, probe_ds.d)?,
                )?;
            }
            cfg.device = device::name(&device).to_string();
            write_atomic(&out.join("config.toml"), cfg.to_toml()?.as_bytes())?;
            out
        }
    };
    Ok(Setup {
        cfg,
        device,
        splits,
        hooks,
        estimators,
        dumped,
        measured,
        probe,
        plane,
        out,
        resuming,
        model,
        vib,
        fused,
    })
}

/// What `--stop-after` prints when it stops a run before its last epoch.
pub fn stopped_as_asked(epoch: usize, epochs: usize, out: &Path) -> String {
    format!(
        "stopped after epoch {epoch} of {epochs} as asked; continue with: probe train --resume {}",
        out.display()
    )
}

/// The loop of one model (no `train.repeats`).
fn train_single(s: Setup, args: &TrainArgs, started: Instant) -> Result<PathBuf> {
    let Setup {
        cfg,
        device,
        splits,
        hooks,
        estimators,
        dumped,
        measured,
        probe,
        plane,
        out,
        resuming,
        model,
        vib,
        fused,
        ..
    } = s;
    let model: &dyn Model = match &vib {
        Some(v) => v,
        None => &*model,
    };
    let train_d = DeviceData::new(&splits.train, &device)?;
    let test_d = DeviceData::new(&splits.test, &device)?;
    let named = model.named_vars();
    let vars = named.iter().map(|(_, v)| v.clone()).collect();
    let mut opt = Optimizer::new(cfg.optim()?, vars)?;
    let mut stepper = match (&vib, &cfg.vib) {
        (Some(v), Some(c)) => Stepper::Vib {
            trainer: VibTrainer::new(cfg.train.batch_size, c.beta, cfg.seed)?,
            model: v,
            cfg: c.clone(),
            seed: cfg.seed,
            table: CsvTable::new(&crate::vib_csv::VIB_HEADER),
        },
        _ if fused => match crate::model::mlp_spec(&cfg.model) {
            Some(spec) => Stepper::Fused {
                trainer: Trainer::new(cfg.train.batch_size, cfg.seed)?,
                fused: FusedMlp::new(&spec, &cfg.optim()?, cfg.train.batch_size)?,
                vars: named.iter().map(|(_, v)| v.clone()).collect(),
                loaded: false,
                train: &splits.train,
                test: &splits.test,
            },
            None => bail!("the fused trainer needs an MLP; set `train.fused = false`"),
        },
        _ => Stepper::Plain(Trainer::new(cfg.train.batch_size, cfg.seed)?),
    };
    let mut results = Results::new(&out, plane);
    let mut extras = Extras::new(cfg.extras()?); // flow.csv, stats.csv
    let mut grads = CsvTable::new(&GRADIENTS_HEADER);
    let mut first = 1;
    if resuming {
        let mut r = resume::read(&out, &named, &mut opt, &device)?;
        stepper.restore(&mut r)?;
        results.restore(&mut r)?;
        extras.restore(
            r.take_table("flow.csv", &FLOW_HEADER)?,
            r.take_table("stats.csv", &STATS_HEADER)?,
        );
        grads = r.take_table("gradients.csv", &GRADIENTS_HEADER)?;
        first = r.epoch + 1;
        if r.epoch >= cfg.train.epochs {
            bail!(
                "the run in {} already finished all {} epochs; nothing to resume",
                out.display(),
                cfg.train.epochs
            );
        }
    }
    let every = cfg.checkpoint_every();
    let mut last_ckpt = resuming.then_some(first - 1);
    let bar = progress(cfg.train.epochs, args.quiet);
    bar.set_position((first - 1) as u64);

    for epoch in first..=cfg.train.epochs {
        let stop_here = args.stop_after == Some(epoch);
        let step = (|| -> Result<()> {
            let mut gstats = (cfg.measure.gradients && measured.contains(&epoch))
                .then(|| GradStats::new(&named, None));
            let (tr, te) =
                stepper.epoch(epoch, model, &mut opt, &train_d, &test_d, gstats.as_mut())?;
            stepper.flush(&out)?;
            results.metrics.push([
                epoch.to_string(),
                fmt_f64(tr.loss),
                fmt_f64(tr.acc),
                fmt_f64(te.loss),
                fmt_f64(te.acc),
            ])?;
            bar.set_message(format!(
                "loss {:.4} acc {:.3} | test loss {:.4} acc {:.3}",
                tr.loss, tr.acc, te.loss, te.acc
            ));
            if let Some(g) = gstats.as_mut() {
                gradcsv::push_rows(&mut grads, epoch, &[cfg.seed], &g.finish()?)?;
                grads.replace_atomic(&out.join("gradients.csv"))?;
            }
            if measured.contains(&epoch) {
                let layers = capture(model, &probe, &hooks)?;
                if dumped.contains(&epoch) {
                    write_atomic(
                        &out.join(format!("activations-epoch{epoch}.safetensors")),
                        &tensors::activations_bytes(&layers, epoch)?,
                    )?;
                }
                let estimates = estimate_all(&layers, &probe.samples, &estimators)?;
                extras.record(epoch, &layers, &estimators, &estimates)?;
                for e in estimates {
                    results.add(epoch, e)?;
                }
                results.flush_csv(false)?;
                extras.flush(&out, false)?;
            }
            if (every > 0 && epoch.is_multiple_of(every)) || epoch == cfg.train.epochs || stop_here
            {
                results.flush_csv(false)?;
                let mut tables = results.tables();
                tables.extend(extras.tables());
                tables.push(("gradients.csv", &grads));
                if let Stepper::Vib { table, .. } = &stepper {
                    tables.push(("vib.csv", table));
                }
                resume::write(&out, epoch, &named, &opt, &stepper.streams(), &tables)?;
            }
            Ok(())
        })();
        if let Err(err) = step {
            bar.abandon();
            // Keep what was finished: the CSVs and a plot of every measured epoch so far.
            results.flush_csv(true)?;
            extras.flush(&out, true)?;
            results.plot(&estimators_names(&estimators)).ok();
            return Err(err.context(stopped_message(epoch, &out, last_ckpt)));
        }
        if (every > 0 && epoch.is_multiple_of(every) && epoch < cfg.train.epochs) || stop_here {
            last_ckpt = Some(epoch);
        }
        bar.inc(1);
        if stop_here && epoch < cfg.train.epochs {
            bar.finish_and_clear();
            results.flush_csv(true)?;
            extras.flush(&out, true)?;
            results.plot(&estimators_names(&estimators)).ok();
            if !args.quiet {
                eprintln!("{}", stopped_as_asked(epoch, cfg.train.epochs, &out));
            }
            return Ok(out);
        }
    }
    bar.finish_and_clear();
    results.flush_csv(true)?;
    extras.flush(&out, true)?;
    write_atomic(
        &out.join("model.safetensors"),
        &probe_train::checkpoint::to_bytes(model)?,
    )?;
    results.plot(&estimators_names(&estimators))?;
    gradcsv::plot(&grads, &out, &cfg.name)?;
    resume::remove(&out)?;
    if !args.quiet {
        eprintln!(
            "trained {} epochs on {} in {:.1} s; results in {}",
            cfg.train.epochs,
            device::name(&device),
            started.elapsed().as_secs_f64(),
            out.display()
        );
        if let Some(s) = extras.summary() {
            eprintln!("{s}");
        }
    }
    Ok(out)
}

/// The context of an error that stopped a run at `epoch`: where the results and the last good
/// checkpoint are.
pub fn stopped_message(epoch: usize, out: &Path, last_ckpt: Option<usize>) -> String {
    let ckpt = match last_ckpt {
        Some(e) => format!(
            "; the last good checkpoint (epoch {e}) is {} (continue with probe train --resume {})",
            resume::path(out).display(),
            out.display()
        ),
        None => "; no checkpoint was written yet".to_string(),
    };
    format!(
        "run stopped at epoch {epoch}; results up to the last finished epoch are in {}{ckpt}",
        out.display()
    )
}

/// The estimators' names, in order.
pub fn estimators_names(e: &[crate::config::NamedEstimator]) -> Vec<String> {
    e.iter().map(|e| e.name.clone()).collect()
}

/// Columns of `metrics.csv`.
pub const METRICS_HEADER: [&str; 5] = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc"];

/// The growing result tables of a run and where they go.
struct Results {
    dir: PathBuf,
    plane: PlaneOptions,
    metrics: CsvTable,
    infoplane: CsvTable,
    points: Vec<(String, InfoPoint)>,
}

impl Results {
    fn new(dir: &Path, plane: PlaneOptions) -> Self {
        Self {
            dir: dir.to_path_buf(),
            plane,
            metrics: CsvTable::new(&METRICS_HEADER),
            infoplane: CsvTable::new(&INFOPLANE_HEADER),
            points: Vec::new(),
        }
    }

    fn add(&mut self, epoch: usize, e: Estimate) -> Result<()> {
        self.infoplane.push(csv_row(Some(epoch), &e))?;
        self.points.push((
            e.estimator,
            InfoPoint {
                epoch,
                layer: e.layer,
                i_xt: e.i_xt,
                i_ty: e.i_ty,
            },
        ));
        Ok(())
    }

    /// Continues the tables of a checkpoint (and the plot's points, from `infoplane.csv`).
    fn restore(&mut self, r: &mut resume::Restored) -> Result<()> {
        self.metrics = r.take_table("metrics.csv", &METRICS_HEADER)?;
        self.infoplane = r.take_table("infoplane.csv", &INFOPLANE_HEADER)?;
        self.points = points_of(&self.infoplane)?;
        Ok(())
    }

    /// The tables, by file name, for a checkpoint.
    fn tables(&self) -> Vec<(&'static str, &CsvTable)> {
        vec![
            ("metrics.csv", &self.metrics),
            ("infoplane.csv", &self.infoplane),
        ]
    }

    /// Rewrites the CSVs atomically. Intermediate versions (`durable = false`) skip the fsyncs,
    /// which cost more than the training of a small network on slow disks; they still survive the
    /// process being killed. The final (and the error path's) version is fsynced.
    fn flush_csv(&self, durable: bool) -> Result<()> {
        for (table, name) in [
            (&self.metrics, "metrics.csv"),
            (&self.infoplane, "infoplane.csv"),
        ] {
            let path = self.dir.join(name);
            if durable {
                table.write_atomic(&path)?;
            } else {
                table.replace_atomic(&path)?;
            }
        }
        Ok(())
    }

    /// `infoplane.{png,svg}` for the first estimator, `infoplane-{name}.{png,svg}` for the others.
    fn plot(&self, estimators: &[String]) -> Result<()> {
        for (name, stem, pts) in planes_by_estimator(&self.points, estimators) {
            let opts = PlaneOptions {
                title: format!("{} ({name})", self.plane.title),
                ..self.plane.clone()
            };
            plot_infoplane(
                &pts,
                &opts,
                &self.dir.join(format!("{stem}.png")),
                &self.dir.join(format!("{stem}.svg")),
            )?;
        }
        Ok(())
    }
}

/// Per estimator with points: its name, its plot's file stem (`infoplane` for the first
/// estimator, `infoplane-{name}` for the others) and its points.
pub fn planes_by_estimator<'a>(
    points: &[(String, InfoPoint)],
    estimators: &'a [String],
) -> Vec<(&'a str, String, Vec<InfoPoint>)> {
    estimators
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let pts: Vec<InfoPoint> = points
                .iter()
                .filter(|(e, _)| e == name)
                .map(|(_, p)| p.clone())
                .collect();
            let stem = if i == 0 {
                "infoplane".to_string()
            } else {
                format!("infoplane-{name}")
            };
            (!pts.is_empty()).then_some((name.as_str(), stem, pts))
        })
        .collect()
}

/// The plot points `(estimator, point)` of the rows of an `infoplane.csv` table (columns
/// [`INFOPLANE_HEADER`], optionally after a leading `seed` column).
pub fn points_of(t: &CsvTable) -> Result<Vec<(String, InfoPoint)>> {
    let off = usize::from(t.header().first().is_some_and(|h| h == "seed"));
    t.rows()
        .iter()
        .map(|r| {
            let num = |i: usize| -> Result<f64> {
                r[off + i]
                    .parse()
                    .with_context(|| format!("bad number {:?} in a checkpoint table", r[off + i]))
            };
            Ok((
                r[off + 2].clone(),
                InfoPoint {
                    epoch: r[off].parse().context("bad epoch in a checkpoint table")?,
                    layer: r[off + 1].clone(),
                    i_xt: num(3)?,
                    i_ty: num(4)?,
                },
            ))
        })
        .collect()
}

/// A progress bar over the epochs (hidden with `quiet`).
pub fn progress(epochs: usize, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(epochs as u64);
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30}] {pos}/{len} epochs, ETA {eta} | {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// `runs/{name}-{YYYYMMDD-HHMMSS}` in UTC.
pub fn default_out(name: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    PathBuf::from("runs").join(format!(
        "{name}-{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_779), (2026, 11, 22));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
