//! `probe train`: load the config and data, train, measure on the schedule, and write the run
//! directory. Results are written atomically as they are produced (the CSVs on every measured
//! epoch, the activations of `measure.dump_activations` epochs as soon as they are captured), so
//! an interrupted or diverged run keeps everything it finished.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use candle_core::Tensor;
use indicatif::{ProgressBar, ProgressStyle};
use probe_capture::NameFilter;
use probe_estimators::{entropy_bits, exact_symbols};
use probe_report::{
    create_run_dir, fmt_f64, plot_infoplane, write_atomic, CsvTable, InfoPoint, PlaneOptions,
};
use probe_train::model::Model;
use probe_train::optim::Optimizer;
use probe_train::trainer::{evaluate, DeviceData, Trainer};

use crate::config::{Config, MeasureOn};
use crate::estimate::{csv_row, Estimate, EstimatorSpec, Samples, INFOPLANE_HEADER};
use crate::measure::{capture, estimate_all, Extras, ProbeSet};
use crate::{data, device, outdir, tensors};

/// What `probe train` was asked to do.
pub struct TrainArgs {
    /// The TOML config.
    pub config: PathBuf,
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
}

/// Runs training and measurement; returns the run directory.
pub fn train(args: &TrainArgs) -> Result<PathBuf> {
    let started = Instant::now();
    let mut cfg = Config::load(&args.config)?;
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
        .with_context(|| format!("invalid config file {}", args.config.display()))?;
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
        .with_context(|| format!("invalid config file {}", args.config.display()))?;
    cfg.model = resolved;
    let hooks: Vec<String> = NameFilter::new(&cfg.measure.hooks)?
        .select(&model.hook_names())
        .with_context(|| {
            format!(
                "invalid value for `measure.hooks` in {}",
                args.config.display()
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
            .with_context(|| format!("invalid config file {}", args.config.display()))?,
    };

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

    let train_d = DeviceData::new(&splits.train, &device)?;
    let test_d = DeviceData::new(&splits.test, &device)?;
    let vars = model.named_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt = Optimizer::new(cfg.optim()?, vars)?;
    let mut trainer = Trainer::new(cfg.train.batch_size, cfg.seed)?;
    let mut results = Results::new(&out, plane);
    let mut extras = Extras::new(cfg.extras()?); // flow.csv, stats.csv
    let bar = progress(cfg.train.epochs, args.quiet);

    for epoch in 1..=cfg.train.epochs {
        let step = (|| -> Result<()> {
            let tr = trainer.epoch(epoch, &model, &mut opt, &train_d)?;
            let te = evaluate(&model, &test_d, 8192)?;
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
            if measured.contains(&epoch) {
                let layers = capture(&model, &probe, &hooks)?;
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
            Ok(())
        })();
        if let Err(err) = step {
            bar.abandon();
            // Keep what was finished: the CSVs and a plot of every measured epoch so far.
            results.flush_csv(true)?;
            extras.flush(&out, true)?;
            results.plot(&estimators_names(&estimators)).ok();
            return Err(err.context(format!(
                "run stopped at epoch {epoch}; results up to the last finished epoch are in {}",
                out.display()
            )));
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    results.flush_csv(true)?;
    extras.flush(&out, true)?;
    write_atomic(
        &out.join("model.safetensors"),
        &probe_train::checkpoint::to_bytes(&model)?,
    )?;
    results.plot(&estimators_names(&estimators))?;
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

fn estimators_names(e: &[crate::config::NamedEstimator]) -> Vec<String> {
    e.iter().map(|e| e.name.clone()).collect()
}

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
            metrics: CsvTable::new(&["epoch", "train_loss", "train_acc", "test_loss", "test_acc"]),
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
        for (i, name) in estimators.iter().enumerate() {
            let pts: Vec<InfoPoint> = self
                .points
                .iter()
                .filter(|(e, _)| e == name)
                .map(|(_, p)| p.clone())
                .collect();
            if pts.is_empty() {
                continue;
            }
            let stem = if i == 0 {
                "infoplane".to_string()
            } else {
                format!("infoplane-{name}")
            };
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

fn progress(epochs: usize, quiet: bool) -> ProgressBar {
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
fn default_out(name: &str) -> PathBuf {
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
