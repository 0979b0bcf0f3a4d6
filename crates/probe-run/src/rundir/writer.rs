//! The run directory's writer: the [`Observer`] that turns a run's events into its files.
//!
//! Results are written atomically as they are produced — `vib.csv` and `gradients.csv` after
//! every epoch that adds rows, `metrics.csv`, `infoplane.csv` (and `flow.csv`, `stats.csv`, or an
//! ensemble's `infoplane_mean.csv`) at every measured epoch and checkpoint, the activations of
//! `measure.dump_activations` epochs as soon as they are captured — so an interrupted or diverged
//! run keeps everything it finished. Intermediate versions skip the fsyncs (they still survive the
//! process being killed); the final ones, and those of a run that stops, are fsynced. The tables
//! also travel in each checkpoint, so a resumed run continues them exactly.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use probe_estimators::ExtrasSpec;
use probe_report::{fmt_f64, write_atomic, CsvTable, InfoPoint, PlaneOptions};

use super::plots::{plot_means, plot_planes, points_of};
use super::{
    dump_file, estimate_row, flow_row, gradients, model_seed_file, push_gradient_rows, stats_row,
    vib_row, with_seed, FLOW_FILE, FLOW_HEADER, GRADIENTS_FILE, GRADIENTS_HEADER, INFOPLANE_FILE,
    INFOPLANE_HEADER, MEAN_FILE, MEAN_HEADER, METRICS_FILE, METRICS_HEADER, MODEL_FILE, STATS_FILE,
    STATS_HEADER, VIB_FILE, VIB_HEADER,
};
use crate::error::Result;
use crate::observer::{EpochEnd, Finished, Measured, Observer, Stop};
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

/// Writes a run directory from a run's events; see the module docs.
pub struct RunDirWriter {
    spec: WriterSpec,
    metrics: CsvTable,
    infoplane: CsvTable,
    mean: CsvTable,
    flow: CsvTable,
    stats: CsvTable,
    gradients: CsvTable,
    vib: CsvTable,
    /// The plot's points of a single run, `(estimator, point)`.
    points: Vec<(String, InfoPoint)>,
}

