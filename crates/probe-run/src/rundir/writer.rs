//! The run directory's writer: the [`Observer`] that turns a run's events into its files.
//!
//! The tables (`metrics.csv`, `infoplane.csv`, and as the run has them `flow.csv`, `stats.csv`,
//! an ensemble's `infoplane_mean.csv`, `gradients.csv`, `vib.csv`) grow by appending: each event's
//! rows go to their file with one write as soon as they exist ([`AppendedCsv`]), so the bytes
//! written are linear in the results and an interrupted or diverged run keeps every row it
//! finished. `metrics.csv`, `infoplane.csv`, `infoplane_mean.csv`, `flow.csv` and `stats.csv` are
//! created (header only) when the run starts, `gradients.csv` and `vib.csv` with their first row.
//! The activations of `measure.dump_activations` epochs are written atomically as soon as they are
//! captured; the figures and final weights atomically at the end.
//!
//! A checkpoint holds no table, only each file's [`TableMark`] (rows, bytes, hash; the files are
//! fsynced first). A resumed run checks every file against its mark, cuts off what was written
//! after the checkpoint (and a torn last line), and appends from there, so its files end
//! byte-identical to an uninterrupted run's. The files are fsynced again when the run ends.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use probe_estimators::ExtrasSpec;
use probe_report::{
    fmt_f64, write_atomic, AppendedCsv, CsvTable, InfoPoint, PlaneOptions, TableMark,
};

use super::plots::{plot_means, plot_planes, points_of};
use super::{
    dump_file, estimate_row, flow_row, gradient_rows, gradients, model_seed_file, stats_row,
    vib_row, with_seed, FLOW_FILE, FLOW_HEADER, GRADIENTS_FILE, GRADIENTS_HEADER, INFOPLANE_FILE,
    INFOPLANE_HEADER, MEAN_FILE, MEAN_HEADER, METRICS_FILE, METRICS_HEADER, MODEL_FILE, STATS_FILE,
    STATS_HEADER, VIB_FILE, VIB_HEADER,
};
use crate::error::{bail, Result};
use crate::observer::{EpochEnd, Finished, Measured, Observer, RunInfo, Stop};
use crate::resume::Restored;
use crate::tensors;

/// What the writer needs to know about a run.
#[derive(Clone, Debug)]
pub struct WriterSpec {
    /// The run directory (it exists).
    pub dir: PathBuf,
    /// The run's name (figure titles).
    pub name: String,
    /// Axes and title of the information planes.
    pub plane: PlaneOptions,
    /// The estimators' names, in order (the first one's plane is `infoplane.png`).
    pub estimators: Vec<String>,
    /// The number of seeds trained; several (an ensemble) give tables a `seed` column,
    /// `infoplane_mean.csv` and the mean figures.
    pub replicas: usize,
    /// A `[vib]` run: `vib.csv`.
    pub vib: bool,
    /// Which of `flow.csv` / `stats.csv` are written.
    pub extras: ExtrasSpec,
    /// Epochs whose activations are dumped.
    pub dumped: BTreeSet<usize>,
}

/// The tables a writer can keep, in the order of [`RunDirWriter::slots`].
const FILES: [&str; 7] = [
    METRICS_FILE,
    INFOPLANE_FILE,
    MEAN_FILE,
    FLOW_FILE,
    STATS_FILE,
    GRADIENTS_FILE,
    VIB_FILE,
];

/// How a run uses one of the [`FILES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Use {
    /// Not written by this run.
    Off,
    /// Created, header only, when the run starts.
    AtStart,
    /// Created with its first row.
    WithRows,
}

/// Writes a run directory from a run's events; see the module docs.
pub struct RunDirWriter {
    spec: WriterSpec,
    metrics: AppendedCsv,
    infoplane: AppendedCsv,
    mean: AppendedCsv,
    flow: AppendedCsv,
    stats: AppendedCsv,
    gradients: AppendedCsv,
    vib: AppendedCsv,
    /// The plot's points of a single run, `(estimator, point)`.
    points: Vec<(String, InfoPoint)>,
}

impl RunDirWriter {
    /// Empty tables for the run `spec` describes; no file is touched before the run starts.
    pub fn new(spec: WriterSpec) -> Self {
        let table = |name: &str, h: &[&'static str], seeded: bool| {
            let path = spec.dir.join(name);
            if seeded && spec.replicas > 1 {
                AppendedCsv::new(&path, &with_seed(h))
            } else {
                AppendedCsv::new(&path, h)
            }
        };
        Self {
            metrics: table(METRICS_FILE, &METRICS_HEADER, true),
            infoplane: table(INFOPLANE_FILE, &INFOPLANE_HEADER, true),
            mean: table(MEAN_FILE, &MEAN_HEADER, false),
            flow: table(FLOW_FILE, &FLOW_HEADER, false),
            stats: table(STATS_FILE, &STATS_HEADER, false),
            gradients: table(GRADIENTS_FILE, &GRADIENTS_HEADER, false),
            vib: table(VIB_FILE, &VIB_HEADER, false),
            points: Vec::new(),
            spec,
        }
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.spec.dir
    }

