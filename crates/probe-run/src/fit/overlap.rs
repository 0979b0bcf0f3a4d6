//! Measurement overlapping training: a measured epoch's activations are captured in the training
//! thread (before the weights change), then [`measure_replicas`] runs on a background thread while
//! the next epochs train.
//!
//! The observers still see exactly the events of a run that measures in the training thread,
//! in the same order: while a measurement is in flight, the `on_epoch` of the epochs trained
//! after it are held back (their losses are a few numbers per replica) and told right after its
//! `on_measure`; a measurement captured while another is in flight has its `on_capture` held
//! back too, and told just before its own `on_measure`. Measurements are delivered in epoch
//! order (each waited for, if need be): as soon as the oldest is found finished after an epoch,
//! before every checkpoint (whose table marks then include every measurement up to its epoch),
//! before a stop of any kind and at the end. Every output file is therefore byte-identical with
//! and without overlap; only the timing changes.
//!
//! Up to [`MAX_IN_FLIGHT`] measurements run at once, so that when one epoch trains much faster
//! than it is measured (small networks measured every epoch) the measurements of consecutive
//! epochs keep every core busy instead of waiting for each other's sequential parts. A second
//! one starts only while the activations held by those in flight stay within [`HELD_BYTES`]
//! (large captures are measured one at a time, as their estimators are parallel enough).
//!
//! Layers on a CUDA device are always measured in the training thread (the device is shared).
//! `PROBE_OVERLAP_MEASURE=0` in the environment turns the overlap off for a run (for
//! benchmarks and tests; [`Overlap::from_env`]).
//!
//! ```
//! use probe_run::fit::Overlap;
//! assert_eq!(Overlap::parse(Some("0")).unwrap(), Overlap::Off);
//! assert_eq!(Overlap::parse(None).unwrap(), Overlap::On);
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use candle_core::Tensor;
use probe_estimators::{ExtrasSpec, NamedEstimator, Samples};
use probe_train::gradients::LayerGrad;

use crate::error::{invalid, Context, Error, Result};
use crate::measure::{measure_replicas, Measurement};
use crate::observer::{EpochEnd, Measured, Observer};
use crate::step::EpochOut;

/// Whether a run measures in the background while it trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Overlap {
    /// Measure in the training thread; training waits for each measurement.
    Off,
    /// Measure host (CPU) layers on a background thread while the next epochs train (the
    /// default).
    On,
}

impl Overlap {
    /// The environment variable read by [`Overlap::from_env`].
    pub const ENV: &'static str = "PROBE_OVERLAP_MEASURE";

    /// `PROBE_OVERLAP_MEASURE`: unset, `1` or `on` → [`Overlap::On`]; `0` or `off` →
    /// [`Overlap::Off`]; anything else is an error naming the variable and the value.
    pub fn from_env() -> Result<Self> {
        match std::env::var_os(Self::ENV) {
            None => Ok(Self::On),
            Some(v) => match v.to_str() {
                Some(s) => Self::parse(Some(s)),
                None => Err(invalid!(
                    "environment variable {}={v:?} is not valid text: expected 0 (measure in the training thread) or 1 (measure while training, the default)",
                    Self::ENV
                )),
            },
        }
    }

    /// [`Overlap::from_env`] of the value `v` (`None`: unset).
    pub fn parse(v: Option<&str>) -> Result<Self> {
        match v.map(str::trim) {
            None | Some("1") | Some("on") => Ok(Self::On),
            Some("0") | Some("off") => Ok(Self::Off),
            Some(other) => Err(invalid!(
                "environment variable {}={other:?}: expected 0 (measure in the training thread) or 1 (measure while training, the default)",
                Self::ENV
            )),
        }
    }
}

/// The most measurements in flight at once.
pub const MAX_IN_FLIGHT: usize = 2;

/// The most activation bytes the measurements in flight may hold together before a new one
/// waits for the oldest (one is always allowed, whatever its size).
pub const HELD_BYTES: usize = 256 << 20;

/// The pool the background measurements run their parallel jobs on: as many threads as rayon's
/// global pool, apart from it, so that the training thread's own parallel work (the next
/// capture's ops, candle's products) never waits in a queue behind a measurement's jobs. `None`
/// if its threads cannot be started; the measurements then share the global pool.
fn measure_pool() -> Option<&'static rayon::ThreadPool> {
    static POOL: OnceLock<Option<rayon::ThreadPool>> = OnceLock::new();
    POOL.get_or_init(|| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .thread_name(|i| format!("probe-measure-pool-{i}"))
            .build()
            .ok()
    })
    .as_ref()
}