impl RunDirWriter {
    /// Empty tables for the run `spec` describes.
    pub fn new(spec: WriterSpec) -> Self {
        let seeded = |h: &[&'static str]| {
            if spec.replicas > 1 {
                CsvTable::new(&with_seed(h))
            } else {
                CsvTable::new(h)
            }
        };
        Self {
            metrics: seeded(&METRICS_HEADER),
            infoplane: seeded(&INFOPLANE_HEADER),
            mean: CsvTable::new(&MEAN_HEADER),
            flow: CsvTable::new(&FLOW_HEADER),
            stats: CsvTable::new(&STATS_HEADER),
            gradients: CsvTable::new(&GRADIENTS_HEADER),
            vib: CsvTable::new(&VIB_HEADER),
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
        let mut t = BTreeMap::from([
            (METRICS_FILE, &self.metrics),
            (INFOPLANE_FILE, &self.infoplane),
            (GRADIENTS_FILE, &self.gradients),
        ]);
        if self.ensemble() {
            t.insert(MEAN_FILE, &self.mean);
        } else {
            if self.spec.extras.flow {
                t.insert(FLOW_FILE, &self.flow);
            }
            if self.spec.extras.stats {
                t.insert(STATS_FILE, &self.stats);
            }
        }
        if self.spec.vib {
            t.insert(VIB_FILE, &self.vib);
        }
        t
    }

    /// Rewrites `metrics.csv` and `infoplane.csv` (and an ensemble's `infoplane_mean.csv`);
    /// `durable` fsyncs them.
    fn flush_tables(&self, durable: bool) -> Result<()> {
        let mut tables = vec![
            (&self.metrics, METRICS_FILE),
            (&self.infoplane, INFOPLANE_FILE),
        ];
        if self.ensemble() {
            tables.push((&self.mean, MEAN_FILE));
        }
        for (table, name) in tables {
            write_table(table, &self.spec.dir.join(name), durable)?;
        }
        Ok(())
    }

    /// Rewrites `flow.csv` / `stats.csv` (those switched on; single runs).
    fn flush_extras(&self, durable: bool) -> Result<()> {
        if self.ensemble() {
            return Ok(());
        }
        for (on, table, name) in [
            (self.spec.extras.flow, &self.flow, FLOW_FILE),
            (self.spec.extras.stats, &self.stats, STATS_FILE),
        ] {
            if on {
                write_table(table, &self.spec.dir.join(name), durable)?;
            }
        }
        Ok(())
    }

    /// The information-plane figures.
    fn plot(&self) -> Result<()> {
        if self.ensemble() {
            plot_means(
                &self.mean,
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

/// Writes `table` to `path` atomically; `durable` fsyncs it.
fn write_table(table: &CsvTable, path: &Path, durable: bool) -> Result<()> {
    if durable {
        table.write_atomic(path)?;
    } else {
        table.replace_atomic(path)?;
    }
    Ok(())
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
        let metrics_h: Vec<&str> = self.metrics.header().iter().map(String::as_str).collect();
        let plane_h: Vec<&str> = self.infoplane.header().iter().map(String::as_str).collect();
        self.metrics = r.take_table(METRICS_FILE, &metrics_h)?;
        self.infoplane = r.take_table(INFOPLANE_FILE, &plane_h)?;
        self.gradients = r.take_table(GRADIENTS_FILE, &GRADIENTS_HEADER)?;
        if self.ensemble() {
            self.mean = r.take_table(MEAN_FILE, &MEAN_HEADER)?;
        } else {
            self.points = points_of(&self.infoplane)?;
            self.flow = r.take_table(FLOW_FILE, &FLOW_HEADER)?;
            self.stats = r.take_table(STATS_FILE, &STATS_HEADER)?;
        }
        if self.spec.vib {
            self.vib = r.take_table(VIB_FILE, &VIB_HEADER)?;
        }
        Ok(())
    }

    fn on_epoch(&mut self, e: &EpochEnd) -> Result<()> {
        if let Some(v) = &e.out.vib {
            self.vib.push(vib_row(e.epoch, v))?;
            self.vib.replace_atomic(&self.spec.dir.join(VIB_FILE))?;
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
            push_gradient_rows(&mut self.gradients, e.epoch, e.seeds, g)?;
            self.gradients
                .replace_atomic(&self.spec.dir.join(GRADIENTS_FILE))?;
        }
        Ok(())
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
        self.flush_tables(false)?;
        self.flush_extras(false)
    }

    fn on_checkpoint(&mut self, _epoch: usize) -> Result<()> {
        self.flush_tables(false)
    }

    fn checkpoint_tables(&self) -> Vec<(&'static str, &CsvTable)> {
        let mut t = vec![
            (METRICS_FILE, &self.metrics),
            (INFOPLANE_FILE, &self.infoplane),
        ];
        if self.ensemble() {
            t.push((MEAN_FILE, &self.mean));
        } else {
            t.push((FLOW_FILE, &self.flow));
            t.push((STATS_FILE, &self.stats));
        }
        t.push((GRADIENTS_FILE, &self.gradients));
        if self.spec.vib {
            t.push((VIB_FILE, &self.vib));
        }
        t
    }

    fn on_stop(&mut self, stop: Stop) -> Result<()> {
        self.flush_tables(true)?;
        self.flush_extras(true)?;
        // Keep a plot of every measured epoch so far (best effort: the tables are what counts).
        if matches!(stop, Stop::Error { .. }) || !self.ensemble() {
            self.plot().ok();
        }
        Ok(())
    }

    fn on_finish(&mut self, f: &Finished) -> Result<()> {
        self.flush_tables(true)?;
        self.flush_extras(true)?;
        for (seed, bytes) in f.seeds.iter().zip(f.weights) {
            let file = if self.ensemble() {
                model_seed_file(*seed)
            } else {
                MODEL_FILE.to_string()
            };
            write_atomic(&self.spec.dir.join(file), bytes)?;
        }
        self.plot()?;
        gradients::plot(&self.gradients, &self.spec.dir, &self.spec.name)
    }
}