    /// Every table the run wrote, by file name (what the CSV files hold).
    pub fn tables(&self) -> BTreeMap<&'static str, &CsvTable> {
        self.written().map(|(name, t)| (name, t.table())).collect()
    }

    /// How this run uses each of [`FILES`].
    fn uses(&self) -> [Use; 7] {
        let on = |on: bool, u: Use| if on { u } else { Use::Off };
        let single = !self.ensemble();
        [
            Use::AtStart,
            Use::AtStart,
            on(self.ensemble(), Use::AtStart),
            on(single && self.spec.extras.flow, Use::AtStart),
            on(single && self.spec.extras.stats, Use::AtStart),
            Use::WithRows,
            on(self.spec.vib, Use::WithRows),
        ]
    }

    /// The tables in the order of [`FILES`].
    fn slots(&self) -> [&AppendedCsv; 7] {
        [
            &self.metrics,
            &self.infoplane,
            &self.mean,
            &self.flow,
            &self.stats,
            &self.gradients,
            &self.vib,
        ]
    }

    /// The tables this run writes, by file name.
    fn written(&self) -> impl Iterator<Item = (&'static str, &AppendedCsv)> {
        FILES
            .into_iter()
            .zip(self.slots())
            .zip(self.uses())
            .filter(|(_, u)| *u != Use::Off)
            .map(|(named, _)| named)
    }

    /// The tables this run writes, by file name, with how it uses them.
    fn written_mut(&mut self) -> impl Iterator<Item = (&'static str, &mut AppendedCsv, Use)> {
        let uses = self.uses();
        let slots = [
            &mut self.metrics,
            &mut self.infoplane,
            &mut self.mean,
            &mut self.flow,
            &mut self.stats,
            &mut self.gradients,
            &mut self.vib,
        ];
        FILES
            .into_iter()
            .zip(slots)
            .zip(uses)
            .filter(|(_, u)| *u != Use::Off)
            .map(|((name, t), u)| (name, t, u))
    }

    /// Appends every table's new rows to its file; `durable` fsyncs the files too.
    fn flush(&mut self, durable: bool) -> Result<()> {
        for (_, t, _) in self.written_mut() {
            t.flush()?;
            if durable {
                t.sync()?;
            }
        }
        Ok(())
    }

    /// The information-plane figures.
    fn plot(&self) -> Result<()> {
        if self.ensemble() {
            plot_means(
                self.mean.table(),
                &self.spec.estimators,
                &self.spec.plane,
                &self.spec.dir,
                self.spec.replicas,
            )
        } else {
            plot_planes(
                &self.points,
                &self.spec.estimators,
                &self.spec.plane,
                &self.spec.dir,
            )
        }
    }

    /// Whether several seeds are trained.
    fn ensemble(&self) -> bool {
        self.spec.replicas > 1
    }
}

/// Mean and sample standard deviation (ddof = 1; 0 for one value).
fn mean_std(v: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = v.clone().count();
    let m = v.clone().sum::<f64>() / n.max(1) as f64;
    if n < 2 {
        return (m, 0.0);
    }
    let ss: f64 = v.map(|x| (x - m).powi(2)).sum();
    (m, (ss / (n - 1) as f64).sqrt())
}

impl Observer for RunDirWriter {
    fn on_resume(&mut self, r: &mut Restored) -> Result<()> {
        let ckpt = crate::resume::path(&self.spec.dir);
        for (name, t, _) in self.written_mut() {
            let Some(text) = r.state.remove(name) else {
                bail!(
                    "checkpoint {}: no row count for {name}; it was written by a probe version that kept the tables inside the checkpoint: resume with that version, or start the run again with --overwrite",
                    ckpt.display()
                );
            };
            let Some(mark) = TableMark::parse(&text) else {
                bail!(
                    "checkpoint {}: bad mark {text:?} for {name} (expected `rows=R bytes=B fnv1a64=H`)",
                    ckpt.display()
                );
            };
            let header: Vec<&str> = t.table().header().iter().map(String::as_str).collect();
            *t = AppendedCsv::resume(t.path(), &header, &mark)?;
        }
        if !self.ensemble() {
            self.points = points_of(self.infoplane.table())?;
        }
        Ok(())
    }

