//! Training and evaluation of an [`EnsembleMlp`]: every replica reads its own shuffle stream
//! (the `Shuffle` stream of its seed), so replica r sees exactly the batches a single run of its
//! seed sees. The loss of the step is the sum of the replicas' mean cross-entropies; since no
//! replica's parameters appear in another's term, each receives the gradient of its own loss.

use candle_core::{DType, Tensor, Var, D};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::EnsembleMlp;
use crate::data::Dataset;
use crate::fused::FusedMlp;
use crate::gradients::GradStats;
use crate::optim::Optimizer;
use crate::rng::{self, Stream};
use crate::trainer::{
    backward_step, check_batch_size, Batches, DeviceData, Epoch, LossAcc, Paused,
};
use crate::{Error, Result};

/// Runs training epochs of an ensemble with one shuffle stream per replica.
#[derive(Debug)]
pub struct EnsembleTrainer {
    batch_size: usize,
    shuffles: Vec<ChaCha8Rng>,
}

impl EnsembleTrainer {
    /// A trainer whose replica r shuffles with the `Shuffle` stream of `seeds[r]`.
    pub fn new(batch_size: usize, seeds: &[u64]) -> Result<Self> {
        check_batch_size(batch_size)?;
        Ok(Self {
            batch_size,
            shuffles: seeds
                .iter()
                .map(|&s| rng::stream(s, Stream::Shuffle))
                .collect(),
        })
    }

    /// Every replica's shuffle-stream state, for a checkpoint.
    pub fn shuffle_states(&self) -> Vec<String> {
        self.shuffles.iter().map(rng::save_state).collect()
    }

    /// Continues the shuffle streams from states saved by [`EnsembleTrainer::shuffle_states`].
    pub fn restore_shuffle_states(&mut self, states: &[String]) -> Result<()> {
        if states.len() != self.shuffles.len() {
            return Err(Error::invalid(
                "checkpoint shuffle streams",
                format!(
                    "{} saved, the ensemble has {} replicas",
                    states.len(),
                    self.shuffles.len()
                ),
            ));
        }
        for (s, text) in self.shuffles.iter_mut().zip(states) {
            *s = rng::restore_state(text, "checkpoint shuffle stream")?;
        }
        Ok(())
    }

    /// One epoch; per replica the sample-weighted mean batch loss and the accuracy of the batches'
    /// predictions (as [`Trainer::epoch`](crate::trainer::Trainer::epoch) reports them). A NaN or
    /// infinite loss of any replica is [`Error::DivergedReplica`], naming the seed.
    pub fn epoch_with(
        &mut self,
        epoch: usize,
        model: &EnsembleMlp,
        opt: &mut Optimizer,
        data: &DeviceData,
        grads: Option<&mut GradStats>,
    ) -> Result<Vec<LossAcc>> {
        self.epoch_ctl(epoch, model, opt, data, grads, Batches::default())?
            .done()
    }

