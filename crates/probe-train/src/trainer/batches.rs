//! Epochs that stop between two batches and continue exactly: [`Batches`] drives an epoch's
//! batch loop (continue a [`Paused`] epoch, stop after a batch when asked), [`Epoch`] says how it
//! ended, and [`begin`] starts an epoch for every trainer of the crate — it draws each shuffle
//! stream's order, or, continuing a paused epoch, restores the streams to the epoch's start and
//! draws the same orders again, and hands back the running sums to continue from.

use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;

use super::{first_non_finite, DeviceData};
use crate::data::Dataset;
use crate::rng;
use crate::{Error, Result};

/// Where an epoch stopped between two batches, with what continues it exactly: given back
/// through [`Batches::resume`], the rest of the epoch draws the same batches, makes the same
/// updates and reports the same loss and accuracy, bit for bit, as the epoch uninterrupted (the
/// model's parameters, optimiser state and other random streams are saved beside it).
#[derive(Clone, Debug, PartialEq)]
pub struct Paused {
    /// The epoch (1-based).
    pub epoch: usize,
    /// Batches finished (at least 1, fewer than the epoch has).
    pub batches: usize,
    /// Per shuffle stream (one per replica): its state when the epoch began, before the epoch's
    /// order was drawn ([`rng::save_state`]).
    pub shuffles: Vec<String>,
    /// The epoch's running sums so far, in the trainer's order (candle: loss, correct; VIB: CE,
    /// KL, correct; ensembles: every replica's loss, then every replica's correct count). f32
    /// sums are held exactly.
    pub sums: Vec<f64>,
}

/// How an epoch's batch loop is driven: from its start or from where it stopped, and whether to
/// stop between batches.
#[derive(Default)]
pub struct Batches<'a> {
    /// The stopped epoch to continue; `None`: a fresh epoch.
    pub resume: Option<Paused>,
    /// Called after every batch but the epoch's last with the number of batches finished;
    /// `true` stops the epoch there ([`Epoch::Paused`]).
    pub stop: Option<&'a mut dyn FnMut(usize) -> bool>,
}

impl Batches<'_> {
    /// Whether to stop after `done` of `total` batches.
    pub(crate) fn stop_after(&mut self, done: usize, total: usize) -> bool {
        done < total && self.stop.as_mut().is_some_and(|f| f(done))
    }
}

/// How an epoch ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Epoch<T> {
    /// It trained all its batches.
    Done(T),
    /// It stopped between two batches ([`Batches::stop`]).
    Paused(Paused),
}

impl<T> Epoch<T> {
    /// The finished epoch's result; an epoch that stopped is an error (for callers that never
    /// stop one).
    pub fn done(self) -> Result<T> {
        match self {
            Epoch::Done(t) => Ok(t),
            Epoch::Paused(p) => Err(Error::invalid(
                "epoch",
                format!("epoch {} stopped after batch {}", p.epoch, p.batches),
            )),
        }
    }
}

/// What an epoch is drawn from: a number of samples.
pub(crate) trait Samples {
    /// The number of samples.
    fn samples(&self) -> usize;
}

impl Samples for DeviceData {
    fn samples(&self) -> usize {
        self.n
    }
}

impl Samples for Dataset {
    fn samples(&self) -> usize {
        self.n
    }
}

/// The start of an epoch, `(orders, first, shuffles, sums)`: its orders (one per shuffle
/// stream), the first batch to train (0, or where a paused epoch stopped), the streams' states
/// before the orders were drawn, and the running sums to start from.
pub(crate) type Begun = (Vec<Vec<u32>>, usize, Vec<String>, Vec<f64>);

impl Batches<'_> {
    /// [`begin`]s epoch `epoch` of `data`'s samples in batches of `batch_size` with `n_sums`
    /// running sums, continuing [`Batches::resume`] if set (taken).
    pub(crate) fn begin(
        &mut self,
        shuffles: &mut [ChaCha8Rng],
        data: &impl Samples,
        batch_size: usize,
        epoch: usize,
        n_sums: usize,
    ) -> Result<Begun> {
        let n = data.samples();
        begin(shuffles, n, batch_size, epoch, self.resume.take(), n_sums)
    }
}

/// What the batch loop of a candle trainer ([`Batches::train`]) left: every trained batch's loss
/// (kept on the device, read back only to name a diverged batch) and where the loop stopped.
pub(crate) struct Trained {
    /// The first batch trained (0, or where a paused epoch stopped).
    first: usize,
    /// The loss of every trained batch, in order: a scalar, or `[N]` per replica.
    losses: Vec<Tensor>,
    /// The batches finished, when the loop stopped before the epoch's end.
    paused: Option<usize>,
}

