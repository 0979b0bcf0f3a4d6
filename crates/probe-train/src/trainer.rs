//! The training loop: seeded shuffling, mini-batch steps with cross-entropy, and evaluation.
//!
//! Data sit on the model's device as whole tensors (`x` `[n, d]` f32, `y` `[n]` u32); each batch is
//! gathered on the device with `index_select`, so only the shuffled indices move per step. Loss and
//! accuracy are accumulated on the device and read back once per epoch. The shuffle stream's
//! position can be saved and restored ([`Trainer::shuffle_state`]), so a resumed run draws the same
//! orders as an uninterrupted one; [`Trainer::epoch_with`] can also feed every mini-batch's
//! gradients to a [`GradStats`].
//!
//! An epoch can stop between two batches (a signal: [`Batches::stop`]) and later continue
//! exactly ([`Batches::resume`]): [`Paused`] holds the shuffle streams' states from before the
//! epoch's order was drawn (so the same order is drawn again), the number of batches finished
//! and the epoch's running sums; every trainer of the crate (candle, fused, VIB, ensembles)
//! takes a [`Batches`] in its `*_ctl` epoch.

use candle_core::{DType, Device, Tensor, Var, D};
use rand_chacha::ChaCha8Rng;
use std::slice::from_mut;

use crate::data::Dataset;
use crate::fused::FusedMlp;
use crate::gradients::GradStats;
use crate::model::Model;
use crate::optim::Optimizer;
use crate::rng::{self, Stream};
use crate::{Error, Result};

mod batches;
pub use batches::{Batches, Epoch, Paused};

/// A data set resident on a device.
#[derive(Clone, Debug)]
pub struct DeviceData {
    /// Features `[n, d]`, f32.
    pub x: Tensor,
    /// Labels `[n]`, u32.
    pub y: Tensor,
    /// Number of samples.
    pub n: usize,
}

impl DeviceData {
    /// The samples in order, in chunks of `chunk` (at least 1; the last may be shorter):
    /// `(len, x [len, d], y [len])`.
    pub fn chunks(
        &self,
        chunk: usize,
    ) -> impl Iterator<Item = Result<(usize, Tensor, Tensor)>> + '_ {
        let chunk = chunk.max(1);
        (0..self.n).step_by(chunk).map(move |start| {
            let len = chunk.min(self.n - start);
            Ok((
                len,
                self.x.narrow(0, start, len)?,
                self.y.narrow(0, start, len)?,
            ))
        })
    }

    /// Copies `ds` to `device` once.
    pub fn new(ds: &Dataset, device: &Device) -> Result<Self> {
        let x = Tensor::from_slice(&ds.x, (ds.n, ds.d), device)?;
        let y = Tensor::from_slice(&ds.y, ds.n, device)?;
        Ok(Self { x, y, n: ds.n })
    }
}

/// Mean loss and accuracy over a set of samples.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LossAcc {
    /// Mean cross-entropy, in nats (as PyTorch reports it).
    pub loss: f64,
    /// Fraction of samples whose arg-max logit is the label.
    pub acc: f64,
}

/// Checks `train.batch_size` (at least 1).
pub(crate) fn check_batch_size(batch_size: usize) -> Result<()> {
    if batch_size == 0 {
        return Err(Error::invalid(
            "train.batch_size",
            "0; expected a batch size of at least 1",
        ));
    }
    Ok(())
}

/// Runs training epochs with a fixed batch size and a seeded shuffle stream.
#[derive(Debug)]
pub struct Trainer {
    batch_size: usize,
    shuffle: ChaCha8Rng,
}

impl Trainer {
    /// A trainer whose per-epoch shuffles come from the `Shuffle` stream of `seed`.
    pub fn new(batch_size: usize, seed: u64) -> Result<Self> {
        check_batch_size(batch_size)?;
        Ok(Self {
            batch_size,
            shuffle: rng::stream(seed, Stream::Shuffle),
        })
    }

    /// The shuffle stream's state (see [`rng::save_state`]), for a checkpoint.
    pub fn shuffle_state(&self) -> String {
        rng::save_state(&self.shuffle)
    }

    /// Continues the shuffle stream from a state saved by [`Trainer::shuffle_state`].
    pub fn restore_shuffle_state(&mut self, state: &str) -> Result<()> {
        self.shuffle = rng::restore_state(state, "checkpoint shuffle stream")?;
        Ok(())
    }