/// What every measurement reads besides the activations.
struct Inputs {
    samples: Samples,
    estimators: Vec<NamedEstimator>,
    extras: ExtrasSpec,
}

/// A measurement in flight and the epochs finished after it.
struct Pending {
    epoch: usize,
    job: JoinHandle<Result<Measurement>>,
    later: Vec<Later>,
    /// The activations, while their `on_capture` is held back (captured while an earlier
    /// measurement was in flight).
    capture: Option<Vec<Vec<(String, Tensor)>>>,
    /// Bytes of the activations the job holds.
    bytes: usize,
}

/// An epoch whose `on_epoch` waits for a measurement in flight.
struct Later {
    epoch: usize,
    out: EpochOut,
    gradients: Option<Vec<LayerGrad>>,
}

/// Tells the observers of epochs and measurements in the order of a run without overlap.
pub(super) struct Pipeline {
    inputs: Arc<Inputs>,
    seeds: Vec<u64>,
    overlap: Overlap,
    /// The measurements in flight, oldest first.
    pending: VecDeque<Pending>,
    /// The epoch whose event failed, once one did (the run stops there).
    failed: Option<usize>,
}

impl Pipeline {
    pub(super) fn new(
        overlap: Overlap,
        seeds: &[u64],
        samples: &Samples,
        estimators: &[NamedEstimator],
        extras: &ExtrasSpec,
    ) -> Self {
        Self {
            inputs: Arc::new(Inputs {
                samples: samples.clone(),
                estimators: estimators.to_vec(),
                extras: extras.clone(),
            }),
            seeds: seeds.to_vec(),
            overlap,
            pending: VecDeque::new(),
            failed: None,
        }
    }

    /// Epoch `epoch` finished: its `on_epoch` now, or after the measurements in flight.
    pub(super) fn epoch(
        &mut self,
        observers: &mut [&mut dyn Observer],
        epoch: usize,
        out: EpochOut,
        gradients: Option<Vec<LayerGrad>>,
    ) -> Result<()> {
        self.deliver_finished(observers)?;
        let later = Later {
            epoch,
            out,
            gradients,
        };
        match self.pending.back_mut() {
            Some(p) => {
                p.later.push(later);
                Ok(())
            }
            None => self.tell_epoch(observers, &later),
        }
    }

    /// The activations `layers` of measured epoch `epoch` were captured (after its
    /// [`Pipeline::epoch`]): tells `on_capture` (held back while an earlier measurement is in
    /// flight) and measures them, in the background when overlapping and every layer is in host
    /// memory (first waiting for the oldest measurement while [`MAX_IN_FLIGHT`] run or the
    /// activations held would pass [`HELD_BYTES`]).
    pub(super) fn measure(
        &mut self,
        observers: &mut [&mut dyn Observer],
        epoch: usize,
        layers: Vec<Vec<(String, Tensor)>>,
    ) -> Result<()> {
        let host = layers.iter().flatten().all(|(_, t)| t.device().is_cpu());
        if self.overlap == Overlap::Off || !host {
            self.settle(observers)?;
            self.tell_capture(observers, epoch, &layers)?;
            let i = &self.inputs;
            let m = measure_replicas(&layers, &i.samples, &i.estimators, &i.extras)
                .map_err(|e| self.fail(epoch, e))?;
            return self.tell_measure(observers, epoch, &m);
        }
        let bytes: usize = layers
            .iter()
            .flatten()
            .map(|(_, t)| t.elem_count() * t.dtype().size_in_bytes())
            .sum();
        self.deliver_finished(observers)?;
        while !self.pending.is_empty()
            && (self.pending.len() >= MAX_IN_FLIGHT
                || self.pending.iter().map(|p| p.bytes).sum::<usize>() + bytes > HELD_BYTES)
        {
            self.settle_oldest(observers)?;
        }
        let capture = match self.pending.is_empty() {
            true => {
                self.tell_capture(observers, epoch, &layers)?;
                None
            }
            // Tensors are shared, not copied.
            false => Some(layers.clone()),
        };
        let inputs = Arc::clone(&self.inputs);
        let job = std::thread::Builder::new()
            .name(format!("probe-measure-{epoch}"))
            .spawn(move || {
                let i = &*inputs;
                let run = || measure_replicas(&layers, &i.samples, &i.estimators, &i.extras);
                match measure_pool() {
                    Some(pool) => pool.install(run),
                    None => run(),
                }
            })
            .with_context(|| format!("starting the measurement of epoch {epoch}"))
            .map_err(|e| self.fail(epoch, e))?;
        self.pending.push_back(Pending {
            epoch,
            job,
            later: Vec::new(),
            capture,
            bytes,
        });
        Ok(())
    }

