//! The one training loop of every run: epochs of a [`Step`](crate::step::Step), measurement on
//! the schedule, checkpoints, `--stop-after`, resume and the stop on an error (a NaN loss
//! included), written once for single models, VIBs and ensembles alike.
//!
//! Per epoch: train and evaluate ([`Step::epoch`](crate::step::Step::epoch)); on a measured epoch
//! capture the hook points, tell the observers ([`Observer::on_capture`]), run every estimator on
//! every (replica, layer) in parallel, and for a single model the flows and statistics; every
//! `train.checkpoint_every` epochs (and at the last epoch and `--stop-after`) write
//! `checkpoint.safetensors`. The observers see everything in order; the run directory's writer is
//! the first of them.
//!
//! ```no_run
//! use probe_run::{train, ConfigSource, TrainOptions};
//! let opts = TrainOptions::new(ConfigSource::File("configs/tishby_tanh.toml".into()));
//! let outcome = train(&opts, &mut []).unwrap();
//! println!("{} rows in infoplane.csv", outcome.tables["infoplane.csv"].len());
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use candle_core::Var;
use probe_report::CsvTable;
use probe_train::gradients::GradStats;
use probe_train::optim::Optimizer;

use std::sync::atomic::Ordering::SeqCst;

use crate::error::{bail, Error, Result};
use crate::measure::measure_replicas;
use crate::observer::{EpochEnd, Finished, Measured, Observer, RunInfo, Stop};
use crate::resume;
use crate::rundir::writer::{RunDirWriter, WriterSpec};
use crate::setup::{setup, Setup, TrainOptions};

/// How a run ended, and what it produced.
#[derive(Debug)]
pub struct RunOutcome {
    /// The run directory.
    pub out: PathBuf,
    /// The last epoch trained.
    pub epoch: usize,
    /// `Some(epoch)` when `--stop-after` stopped the run before its last epoch (a checkpoint
    /// was written; continue with resume).
    pub stopped_after: Option<usize>,
    /// Every table of the run (what its CSV files hold), by file name: `metrics.csv`,
    /// `infoplane.csv`, …, resumed runs included.
    pub tables: BTreeMap<String, CsvTable>,
}

/// Sets up the run `opts` describes and trains it to its end (or `stop_after`), telling
/// `observers` (after the run directory's writer) what happens.
pub fn train(opts: &TrainOptions, observers: &mut [&mut dyn Observer]) -> Result<RunOutcome> {
    let s = setup(opts)?;
    let mut writer = RunDirWriter::new(WriterSpec {
        dir: s.out.clone(),
        name: s.cfg.name.clone(),
        plane: s.plane.clone(),
        estimators: s.estimators.iter().map(|e| e.name.clone()).collect(),
        replicas: s.step.seeds().len(),
        vib: s.cfg.vib.is_some(),
        extras: s.cfg.extras()?,
        dumped: s.dumped.clone(),
    });
    let (epoch, stopped_after) = {
        let mut all: Vec<&mut dyn Observer> = Vec::with_capacity(observers.len() + 1);
        all.push(&mut writer);
        for o in observers.iter_mut() {
            all.push(&mut **o);
        }
        fit(s, &mut all)?
    };
    Ok(RunOutcome {
        out: writer.dir().to_path_buf(),
        epoch,
        stopped_after,
        tables: writer
            .tables()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    })
}