    /// One epoch over `data` in a fresh random order (the last batch may be smaller). Returns the
    /// sample-weighted mean of the batch losses and the accuracy of the batches' predictions, as
    /// measured during the epoch. A NaN or infinite loss is [`Error::Diverged`].
    pub fn epoch(
        &mut self,
        epoch: usize,
        model: &dyn Model,
        opt: &mut Optimizer,
        data: &DeviceData,
    ) -> Result<LossAcc> {
        self.epoch_with(epoch, model, opt, data, None)
    }

    /// [`Trainer::epoch`], also adding every mini-batch's gradients to `grads` when given.
    pub fn epoch_with(
        &mut self,
        epoch: usize,
        model: &dyn Model,
        opt: &mut Optimizer,
        data: &DeviceData,
        grads: Option<&mut GradStats>,
    ) -> Result<LossAcc> {
        self.epoch_ctl(epoch, model, opt, data, grads, Batches::default())?
            .done()
    }

    /// [`Trainer::epoch_with`], continuing a paused epoch or stopping between batches as
    /// `ctl` says (sums: loss, correct).
    pub fn epoch_ctl(
        &mut self,
        epoch: usize,
        model: &dyn Model,
        opt: &mut Optimizer,
        data: &DeviceData,
        mut grads: Option<&mut GradStats>,
        mut ctl: Batches,
    ) -> Result<Epoch<LossAcc>> {
        let device = data.x.device();
        let begun = ctl.begin(from_mut(&mut self.shuffle), data, self.batch_size, epoch, 2)?;
        let (orders, first, shuffles, sums) = begun;
        // Dropout and batch norm train during the epoch; the model is left in evaluation mode.
        model.set_training(true);
        let mut loss_sum = Tensor::new(sums[0] as f32, device)?;
        let mut correct = Tensor::new(sums[1] as f32, device)?;
        // Each batch's step runs on one of rayon's workers (`threads::on_pool`); the loop and
        // `ctl`'s callbacks stay on this thread (Python runs its signal handlers only on the
        // main thread).
        let trained = ctl.train(data, &orders, self.batch_size, first, |len, x, y| {
            crate::threads::on_pool(|| {
                let logits = model.forward(x, None)?;
                let loss = candle_nn::loss::cross_entropy(&logits, y)?;
                backward_step(&loss, grads.as_deref_mut(), opt)?;
                loss_sum = (&loss_sum + (loss.detach() * len as f64)?)?;
                correct = (&correct + count_correct(&logits.detach(), y)?)?;
                Ok(loss.detach())
            })
        })?;
        model.set_training(false);
        let (loss_sum, correct) = (loss_sum.to_scalar::<f32>()?, correct.to_scalar::<f32>()?);
        let n = data.n as f64;
        if !loss_sum.is_finite() {
            return Err(trained.diverged(epoch, loss_sum as f64 / n)?);
        }
        let sums = vec![loss_sum as f64, correct as f64];
        let done = LossAcc {
            loss: loss_sum as f64 / n,
            acc: correct as f64 / n,
        };
        Ok(trained.end(epoch, shuffles, sums, done))
    }
}

impl Trainer {
    /// [`Trainer::epoch_with`] on the fused CPU path ([`FusedMlp`], loaded from the model): the
    /// same shuffle stream, hence the same batches. With `grads`, every mini-batch's gradients
    /// are added to the statistics, named by the model's `vars` (in `named_vars` order). A NaN
    /// or infinite batch loss stops the epoch as [`Error::Diverged`].
    pub fn epoch_fused(
        &mut self,
        epoch: usize,
        fused: &mut FusedMlp,
        data: &Dataset,
        grads: Option<(&mut GradStats, &[Var])>,
    ) -> Result<LossAcc> {
        self.epoch_fused_ctl(epoch, fused, data, grads, Batches::default())?
            .done()
    }