    /// [`EnsembleTrainer::epoch_with`], continuing a paused epoch or stopping between batches as
    /// `ctl` says (sums: every replica's loss, then every replica's correct count).
    pub fn epoch_ctl(
        &mut self,
        epoch: usize,
        model: &EnsembleMlp,
        opt: &mut Optimizer,
        data: &DeviceData,
        mut grads: Option<&mut GradStats>,
        mut ctl: Batches,
    ) -> Result<Epoch<Vec<LossAcc>>> {
        let n_rep = model.replicas();
        if self.shuffles.len() != n_rep {
            return Err(Error::invalid(
                "repeats",
                format!(
                    "the trainer has {} shuffle streams, the model {n_rep} replicas",
                    self.shuffles.len()
                ),
            ));
        }
        let device = data.x.device();
        let d = data.x.dim(1)?;
        let begun = ctl.begin(&mut self.shuffles, data, self.batch_size, epoch, 2 * n_rep)?;
        let (orders, first, shuffles, sums) = begun;
        let as_f32 = |v: &[f64]| v.iter().map(|&x| x as f32).collect::<Vec<f32>>();
        let mut loss_sum = Tensor::from_vec(as_f32(&sums[..n_rep]), n_rep, device)?;
        let mut correct = Tensor::from_vec(as_f32(&sums[n_rep..]), n_rep, device)?;
        let trained = ctl.train(data, &orders, self.batch_size, first, |len, x, y| {
            let x = x.reshape((n_rep, len, d))?;
            let y = y.reshape((n_rep, len))?;
            let logits = model.forward(&x, None)?;
            let losses = cross_entropy_per_replica(&logits, &y)?; // [N]
            backward_step(&losses.sum_all()?, grads.as_deref_mut(), opt)?;
            loss_sum = (&loss_sum + (losses.detach() * len as f64)?)?;
            correct = (&correct + count_correct(&logits.detach(), &y)?)?;
            Ok(losses.detach())
        })?;
        let n = data.n as f64;
        let losses = loss_sum.to_vec1::<f32>()?;
        let correct = correct.to_vec1::<f32>()?;
        let mut out = Vec::with_capacity(n_rep);
        for (r, (l, c)) in losses.iter().zip(&correct).enumerate() {
            let loss = *l as f64 / n;
            if !loss.is_finite() {
                let (batch, loss) = trained.first_bad(Some(r))?.unwrap_or((0, loss));
                return Err(Error::DivergedReplica {
                    epoch,
                    batch,
                    loss,
                    seed: model.seeds()[r],
                });
            }
            out.push(LossAcc {
                loss,
                acc: *c as f64 / n,
            });
        }
        let sums = losses.iter().chain(&correct).map(|&v| v as f64).collect();
        Ok(trained.end(epoch, shuffles, sums, out))
    }
}

impl EnsembleTrainer {
    /// [`EnsembleTrainer::epoch_with`] on the fused CPU path: `reps[r]` (loaded with
    /// [`FusedMlp::load_replicas`]) takes replica r's batches from its own shuffle stream, so it
    /// is the fused single run of its seed step for step; the replicas of a batch run in
    /// parallel. With `grads`, every mini-batch's gradients (all replicas) are added to the
    /// statistics, named by the ensemble's stacked `vars`.
    pub fn epoch_fused(
        &mut self,
        epoch: usize,
        reps: &mut [FusedMlp],
        seeds: &[u64],
        data: &Dataset,
        grads: Option<(&mut GradStats, &[Var])>,
    ) -> Result<Vec<LossAcc>> {
        self.epoch_fused_ctl(epoch, reps, seeds, data, grads, Batches::default())?
            .done()
    }

    /// [`EnsembleTrainer::epoch_fused`], continuing a paused epoch or stopping between batches
    /// as `ctl` says (sums as [`EnsembleTrainer::epoch_ctl`]'s).
    pub fn epoch_fused_ctl(
        &mut self,
        epoch: usize,
        reps: &mut [FusedMlp],
        seeds: &[u64],
        data: &Dataset,
        mut grads: Option<(&mut GradStats, &[Var])>,
        mut ctl: Batches,
    ) -> Result<Epoch<Vec<LossAcc>>> {
        let n_rep = reps.len();
        if self.shuffles.len() != n_rep || seeds.len() != n_rep {
            return Err(Error::invalid(
                "repeats",
                format!(
                    "{} shuffle streams and {} seeds for {n_rep} replicas",
                    self.shuffles.len(),
                    seeds.len()
                ),
            ));
        }
        let begun = ctl.begin(&mut self.shuffles, data, self.batch_size, epoch, 2 * n_rep)?;
        let (orders, first, shuffles, sums) = begun;
        let total = data.n.div_ceil(self.batch_size);
        let mut sums: Vec<(f64, usize)> = (0..n_rep)
            .map(|r| (sums[r], sums[n_rep + r] as usize))
            .collect();
        let mut start = first * self.batch_size;
        let mut batch = first;
        while start < data.n {
            let len = self.batch_size.min(data.n - start);
            batch += 1;
            let results: Vec<Result<_>> = reps
                .par_iter_mut()
                .zip(&orders)
                .map(|(f, o)| f.step(&data.x, &data.y, &o[start..start + len]))
                .collect();
            for (r, res) in results.into_iter().enumerate() {
                let res = res?;
                if !res.loss.is_finite() {
                    return Err(Error::DivergedReplica {
                        epoch,
                        batch,
                        loss: res.loss,
                        seed: seeds[r],
                    });
                }
                sums[r].0 += res.loss * len as f64;
                sums[r].1 += res.correct;
            }
            if let Some((stats, vars)) = grads.as_mut() {
                add_replica_grads(stats, vars, reps)?;
            }
            start += len;
            if ctl.stop_after(batch, total) {
                let (l, c): (Vec<f64>, Vec<f64>) = sums.iter().map(|&(l, c)| (l, c as f64)).unzip();
                return Ok(Epoch::Paused(Paused {
                    epoch,
                    batches: batch,
                    shuffles,
                    sums: l.into_iter().chain(c).collect(),
                }));
            }
        }
        let n = data.n.max(1) as f64;
        Ok(Epoch::Done(
            sums.iter()
                .map(|&(l, c)| LossAcc {
                    loss: l / n,
                    acc: c as f64 / n,
                })
                .collect(),
        ))
    }
}