/// Trains `s` from its first (or resumed) epoch; returns the last epoch trained and, if
/// `--stop-after` ended the run early, that epoch.
pub fn fit(s: Setup, observers: &mut [&mut dyn Observer]) -> Result<(usize, Option<usize>)> {
    let Setup {
        cfg,
        device,
        hooks,
        estimators,
        measured,
        probe,
        out,
        resume,
        new_lr,
        stop_after,
        stop,
        mut step,
        ..
    } = s;
    let extras = cfg.extras()?;
    let named = step.named_vars();
    let vars = named.iter().map(|(_, v)| v.clone()).collect();
    // A checkpoint holds the parameters and the buffers (batch norm's running statistics).
    let state: Vec<(String, Var)> = named.iter().cloned().chain(step.named_buffers()).collect();
    let mut opt = Optimizer::new(cfg.optim()?, vars)?;
    let seeds = step.seeds().to_vec();
    let epochs = cfg.train.epochs;
    let mut first = 1;
    if let Some(c) = &resume {
        let done = resume::epoch(c, &out)?;
        if done >= epochs {
            bail!(
                "the run in {} already finished all {epochs} epochs of its config (its checkpoint is at epoch {done}); nothing to resume. To train it further give a larger total: probe train --resume {} --epochs N (N > {done}); to draw its figures again: probe plot {}",
                out.display(),
                out.display(),
                out.display()
            );
        }
        let mut r = resume::restore(c, &out, &state, &mut opt)?;
        if new_lr {
            // `--lr`: the learning rate from here on replaces the checkpoint's.
            opt.set_lr(cfg.train.lr)?;
        }
        // The checkpoint is verified (checksums, same config) and restored: what else a resumed
        // run must bring back to the checkpoint's epoch goes here, before the observers see it.
        step.restore_streams(&r.streams)?;
        for o in observers.iter_mut() {
            o.on_resume(&mut r)?;
        }
        first = done + 1;
    }
    let resuming = resume.is_some();
    let info = RunInfo {
        name: &cfg.name,
        out: &out,
        first_epoch: first,
        epochs,
        seeds: &seeds,
        device: crate::device::name(&device),
    };
    for o in observers.iter_mut() {
        o.on_start(&info)?;
    }
    let every = cfg.checkpoint_every();
    let mut last_ckpt = resuming.then_some(first - 1);
    for epoch in first..=epochs {
        let stop_here = stop_after == Some(epoch);
        let checkpoint = (every > 0 && epoch.is_multiple_of(every)) || epoch == epochs || stop_here;
        let result = (|| -> Result<bool> {
            let mut gstats = (cfg.measure.gradients && measured.contains(epoch))
                .then(|| GradStats::new(&named, step.grad_replicas()));
            let e = step.epoch(epoch, &mut opt, gstats.as_mut())?;
            let grads = gstats.as_mut().map(|g| g.finish()).transpose()?;
            let end = EpochEnd {
                epoch,
                seeds: &seeds,
                out: &e,
                gradients: grads.as_deref(),
            };
            for o in observers.iter_mut() {
                o.on_epoch(&end)?;
            }
            if measured.contains(epoch) {
                let layers = step.capture(&probe, &hooks)?;
                for o in observers.iter_mut() {
                    o.on_capture(epoch, &layers)?;
                }
                let (estimates, flows, stats) =
                    measure_replicas(&layers, &probe.samples, &estimators, &extras)?;
                let m = Measured {
                    epoch,
                    seeds: &seeds,
                    estimates: &estimates,
                    flows: &flows,
                    stats: &stats,
                };
                for o in observers.iter_mut() {
                    o.on_measure(&m)?;
                }
            }
            // A signal (the `stop` flag) ends the run after this epoch, with a checkpoint.
            let interrupted = epoch < epochs && stop.as_ref().is_some_and(|s| s.load(SeqCst));
            if checkpoint || interrupted {
                for o in observers.iter_mut() {
                    o.on_checkpoint(epoch)?;
                }
                let marks: Vec<(String, String)> = observers
                    .iter()
                    .flat_map(|o| o.checkpoint_state())
                    .collect();
                resume::write(&out, epoch, &cfg, &state, &opt, &step.streams()?, &marks)?;
            }
            Ok(interrupted)
        })();
        let interrupted = match result {
            Ok(i) => i,
            Err(err) => {
                // Keep what was finished: every observer saves what it has.
                for o in observers.iter_mut() {
                    o.on_stop(Stop::Error { epoch })?;
                }
                return Err(err.context(stopped_message(epoch, &out, last_ckpt)));
            }
        };
        if (checkpoint && epoch < epochs) || stop_here || interrupted {
            last_ckpt = Some(epoch);
        }
        if (stop_here || interrupted) && epoch < epochs {
            for o in observers.iter_mut() {
                o.on_stop(Stop::Asked { epoch })?;
            }
            if interrupted {
                return Err(Error::Interrupted {
                    epoch,
                    epochs,
                    dir: out,
                });
            }
            return Ok((epoch, Some(epoch)));
        }
    }
    let weights = step.weights()?;
    let f = Finished {
        epochs,
        seeds: &seeds,
        weights: &weights,
    };
    for o in observers.iter_mut() {
        o.on_finish(&f)?;
    }
    // The last checkpoint stays: `--resume DIR --epochs N` extends a finished run from it.
    Ok((epochs, None))
}

/// The context of an error that stopped a run at `epoch`: where the results and the last good
/// checkpoint are.
pub fn stopped_message(epoch: usize, out: &Path, last_ckpt: Option<usize>) -> String {
    let ckpt = match last_ckpt {
        Some(e) => format!(
            "; the last good checkpoint (epoch {e}) is {} (continue with probe train --resume {}; after a divergence add a lower learning rate, e.g. --lr 0.0001)",
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

/// What `--stop-after` says when it stops a run before its last epoch.
pub fn stopped_as_asked(epoch: usize, epochs: usize, out: &Path) -> String {
    format!(
        "stopped after epoch {epoch} of {epochs} as asked; continue with: probe train --resume {}",
        out.display()
    )
}