    /// [`Trainer::epoch_fused`], continuing a paused epoch or stopping between batches as `ctl`
    /// says (sums: loss, correct).
    pub fn epoch_fused_ctl(
        &mut self,
        epoch: usize,
        fused: &mut FusedMlp,
        data: &Dataset,
        mut grads: Option<(&mut GradStats, &[Var])>,
        mut ctl: Batches,
    ) -> Result<Epoch<LossAcc>> {
        if self.batch_size > fused.batch_capacity() {
            return Err(Error::invalid(
                "train.batch_size",
                format!(
                    "{}; the fused trainer was built for batches of {}",
                    self.batch_size,
                    fused.batch_capacity()
                ),
            ));
        }
        let begun = ctl.begin(from_mut(&mut self.shuffle), data, self.batch_size, epoch, 2)?;
        let (orders, first, shuffles, sums) = begun;
        let total = data.n.div_ceil(self.batch_size);
        let (mut loss_sum, mut correct) = (sums[0], sums[1] as usize);
        for (b, idx) in orders[0].chunks(self.batch_size).enumerate().skip(first) {
            let r = fused.step(&data.x, &data.y, idx)?;
            if !r.loss.is_finite() {
                return Err(Error::Diverged {
                    epoch,
                    batch: b + 1,
                    loss: r.loss,
                });
            }
            if let Some((stats, vars)) = grads.as_mut() {
                add_fused_grads(stats, vars, fused)?;
            }
            loss_sum += r.loss * idx.len() as f64;
            correct += r.correct;
            if ctl.stop_after(b + 1, total) {
                return Ok(Epoch::Paused(Paused {
                    epoch,
                    batches: b + 1,
                    shuffles,
                    sums: vec![loss_sum, correct as f64],
                }));
            }
        }
        let n = data.n.max(1) as f64;
        Ok(Epoch::Done(LossAcc {
            loss: loss_sum / n,
            acc: correct as f64 / n,
        }))
    }
}

/// Adds the last fused step's gradients (parameter `i` of `vars` ↔ `fused.grads()[i]`).
fn add_fused_grads(stats: &mut GradStats, vars: &[Var], fused: &FusedMlp) -> Result<()> {
    stats.add_with(|var| {
        let Some(i) = vars.iter().position(|v| v.id() == var.id()) else {
            return Ok(None);
        };
        Ok(Some(Tensor::from_slice(
            &fused.grads()[i],
            var.shape(),
            var.device(),
        )?))
    })
}

/// Loss and accuracy of `model` on all of `data`, evaluated in chunks of `chunk` samples.
/// The model is switched to evaluation mode (dropout off, batch norm's running statistics).
pub fn evaluate(model: &dyn Model, data: &DeviceData, chunk: usize) -> Result<LossAcc> {
    model.set_training(false);
    let device = data.x.device();
    let mut loss_sum = Tensor::zeros((), DType::F32, device)?;
    let mut correct = Tensor::zeros((), DType::F32, device)?;
    for c in data.chunks(chunk) {
        let (len, x, y) = c?;
        let logits = model.forward(&x, None)?.detach();
        let loss = candle_nn::loss::cross_entropy(&logits, &y)?;
        loss_sum = (loss_sum + (loss * len as f64)?)?;
        correct = (correct + count_correct(&logits, &y)?)?;
    }
    let n = data.n.max(1) as f64;
    Ok(LossAcc {
        loss: loss_sum.to_scalar::<f32>()? as f64 / n,
        acc: correct.to_scalar::<f32>()? as f64 / n,
    })
}

/// The first (1-based) of `losses` (scalars, or `[N]` per replica) with a non-finite value, and
/// that value; `None` when all are finite.
pub fn first_non_finite(losses: &[Tensor]) -> Result<Option<(usize, f64)>> {
    for (i, l) in losses.iter().enumerate() {
        let vals = l.flatten_all()?.to_dtype(DType::F64)?.to_vec1::<f64>()?;
        if let Some(v) = vals.into_iter().find(|v| !v.is_finite()) {
            return Ok(Some((i + 1, v)));
        }
    }
    Ok(None)
}

/// Back-propagates `loss`, adds its gradients to `grads` when given and steps `opt`.
pub(crate) fn backward_step(
    loss: &Tensor,
    grads: Option<&mut GradStats>,
    opt: &mut Optimizer,
) -> Result<()> {
    let g = loss.backward()?;
    if let Some(stats) = grads {
        stats.add(&g)?;
    }
    opt.step(&g)
}

/// Number of rows whose arg-max equals the label, as an f32 scalar on the device.
pub(crate) fn count_correct(logits: &Tensor, y: &Tensor) -> Result<Tensor> {
    let pred = logits.argmax(D::Minus1)?;
    Ok(pred.eq(y)?.to_dtype(DType::F32)?.sum_all()?)
}
