//! Training and evaluation of a [`Vib`]: the β-weighted KL regulariser, the reparameterised
//! samples (noise from seeded host streams, so runs are reproducible on every device), and the
//! sample-averaged evaluation with the IB bounds.

use std::f64::consts::LN_2;
use std::slice::from_mut;

use candle_core::{DType, Device, Tensor};
use rand_chacha::ChaCha8Rng;

use super::kl::kl_to_std_normal;
use super::Vib;
use crate::gradients::GradStats;
use crate::optim::Optimizer;
use crate::rng::{self, Stream};
use crate::trainer::{backward_step, count_correct, Batches, DeviceData, Epoch};
use crate::{Error, Result};

/// What one VIB training epoch measured (sample-weighted means over its batches).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VibEpoch {
    /// Cross-entropy of the sampled predictions, nats.
    pub ce: f64,
    /// KL(q(z|x) ‖ N(0, I)), nats per sample.
    pub kl: f64,
    /// The objective CE + β·KL, nats.
    pub loss: f64,
    /// Accuracy of the sampled predictions.
    pub acc: f64,
}

/// A VIB evaluation with `samples` draws of z per input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VibEval {
    /// Cross-entropy of the sample-averaged softmax, nats.
    pub ce_avg: f64,
    /// Accuracy of the sample-averaged softmax.
    pub acc: f64,
    /// Mean over samples of the single-sample cross-entropy E_{x,z}[−ln q(y|z)], nats.
    pub ce_sampled: f64,
    /// E_x KL(q(z|x) ‖ N(0, I)), nats.
    pub kl: f64,
    /// Upper bound on I(Z;X), bits: `kl / ln 2`.
    pub izx_bits: f64,
    /// Lower bound on I(Z;Y), bits: `(H(Y) − ce_sampled) / ln 2`.
    pub izy_bits: f64,
}

/// Runs VIB training epochs: seeded shuffles and seeded reparameterisation noise.
#[derive(Debug)]
pub struct VibTrainer {
    batch_size: usize,
    beta: f64,
    shuffle: ChaCha8Rng,
    noise: ChaCha8Rng,
}

/// ε ~ N(0, I) of `shape`, drawn on the host from `rng`.
fn noise(rng: &mut ChaCha8Rng, rows: usize, k: usize, device: &Device) -> Result<Tensor> {
    let mut v = vec![0f32; rows * k];
    rng::fill_standard_normal(rng, &mut v);
    Ok(Tensor::from_vec(v, (rows, k), device)?)
}

impl VibTrainer {
    /// A trainer with shuffles from the `Shuffle` stream and noise from the `Noise` stream of
    /// `seed`, and KL weight `beta` ≥ 0.
    pub fn new(batch_size: usize, beta: f64, seed: u64) -> Result<Self> {
        if batch_size == 0 {
            return Err(Error::invalid(
                "train.batch_size",
                "0; expected a batch size of at least 1",
            ));
        }
        if !(beta >= 0.0 && beta.is_finite()) {
            return Err(Error::invalid(
                "vib.beta",
                format!("{beta}; expected a finite β ≥ 0 such as 1e-3"),
            ));
        }
        Ok(Self {
            batch_size,
            beta,
            shuffle: rng::stream(seed, Stream::Shuffle),
            noise: rng::stream(seed, Stream::Noise),
        })
    }

    /// The shuffle and noise streams' states, for a checkpoint.
    pub fn stream_states(&self) -> [String; 2] {
        [rng::save_state(&self.shuffle), rng::save_state(&self.noise)]
    }

    /// Continues both streams from states saved by [`VibTrainer::stream_states`].
    pub fn restore_stream_states(&mut self, [shuffle, noise]: &[String; 2]) -> Result<()> {
        self.shuffle = rng::restore_state(shuffle, "checkpoint shuffle stream")?;
        self.noise = rng::restore_state(noise, "checkpoint noise stream")?;
        Ok(())
    }

    /// One epoch of CE + β·KL in a fresh random order. A NaN or infinite objective is
    /// [`Error::Diverged`].
    pub fn epoch_with(
        &mut self,
        epoch: usize,
        model: &Vib,
        opt: &mut Optimizer,
        data: &DeviceData,
        grads: Option<&mut GradStats>,
    ) -> Result<VibEpoch> {
        self.epoch_ctl(epoch, model, opt, data, grads, Batches::default())?
            .done()
    }