impl Batches<'_> {
    /// Trains the batches of `data` from batch `first` (of `batch_size` rows) on, stopping
    /// early where [`Batches::stop`] says. Batch b holds rows b·batch_size.. of every order of
    /// `orders`, gathered on the device at once; `step(len, x, y)` trains it (`len` rows per
    /// order) and returns its loss, detached.
    pub(crate) fn train(
        &mut self,
        data: &DeviceData,
        orders: &[Vec<u32>],
        batch_size: usize,
        first: usize,
        mut step: impl FnMut(usize, &Tensor, &Tensor) -> Result<Tensor>,
    ) -> Result<Trained> {
        let device = data.x.device();
        let total = data.n.div_ceil(batch_size);
        let mut losses = Vec::with_capacity(total - first);
        let mut idx = Vec::with_capacity(orders.len() * batch_size);
        let (mut start, mut done) = (first * batch_size, first);
        let mut paused = None;
        while start < data.n {
            let len = batch_size.min(data.n - start);
            idx.clear();
            for o in orders {
                idx.extend_from_slice(&o[start..start + len]);
            }
            let idx_t = Tensor::from_slice(&idx, idx.len(), device)?;
            let x = data.x.index_select(&idx_t, 0)?;
            let y = data.y.index_select(&idx_t, 0)?;
            losses.push(step(len, &x, &y)?);
            start += len;
            done += 1;
            if self.stop_after(done, total) {
                paused = Some(done);
                break;
            }
        }
        Ok(Trained {
            first,
            losses,
            paused,
        })
    }
}

impl Trained {
    /// [`Error::Diverged`] for epoch `epoch`, whose loss is not finite: the first batch (1-based)
    /// whose loss is not, with that loss, or batch 0 with the epoch's `loss` when every batch's
    /// is finite.
    pub(crate) fn diverged(&self, epoch: usize, loss: f64) -> Result<Error> {
        let (batch, loss) = self.first_bad(None)?.unwrap_or((0, loss));
        Ok(Error::Diverged { epoch, batch, loss })
    }

    /// The first batch (1-based, counting the epoch's batches) whose loss is not finite, with
    /// that loss: of any replica, or of replica `replica` when given; `None` when all are.
    pub(crate) fn first_bad(&self, replica: Option<usize>) -> Result<Option<(usize, f64)>> {
        let bad = match replica {
            None => first_non_finite(&self.losses)?,
            Some(r) => {
                let of_r: Vec<Tensor> = self
                    .losses
                    .iter()
                    .map(|l| l.get(r))
                    .collect::<candle_core::Result<_>>()?;
                first_non_finite(&of_r)?
            }
        };
        Ok(bad.map(|(b, l)| (self.first + b, l)))
    }

    /// How the epoch ended: [`Epoch::Paused`] with the streams' states `shuffles` and the
    /// running `sums` when the loop stopped early, else `done`.
    pub(crate) fn end<T>(
        self,
        epoch: usize,
        shuffles: Vec<String>,
        sums: Vec<f64>,
        done: T,
    ) -> Epoch<T> {
        match self.paused {
            Some(batches) => Epoch::Paused(Paused {
                epoch,
                batches,
                shuffles,
                sums,
            }),
            None => Epoch::Done(done),
        }
    }
}

/// Begins epoch `epoch` of `n` samples in batches of `batch_size` with `n_sums` running sums:
/// draws each stream's order, or, continuing `resume`, restores the streams to the epoch's
/// start and draws the same orders again.
fn begin(
    shuffles: &mut [ChaCha8Rng],
    n: usize,
    batch_size: usize,
    epoch: usize,
    resume: Option<Paused>,
    n_sums: usize,
) -> Result<Begun> {
    let total = n.div_ceil(batch_size.max(1));
    let (first, sums) = match resume {
        None => (0, vec![0.0; n_sums]),
        Some(p) => {
            let bad = |why: String| Error::invalid("checkpoint paused epoch", why);
            if p.epoch != epoch {
                return Err(bad(format!(
                    "it stopped in epoch {}, the run continues at epoch {epoch}",
                    p.epoch
                )));
            }
            if p.shuffles.len() != shuffles.len() || p.sums.len() != n_sums {
                return Err(bad(format!(
                    "{} shuffle streams and {} sums saved, this trainer has {} and {n_sums}",
                    p.shuffles.len(),
                    p.sums.len(),
                    shuffles.len()
                )));
            }
            if p.batches == 0 || p.batches >= total {
                return Err(bad(format!(
                    "{} batches finished of an epoch of {total}",
                    p.batches
                )));
            }
            for (s, text) in shuffles.iter_mut().zip(&p.shuffles) {
                *s = rng::restore_state(text, "checkpoint paused epoch's shuffle stream")?;
            }
            (p.batches, p.sums)
        }
    };
    let states = shuffles.iter().map(rng::save_state).collect();
    let orders = shuffles
        .iter_mut()
        .map(|s| rng::permutation(s, n))
        .collect();
    Ok((orders, first, states, sums))
}