    /// Waits for every measurement in flight, oldest first, and tells its events (see
    /// [`Pipeline::settle_oldest`]). Called before every checkpoint, stop and the end of a run.
    pub(super) fn settle(&mut self, observers: &mut [&mut dyn Observer]) -> Result<()> {
        while !self.pending.is_empty() {
            self.settle_oldest(observers)?;
        }
        Ok(())
    }

    /// Delivers the measurements in flight that have finished, oldest first, up to the first
    /// that has not.
    fn deliver_finished(&mut self, observers: &mut [&mut dyn Observer]) -> Result<()> {
        while self.pending.front().is_some_and(|p| p.job.is_finished()) {
            self.settle_oldest(observers)?;
        }
        Ok(())
    }

    /// Waits for the oldest measurement in flight, if any, and tells its held-back
    /// `on_capture`, its `on_measure`, then the held-back `on_epoch`s.
    fn settle_oldest(&mut self, observers: &mut [&mut dyn Observer]) -> Result<()> {
        let Some(p) = self.pending.pop_front() else {
            return Ok(());
        };
        if let Some(layers) = &p.capture {
            self.tell_capture(observers, p.epoch, layers)?;
        }
        let m = match p.job.join() {
            Ok(m) => m.map_err(|e| self.fail(p.epoch, e))?,
            // A panic in the measurement is the panic a measurement in this thread would raise.
            Err(panic) => std::panic::resume_unwind(panic),
        };
        self.tell_measure(observers, p.epoch, &m)?;
        for l in &p.later {
            self.tell_epoch(observers, l)?;
        }
        Ok(())
    }

    /// The run failed at `epoch` with `err`: delivers what finished before (unless an event of
    /// the pipeline is what failed) and returns the epoch the run stops at, with its error. A
    /// measurement or held-back epoch that fails now is the earlier failure, the one a run
    /// without overlap would have stopped at.
    pub(super) fn failed(
        &mut self,
        observers: &mut [&mut dyn Observer],
        epoch: usize,
        err: Error,
    ) -> (usize, Error) {
        if let Some(at) = self.failed {
            self.pending.clear();
            return (at, err);
        }
        match self.settle(observers) {
            Ok(()) => (epoch, err),
            Err(e) => (self.failed.unwrap_or(epoch), e),
        }
    }

    fn fail(&mut self, epoch: usize, err: Error) -> Error {
        self.failed.get_or_insert(epoch);
        // What was in flight belongs to a run that stops here.
        self.pending.clear();
        err
    }

    fn tell_capture(
        &mut self,
        observers: &mut [&mut dyn Observer],
        epoch: usize,
        layers: &[Vec<(String, Tensor)>],
    ) -> Result<()> {
        for o in observers.iter_mut() {
            if let Err(e) = o.on_capture(epoch, layers) {
                return Err(self.fail(epoch, e));
            }
        }
        Ok(())
    }

    fn tell_epoch(&mut self, observers: &mut [&mut dyn Observer], l: &Later) -> Result<()> {
        let end = EpochEnd {
            epoch: l.epoch,
            seeds: &self.seeds,
            out: &l.out,
            gradients: l.gradients.as_deref(),
        };
        for o in observers.iter_mut() {
            if let Err(e) = o.on_epoch(&end) {
                return Err(self.fail(l.epoch, e));
            }
        }
        Ok(())
    }

    fn tell_measure(
        &mut self,
        observers: &mut [&mut dyn Observer],
        epoch: usize,
        (estimates, flows, stats): &Measurement,
    ) -> Result<()> {
        let m = Measured {
            epoch,
            seeds: &self.seeds,
            estimates,
            flows,
            stats,
        };
        for o in observers.iter_mut() {
            if let Err(e) = o.on_measure(&m) {
                return Err(self.fail(epoch, e));
            }
        }
        Ok(())
    }
}