    fn on_start(&mut self, _run: &RunInfo) -> Result<()> {
        for (_, t, u) in self.written_mut() {
            if u == Use::AtStart {
                t.create()?;
            }
        }
        Ok(())
    }

    fn on_epoch(&mut self, e: &EpochEnd) -> Result<()> {
        if let Some(v) = &e.out.vib {
            self.vib.push(vib_row(e.epoch, v))?;
        }
        for (r, (tr, te)) in e.out.train.iter().zip(&e.out.test).enumerate() {
            let row = [
                e.epoch.to_string(),
                fmt_f64(tr.loss),
                fmt_f64(tr.acc),
                fmt_f64(te.loss),
                fmt_f64(te.acc),
            ];
            if self.ensemble() {
                let mut seeded = vec![e.seeds[r].to_string()];
                seeded.extend(row);
                self.metrics.push(seeded)?;
            } else {
                self.metrics.push(row)?;
            }
        }
        if let Some(g) = e.gradients {
            for row in gradient_rows(e.epoch, e.seeds, g) {
                self.gradients.push(row)?;
            }
        }
        self.flush(false)
    }

    fn on_capture(
        &mut self,
        epoch: usize,
        layers: &[Vec<(String, candle_core::Tensor)>],
    ) -> Result<()> {
        if let (false, true, Some(first)) = (
            self.ensemble(),
            self.spec.dumped.contains(&epoch),
            layers.first(),
        ) {
            write_atomic(
                &self.spec.dir.join(dump_file(epoch)),
                &tensors::activations_bytes(first, epoch)?,
            )?;
        }
        Ok(())
    }

    fn on_measure(&mut self, m: &Measured) -> Result<()> {
        if self.ensemble() {
            // (layer, estimator) position → per-seed (i_xt, i_ty).
            let mut by_key: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
            for (seed, estimates) in m.seeds.iter().zip(m.estimates) {
                for (k, est) in estimates.iter().enumerate() {
                    by_key.entry(k).or_default().push((est.i_xt, est.i_ty));
                    let mut row = vec![seed.to_string()];
                    row.extend(estimate_row(Some(m.epoch), est));
                    self.infoplane.push(row)?;
                }
            }
            let first = m.estimates.first().map(Vec::as_slice).unwrap_or_default();
            for (k, v) in &by_key {
                let (xm, xs) = mean_std(v.iter().map(|p| p.0));
                let (ym, ys) = mean_std(v.iter().map(|p| p.1));
                self.mean.push([
                    m.epoch.to_string(),
                    first[*k].layer.clone(),
                    first[*k].estimator.clone(),
                    v.len().to_string(),
                    fmt_f64(xm),
                    fmt_f64(xs),
                    fmt_f64(ym),
                    fmt_f64(ys),
                ])?;
            }
        } else {
            for est in m.estimates.iter().flatten() {
                self.infoplane.push(estimate_row(Some(m.epoch), est))?;
                self.points.push((
                    est.estimator.clone(),
                    InfoPoint {
                        epoch: m.epoch,
                        layer: est.layer.clone(),
                        i_xt: est.i_xt,
                        i_ty: est.i_ty,
                    },
                ));
            }
            for f in m.flows {
                self.flow.push(flow_row(Some(m.epoch), f))?;
            }
            for s in m.stats {
                self.stats.push(stats_row(Some(m.epoch), s))?;
            }
        }
        self.flush(false)
    }

    fn on_checkpoint(&mut self, _epoch: usize) -> Result<()> {
        // The checkpoint is fsynced: the rows it counts must be on disk before it is.
        self.flush(true)
    }

    fn checkpoint_state(&self) -> Vec<(String, String)> {
        self.written()
            .map(|(name, t)| (name.to_string(), t.mark().to_string()))
            .collect()
    }

    fn on_stop(&mut self, stop: Stop) -> Result<()> {
        self.flush(true)?;
        // Keep a plot of every measured epoch so far (best effort: the tables are what counts).
        if matches!(stop, Stop::Error { .. }) || !self.ensemble() {
            self.plot().ok();
        }
        Ok(())
    }

    fn on_finish(&mut self, f: &Finished) -> Result<()> {
        self.flush(true)?;
        for (seed, bytes) in f.seeds.iter().zip(f.weights) {
            let file = if self.ensemble() {
                model_seed_file(*seed)
            } else {
                MODEL_FILE.to_string()
            };
            write_atomic(&self.spec.dir.join(file), bytes)?;
        }
        self.plot()?;
        gradients::plot(self.gradients.table(), &self.spec.dir, &self.spec.name)
    }
}