/// Loss and accuracy of every replica on `data` on the fused path (see
/// [`evaluate_ensemble`]).
pub fn evaluate_fused(reps: &mut [FusedMlp], data: &Dataset) -> Result<Vec<LossAcc>> {
    let n = data.n.max(1) as f64;
    reps.par_iter_mut()
        .map(|f| {
            let (loss, correct) = f.evaluate(&data.x, &data.y)?;
            Ok(LossAcc {
                loss: loss / n,
                acc: correct as f64 / n,
            })
        })
        .collect()
}

/// Adds the replicas' last gradients as one batch of the stacked vars (`[N, …]`).
fn add_replica_grads(stats: &mut GradStats, vars: &[Var], reps: &[FusedMlp]) -> Result<()> {
    stats.add_with(|var| {
        let Some(i) = vars.iter().position(|v| v.id() == var.id()) else {
            return Ok(None);
        };
        let all: Vec<f32> = reps
            .iter()
            .flat_map(|r| r.grads()[i].iter().copied())
            .collect();
        Ok(Some(Tensor::from_vec(all, var.shape(), var.device())?))
    })
}

/// Loss and accuracy of every replica on all of `data`, evaluated in chunks of `chunk` samples
/// (as [`evaluate`](crate::trainer::evaluate) does for one model).
pub fn evaluate_ensemble(
    model: &EnsembleMlp,
    data: &DeviceData,
    chunk: usize,
) -> Result<Vec<LossAcc>> {
    let n_rep = model.replicas();
    let device = data.x.device();
    let mut loss_sum = Tensor::zeros(n_rep, DType::F32, device)?;
    let mut correct = Tensor::zeros(n_rep, DType::F32, device)?;
    for c in data.chunks(chunk) {
        let (len, x, y) = c?;
        let y = y.unsqueeze(0)?.broadcast_as((n_rep, len))?.contiguous()?;
        let logits = model.forward(&x, None)?.detach();
        let loss = cross_entropy_per_replica(&logits, &y)?;
        loss_sum = (loss_sum + (loss * len as f64)?)?;
        correct = (correct + count_correct(&logits, &y)?)?;
    }
    let n = data.n.max(1) as f64;
    let losses = loss_sum.to_vec1::<f32>()?;
    let correct = correct.to_vec1::<f32>()?;
    Ok(losses
        .iter()
        .zip(&correct)
        .map(|(l, c)| LossAcc {
            loss: *l as f64 / n,
            acc: *c as f64 / n,
        })
        .collect())
}

/// Mean cross-entropy of each replica, `[N]`, for logits `[N, batch, classes]` and labels
/// `[N, batch]`: candle_nn's `cross_entropy` (log-softmax, gather, sum, scale) per replica, with
/// the same reductions so each replica's value is bit-identical to the single-model loss.
fn cross_entropy_per_replica(logits: &Tensor, y: &Tensor) -> Result<Tensor> {
    let batch = logits.dim(1)?;
    let log_sm = candle_nn::ops::log_softmax(logits, 2)?;
    Ok(log_sm
        .gather(&y.unsqueeze(2)?, 2)?
        .sum((1, 2))?
        .affine(-1f64 / batch as f64, 0.)?)
}

/// Rows whose arg-max equals the label, per replica, `[N]` f32.
fn count_correct(logits: &Tensor, y: &Tensor) -> Result<Tensor> {
    let pred = logits.argmax(D::Minus1)?;
    Ok(pred.eq(y)?.to_dtype(DType::F32)?.sum(1)?)
}
