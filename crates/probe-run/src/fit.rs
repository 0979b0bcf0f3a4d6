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
//! The estimators of a measured epoch run on a background thread while the next epochs train
//! ([`overlap`]: the activations are captured first; the observers see the same events in the same
//! order, so every file is the same as when training waits for each measurement).
//!
//! A signal (the stop flag) is looked at between batches: the epoch stops after the batch it is
//! in and the checkpoint records where (`resume`'s `paused.*`), so that a resumed run continues
//! that epoch at its next batch and ends byte-identical to the run uninterrupted. Epochs that
//! collect gradient statistics (`measure.gradients` on a measured epoch) end whole first.
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
use probe_train::trainer::{Batches, Epoch};

use std::sync::atomic::Ordering::SeqCst;

use crate::error::{bail, Error, Result};
use crate::observer::{Finished, Observer, RunInfo, Stop};
use crate::resume;
use crate::rundir::writer::{RunDirWriter, WriterSpec};
use crate::setup::{setup, Setup, TrainOptions};
use crate::step::EpochArgs;

pub mod overlap;
pub use overlap::Overlap;
use overlap::Pipeline;

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
/// `observers` (after the run directory's writer) what happens. Measures while training unless
/// `PROBE_OVERLAP_MEASURE=0` ([`Overlap::from_env`]).
pub fn train(opts: &TrainOptions, observers: &mut [&mut dyn Observer]) -> Result<RunOutcome> {
    train_with(opts, observers, Overlap::from_env()?)
}