    /// [`VibTrainer::epoch_with`], continuing a paused epoch or stopping between batches as
    /// `ctl` says (sums: CE, KL, correct; the noise stream is saved with the others).
    pub fn epoch_ctl(
        &mut self,
        epoch: usize,
        model: &Vib,
        opt: &mut Optimizer,
        data: &DeviceData,
        mut grads: Option<&mut GradStats>,
        mut ctl: Batches,
    ) -> Result<Epoch<VibEpoch>> {
        let device = data.x.device();
        let begun = ctl.begin(from_mut(&mut self.shuffle), data, self.batch_size, epoch, 3)?;
        let (orders, first, shuffles, sums) = begun;
        let sum = |i: usize| Tensor::new(sums[i] as f32, device);
        let (mut ce_sum, mut kl_sum, mut correct) = (sum(0)?, sum(1)?, sum(2)?);
        let (beta, rng) = (self.beta, &mut self.noise);
        let trained = ctl.train(data, &orders, self.batch_size, first, |len, x, y| {
            let eps = noise(rng, len, model.k(), device)?;
            let Objective {
                logits,
                ce,
                kl,
                loss,
            } = objective(model, x, y, &eps, beta)?;
            backward_step(&loss, grads.as_deref_mut(), opt)?;
            let w = len as f64;
            ce_sum = (&ce_sum + (ce.detach() * w)?)?;
            kl_sum = (&kl_sum + (kl.detach() * w)?)?;
            correct = (&correct + count_correct(&logits.detach(), y)?)?;
            Ok(loss.detach())
        })?;
        let n = data.n as f64;
        let (ce_s, kl_s, correct) = (
            ce_sum.to_scalar::<f32>()?,
            kl_sum.to_scalar::<f32>()?,
            correct.to_scalar::<f32>()?,
        );
        let (ce, kl) = (ce_s as f64 / n, kl_s as f64 / n);
        let loss = ce + self.beta * kl;
        if !loss.is_finite() {
            return Err(trained.diverged(epoch, loss)?);
        }
        let sums = vec![ce_s as f64, kl_s as f64, correct as f64];
        let done = VibEpoch {
            ce,
            kl,
            loss,
            acc: correct as f64 / n,
        };
        Ok(trained.end(epoch, shuffles, sums, done))
    }
}

/// The VIB objective of one batch, every tensor on autograd's graph: nats, batch means.
#[derive(Debug)]
pub struct Objective {
    /// Logits of the decoded sample z `[batch, classes]`.
    pub logits: Tensor,
    /// Cross-entropy of those logits, a scalar.
    pub ce: Tensor,
    /// KL(q(z|x) ‖ N(0, I)), a scalar.
    pub kl: Tensor,
    /// `ce + β·kl`, a scalar.
    pub loss: Tensor,
}

/// The objective [`VibTrainer::epoch_with`] minimises for inputs `x` `[batch, in]`, labels `y`
/// `[batch]` (u32) and the reparameterisation noise `eps` `[batch, K]`: z = μ + σ ⊙ ε.
pub fn objective(
    model: &Vib,
    x: &Tensor,
    y: &Tensor,
    eps: &Tensor,
    beta: f64,
) -> Result<Objective> {
    let (mu, sigma) = model.encode(x, None)?;
    let z = (&mu + (&sigma * eps)?)?;
    let logits = model.decode(&z)?;
    let ce = candle_nn::loss::cross_entropy(&logits, y)?;
    let kl = kl_to_std_normal(&mu, &sigma)?.mean_all()?;
    let loss = (&ce + (&kl * beta)?)?;
    Ok(Objective {
        logits,
        ce,
        kl,
        loss,
    })
}

/// Evaluates `model` on `data` with `samples` draws of z per input (noise from the `EvalNoise`
/// stream of `seed`, the same draws at every evaluation), in chunks of `chunk` inputs.
pub fn evaluate_vib(
    model: &Vib,
    data: &DeviceData,
    samples: usize,
    seed: u64,
    chunk: usize,
) -> Result<VibEval> {
    if samples == 0 {
        return Err(Error::invalid(
            "vib.samples",
            "0; expected at least 1 sample of z",
        ));
    }
    let device = data.x.device();
    let mut rng = rng::stream(seed, Stream::EvalNoise);
    let zero = || Tensor::zeros((), DType::F32, device);
    let (mut ce_avg, mut ce_s, mut kl_sum, mut correct) = (zero()?, zero()?, zero()?, zero()?);
    for c in data.chunks(chunk) {
        let (len, x, y) = c?;
        let (mu, sigma) = model.encode(&x, None)?;
        let (mu, sigma) = (mu.detach(), sigma.detach());
        kl_sum = (kl_sum + kl_to_std_normal(&mu, &sigma)?.sum_all()?)?;
        let mut probs: Option<Tensor> = None;
        for _ in 0..samples {
            let z = (&mu + (&sigma * noise(&mut rng, len, model.k(), device)?)?)?;
            let logits = model.decode(&z)?.detach();
            let ce = candle_nn::loss::cross_entropy(&logits, &y)?;
            ce_s = (ce_s + (ce * (len as f64 / samples as f64))?)?;
            let p = candle_nn::ops::softmax(&logits, 1)?;
            probs = Some(match probs {
                Some(acc) => (acc + p)?,
                None => p,
            });
        }
        let Some(probs) = probs else { break };
        let avg = (probs / samples as f64)?;
        let picked = avg.gather(&y.unsqueeze(1)?, 1)?.log()?.sum_all()?;
        ce_avg = (ce_avg - picked)?;
        correct = (correct + count_correct(&avg, &y)?)?;
    }
    let n = data.n.max(1) as f64;
    let ce_sampled = ce_s.to_scalar::<f32>()? as f64 / n;
    let kl = kl_sum.to_scalar::<f32>()? as f64 / n;
    let h_y = label_entropy_nats(&data.y.to_vec1::<u32>()?);
    Ok(VibEval {
        ce_avg: ce_avg.to_scalar::<f32>()? as f64 / n,
        acc: correct.to_scalar::<f32>()? as f64 / n,
        ce_sampled,
        kl,
        izx_bits: kl / LN_2,
        izy_bits: (h_y - ce_sampled) / LN_2,
    })
}

/// The empirical entropy of `labels`, nats.
pub fn label_entropy_nats(labels: &[u32]) -> f64 {
    let mut counts = std::collections::BTreeMap::<u32, usize>::new();
    for &l in labels {
        *counts.entry(l).or_default() += 1;
    }
    let n = labels.len().max(1) as f64;
    -counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            p * p.ln()
        })
        .sum::<f64>()
}
