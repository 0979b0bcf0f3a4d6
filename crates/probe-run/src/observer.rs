//! What a run tells the world while it trains: the [`Observer`] trait and its events.
//!
//! The fit loop ([`crate::fit`]) calls every observer, in order, at each point of a run: start,
//! each epoch's losses, each measurement's captured activations and estimates, each checkpoint,
//! and the end (finished, or stopped by an error or `--stop-after`). The run directory's writer
//! ([`crate::rundir::RunDirWriter`]: CSVs, dumps, plots, final weights) is one observer, the CLI's
//! progress bar another, a Python callback a third; none of them changes what is trained or
//! measured. Every method has an empty default.

use candle_core::Tensor;
use probe_estimators::{Estimate, Flow, Stats};
use probe_train::gradients::LayerGrad;

use crate::error::Result;
use crate::resume::Restored;
use crate::step::EpochOut;

/// The run as it starts (or continues).
#[derive(Clone, Copy, Debug)]
pub struct RunInfo<'a> {
    /// The run's name (`name` of the config).
    pub name: &'a str,
    /// The run directory.
    pub out: &'a std::path::Path,
    /// The first epoch this process trains (> 1 when resuming).
    pub first_epoch: usize,
    /// The last epoch of the run (`train.epochs`).
    pub epochs: usize,
    /// The seeds trained (one for a single model).
    pub seeds: &'a [u64],
    /// `cpu` or `cuda`.
    pub device: &'a str,
}

/// One finished epoch.
#[derive(Clone, Copy, Debug)]
pub struct EpochEnd<'a> {
    /// The epoch (1-based).
    pub epoch: usize,
    /// The seeds, in replica order.
    pub seeds: &'a [u64],
    /// Losses and accuracies per replica (and a VIB's terms).
    pub out: &'a EpochOut,
    /// With `measure.gradients` on a measured epoch: the gradient statistics of every layer.
    pub gradients: Option<&'a [LayerGrad]>,
}

/// One measured epoch's results, in bits.
#[derive(Clone, Copy, Debug)]
pub struct Measured<'a> {
    /// The epoch.
    pub epoch: usize,
    /// The seeds, in replica order.
    pub seeds: &'a [u64],
    /// Per replica: one estimate per (layer, estimator), layers outermost.
    pub estimates: &'a [Vec<Estimate>],
    /// Layer-to-layer information (single-model runs with `measure.flow`).
    pub flows: &'a [Flow],
    /// Per-layer activation statistics (single-model runs with `measure.stats`).
    pub stats: &'a [Stats],
}

/// Why a run ended before its last epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// An error (divergence, a failed write, …) during this epoch; nothing of it is recorded.
    Error {
        /// The epoch that failed.
        epoch: usize,
    },
    /// `--stop-after` after this epoch (a checkpoint was written).
    Asked {
        /// The last epoch trained.
        epoch: usize,
    },
    /// A signal (the stop flag) after this epoch, or inside the next one between two batches (a
    /// checkpoint was written; the run returns [`crate::Error::Interrupted`], which says how to
    /// resume).
    Signal {
        /// The last epoch finished.
        epoch: usize,
    },
}

/// The end of a run that trained all its epochs.
#[derive(Clone, Copy, Debug)]
pub struct Finished<'a> {
    /// `train.epochs`.
    pub epochs: usize,
    /// The seeds.
    pub seeds: &'a [u64],
    /// The final weights as safetensors bytes, per replica in seed order.
    pub weights: &'a [Vec<u8>],
}

/// Something that follows a run. Errors returned by an observer stop the run like a training
/// error (the other observers still see [`Observer::on_stop`]).
pub trait Observer {
    /// The run starts (after any resume).
    fn on_start(&mut self, _run: &RunInfo) -> Result<()> {
        Ok(())
    }
    /// Continues from the state this observer saved in a checkpoint ([`Observer::checkpoint_state`]),
    /// taking its entries out of `restored.state`.
    fn on_resume(&mut self, _restored: &mut Restored) -> Result<()> {
        Ok(())
    }
    /// `batches` batches of `epoch` are trained (called between batches, not after an epoch's
    /// last one, so it must be cheap): the place to look for a stop request (Python's Ctrl-C) or
    /// to set [`crate::TrainOptions::stop`] from a test. Not called on epochs that collect
    /// gradient statistics, which end whole.
    fn on_batch(&mut self, _epoch: usize, _batches: usize) {}
    /// An epoch finished training and evaluation.
    fn on_epoch(&mut self, _e: &EpochEnd) -> Result<()> {
        Ok(())
    }
    /// The activations of a measured epoch were captured (per replica: `(hook, [n, features])`).
    /// Told before the epoch's `on_measure` and after every event of earlier epochs (while
    /// earlier measurements are in flight, its estimators may already be running).
    fn on_capture(&mut self, _epoch: usize, _layers: &[Vec<(String, Tensor)>]) -> Result<()> {
        Ok(())
    }
    /// A measured epoch's estimates.
    fn on_measure(&mut self, _m: &Measured) -> Result<()> {
        Ok(())
    }
    /// A checkpoint of `epoch` is about to be written.
    fn on_checkpoint(&mut self, _epoch: usize) -> Result<()> {
        Ok(())
    }
    /// Short text values (key, value) this observer keeps in a checkpoint, given back to
    /// [`Observer::on_resume`]; called right after [`Observer::on_checkpoint`]. Keys are shared
    /// by all observers. The run directory's writer keeps each table's row and byte counts here,
    /// never the tables.
    fn checkpoint_state(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// The run ends early; everything finished so far should be kept.
    fn on_stop(&mut self, _stop: Stop) -> Result<()> {
        Ok(())
    }
    /// The run trained all its epochs.
    fn on_finish(&mut self, _f: &Finished) -> Result<()> {
        Ok(())
    }
}