/// [`train`] with the measurement overlapping training or not, whatever the environment says.
pub fn train_with(
    opts: &TrainOptions,
    observers: &mut [&mut dyn Observer],
    overlap: Overlap,
) -> Result<RunOutcome> {
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
        fit_with(s, &mut all, overlap)?
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
/// `--stop-after` ended the run early, that epoch. Measures while training unless
/// `PROBE_OVERLAP_MEASURE=0` ([`Overlap::from_env`]).
pub fn fit(s: Setup, observers: &mut [&mut dyn Observer]) -> Result<(usize, Option<usize>)> {
    fit_with(s, observers, Overlap::from_env()?)
}

/// [`fit`] with the measurement overlapping training or not.
pub fn fit_with(
    s: Setup,
    observers: &mut [&mut dyn Observer],
    overlap: Overlap,
) -> Result<(usize, Option<usize>)> {
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
    let mut paused = None;
    if let Some(c) = &resume {
        let done = resume::epoch(c, &out)?;
        // A run whose final files were not all written (a full disk at its end) is finished
        // again from its last checkpoint: the same weights and figures, nothing trained.
        if done >= epochs && resume::final_files_written(&out, &seeds) {
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
        paused = r.paused.take();
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
    let mut pipe = Pipeline::new(overlap, &seeds, &probe.samples, &estimators, &extras);
    let mut last_ckpt = resuming.then_some(first - 1);
    for epoch in first..=epochs {
        let stop_here = stop_after == Some(epoch);
        let checkpoint = (every > 0 && epoch.is_multiple_of(every)) || epoch == epochs || stop_here;
        let result = (|| -> Result<Ended> {
            let mut gstats = (cfg.measure.gradients && measured.contains(epoch))
                .then(|| GradStats::new(&named, step.grad_replicas()));
            let resumed = paused.take();
            if let (Some(p), Some(_)) = (&resumed, &gstats) {
                bail!(
                    "the checkpoint stopped epoch {epoch} after {} of its batches, and with the epochs given this epoch is measured with `measure.gradients`, whose statistics need every batch of it; resume with the run's epochs (or another --epochs)",
                    p.batches
                );
            }
            // Between batches: the observers, then the stop flag (a signal), unless the epoch
            // collects gradient statistics and must end whole.
            let whole = gstats.is_some();
            let mut between = |batches: usize| {
                for o in observers.iter_mut() {
                    o.on_batch(epoch, batches);
                }
                !whole && stop.as_ref().is_some_and(|s| s.load(SeqCst))
            };
            let ctl = Batches {
                resume: resumed,
                stop: Some(&mut between),
            };
            let args = EpochArgs {
                epoch,
                opt: &mut opt,
                grads: gstats.as_mut(),
                ctl,
            };
            let e = match step.epoch(args)? {
                Epoch::Done(e) => e,
                Epoch::Paused(p) => {
                    // Tables and marks are those of the last finished epoch; the checkpoint
                    // adds where this one stopped.
                    pipe.settle(observers)?;
                    for o in observers.iter_mut() {
                        o.on_checkpoint(epoch - 1)?;
                    }
                    let marks: Vec<(String, String)> = observers
                        .iter()
                        .flat_map(|o| o.checkpoint_state())
                        .collect();
                    let streams = step.streams()?;
                    resume::write(
                        &out,
                        epoch - 1,
                        &cfg,
                        &state,
                        &opt,
                        &streams,
                        &marks,
                        Some(&p),
                    )?;
                    return Ok(Ended::Paused(p.batches));
                }
            };
            let grads = gstats.as_mut().map(|g| g.finish()).transpose()?;
            pipe.epoch(observers, epoch, e, grads)?;
            if measured.contains(epoch) {
                let layers = step.capture(&probe, &hooks)?;
                pipe.measure(observers, epoch, layers)?;
            }
            // A signal during the epoch's last batch or its measurement ends the run after this
            // epoch, with a checkpoint.
            let interrupted = epoch < epochs && stop.as_ref().is_some_and(|s| s.load(SeqCst));
            if checkpoint || interrupted {
                pipe.settle(observers)?;
                for o in observers.iter_mut() {
                    o.on_checkpoint(epoch)?;
                }
                let marks: Vec<(String, String)> = observers
                    .iter()
                    .flat_map(|o| o.checkpoint_state())
                    .collect();
                resume::write(
                    &out,
                    epoch,
                    &cfg,
                    &state,
                    &opt,
                    &step.streams()?,
                    &marks,
                    None,
                )?;
            }
            Ok(Ended::Epoch { interrupted })
        })();
        let interrupted = match result {
            Ok(Ended::Epoch { interrupted }) => interrupted,
            Ok(Ended::Paused(batches)) => {
                for o in observers.iter_mut() {
                    o.on_stop(Stop::Signal { epoch: epoch - 1 })?;
                }
                return Err(Error::Interrupted {
                    epoch: epoch - 1,
                    batches: Some(batches),
                    epochs,
                    dir: out,
                });
            }
            Err(err) => {
                // Keep what was finished: every observer saves what it has. A failure to do so
                // (the disk that failed the epoch is still full) must not hide why the run
                // stopped and where its checkpoint is. A failed measurement or epoch told late
                // stops the run at its own epoch, as without overlap.
                let (epoch, err) = pipe.failed(observers, epoch, err);
                let mut context = stopped_message(epoch, &out, last_ckpt);
                let cause = err.chain();
                for o in observers.iter_mut() {
                    if let Err(e) = o.on_stop(Stop::Error { epoch }) {
                        // The same failure again (the same full file) is said once, below.
                        let again = e.chain();
                        context.push_str(&match again == cause {
                            true => {
                                " (saving on the way out failed too, for the same reason)".into()
                            }
                            false => format!(" (saving on the way out failed too: {again})"),
                        });
                    }
                }
                return Err(err.context(context));
            }
        };
        if (checkpoint && epoch < epochs) || stop_here || interrupted {
            last_ckpt = Some(epoch);
        }
        if (stop_here || interrupted) && epoch < epochs {
            let why = match interrupted {
                true => Stop::Signal { epoch },
                false => Stop::Asked { epoch },
            };
            pipe.settle(observers)?;
            for o in observers.iter_mut() {
                o.on_stop(why)?;
            }
            if interrupted {
                return Err(Error::Interrupted {
                    epoch,
                    batches: None,
                    epochs,
                    dir: out,
                });
            }
            return Ok((epoch, Some(epoch)));
        }
    }
    // Every measurement was delivered at the last epoch's checkpoint.
    pipe.settle(observers)?;
    let weights = step.weights()?;
    let f = Finished {
        epochs,
        seeds: &seeds,
        weights: &weights,
    };
    for o in observers.iter_mut() {
        o.on_finish(&f).map_err(|e| {
            e.context(format!(
                "the run trained all {epochs} epochs and its tables and checkpoint are in {}, but writing its final weights or figures failed; once the cause is fixed (e.g. space freed), probe train --resume {} writes the missing weights and figures",
                out.display(),
                out.display()
            ))
        })?;
    }
    // The last checkpoint stays: `--resume DIR --epochs N` extends a finished run from it.
    Ok((epochs, None))
}

/// How an epoch of the loop ended.
enum Ended {
    /// It finished (and was measured and checkpointed as scheduled); `interrupted`: a signal
    /// arrived, so the run stops after it with a checkpoint.
    Epoch { interrupted: bool },
    /// A signal stopped it after this many batches; the checkpoint records where.
    Paused(usize),
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
