//! A fused CPU trainer for MLPs: forward, cross-entropy, backward and the optimiser step of a
//! mini-batch in one pass over preallocated buffers, without an autograd graph.
//!
//! The 12-bit network (12-10-7-5-4-3-2) does ~0.3 M multiply-adds per step of 512 samples; run
//! through candle, every one of the ~60 tensor operations of a step (graph node, output
//! allocation, dispatch) costs more than its arithmetic, and an epoch took 1.76 ms against
//! PyTorch's 3.6 ms (BENCHMARKS.md). Here the batch is laid out feature-major so every inner loop
//! runs along the batch and vectorises whatever the layer widths (see `kernels.rs`); nothing is
//! allocated per step. Layers of at least 16 384 multiply-adds per sample (the
//! Saxe MNIST MLP's 784 × 1024) do their three products with `gemm` on every core instead.
//!
//! The parameters and optimiser state live in the model's candle [`Var`]s and the
//! [`Optimizer`] between epochs: [`FusedMlp::load`] copies them in, [`FusedMlp::store`] copies
//! them back, so checkpoints and resume work exactly as on the candle path. Activations for
//! measurement come from the same forward loops ([`FusedMlp::hook`], `rows.rs`), so they are the
//! ones training computes. The
//! optimiser update is candle's, operation for operation (`update.rs`); forward and backward are
//! the same functions in a different summation order, so the two paths agree to rounding (tested
//! against candle's autograd) but not bit for bit. The fused path itself is deterministic (the
//! small-layer loops are the same at every instruction set; gemm layers the same at every thread
//! count), so runs, resumed runs and ensemble replicas are bit-identical to each other.
//!
//! It applies to MLPs on the CPU with tanh, ReLU, sigmoid or linear hidden layers
//! ([`FusedMlp::unsupported`]) and is then the default (`train.fused = false` in a config turns it
//! off).

pub(crate) mod gemm;
mod kernels;
mod replicas;
mod rows;
mod update;

use candle_core::{Device, Var};

use self::kernels::{Act, Batch, Buffers, Net};
use self::update::Moments;
use crate::model::MlpSpec;
use crate::optim::{OptimSpec, Optimizer};
use crate::{Error, Result};
use probe_simd::Isa;

/// Loss and accuracy of one mini-batch step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepResult {
    /// Mean cross-entropy of the batch (before the update), in nats.
    pub loss: f64,
    /// Samples of the batch whose arg-max logit was the label.
    pub correct: usize,
}

/// An MLP's parameters, gradients and optimiser state in plain buffers, trained by fused loops.
#[derive(Clone, Debug)]
pub struct FusedMlp {
    net: Net,
    isa: Isa,
    /// `w0, b0, w1, b1, …`, laid out as the model's vars (`[out, in]`, `[out]`).
    params: Vec<Vec<f32>>,
    /// The last step's gradients, same layout.
    grads: Vec<Vec<f32>>,
    moments: Vec<Moments>,
    /// The optimiser, with the learning rate as last set.
    spec: OptimSpec,
    step: u64,
    bufs: Buffers,
}

impl FusedMlp {
    /// Why the fused path cannot train `spec` on `device`, or `None` when it can.
    pub fn unsupported(spec: &MlpSpec, device: &Device) -> Option<String> {
        if !device.is_cpu() {
            return Some("the fused trainer runs on the CPU only".into());
        }
        if Act::of(spec.activation).is_none() {
            return Some(format!(
                "the fused trainer has no {:?} activation (it has tanh, relu, sigmoid, linear)",
                spec.activation
            ));
        }
        None
    }

    /// Buffers for `spec` trained with `optim` in batches of up to `batch_size`; the parameters
    /// and optimiser state come from [`load`](Self::load).
    pub fn new(spec: &MlpSpec, optim: &OptimSpec, batch_size: usize) -> Result<Self> {
        let act = Act::of(spec.activation).ok_or_else(|| {
            Error::invalid(
                "train.fused",
                format!("the fused trainer has no {:?} activation", spec.activation),
            )
        })?;
        if batch_size == 0 {
            return Err(Error::invalid(
                "train.batch_size",
                "0; expected a batch size of at least 1",
            ));
        }
        let net = Net {
            widths: widths(spec),
            act,
            gemm_min: gemm::GEMM_MIN_MACS,
        };
        let sizes: Vec<usize> = net
            .widths
            .windows(2)
            .flat_map(|w| [w[0] * w[1], w[1]])
            .collect();
        Ok(Self {
            isa: probe_simd::isa(),
            params: sizes.iter().map(|&s| vec![0.0; s]).collect(),
            grads: sizes.iter().map(|&s| vec![0.0; s]).collect(),
            moments: vec![Moments::default(); sizes.len()],
            spec: optim.clone(),
            step: 0,
            bufs: Buffers::new(&net, batch_size),
            net,
        })
    }

    /// Copies the parameters from `vars` (the MLP's vars in `named_vars` order) and the step
    /// count, learning rate and moments from `opt`.
    pub fn load(&mut self, vars: &[Var], opt: &Optimizer) -> Result<()> {
        replicas::load(std::slice::from_mut(self), vars, opt)
    }

    /// Copies the parameters back into `vars` and the optimiser state into `opt`.
    pub fn store(&self, vars: &[Var], opt: &mut Optimizer) -> Result<()> {
        replicas::store(std::slice::from_ref(self), vars, opt)
    }

    /// [`load`](Self::load) for the replicas of a seed ensemble: replica r takes the r-th slice
    /// of every var (`[N, …]`) and of every optimiser buffer.
    pub fn load_replicas(reps: &mut [FusedMlp], vars: &[Var], opt: &Optimizer) -> Result<()> {
        replicas::load(reps, vars, opt)
    }

    /// [`store`](Self::store) for the replicas of a seed ensemble.
    pub fn store_replicas(reps: &[FusedMlp], vars: &[Var], opt: &mut Optimizer) -> Result<()> {
        replicas::store(reps, vars, opt)
    }

    /// Largest batch [`step`](Self::step) takes.
    pub fn batch_capacity(&self) -> usize {
        self.bufs.cap()
    }

    /// One optimiser step on rows `idx` of `x` (`[n, d]` row-major) with labels `y`.
    pub fn step(&mut self, x: &[f32], y: &[u32], idx: &[u32]) -> Result<StepResult> {
        self.check_batch(x, y, idx)?;
        let r = kernels::batch_grads(
            self.isa,
            &self.net,
            &self.params,
            &mut self.bufs,
            &mut self.grads,
            Batch { x, y, idx },
        );
        self.step += 1;
        for ((p, g), s) in self
            .params
            .iter_mut()
            .zip(&self.grads)
            .zip(&mut self.moments)
        {
            update::apply(&self.spec, self.step, p, g, s);
        }
        Ok(StepResult {
            loss: r.loss,
            correct: r.correct,
        })
    }

    /// The gradients of the last [`step`](Self::step), in parameter order.
    pub fn grads(&self) -> &[Vec<f32>] {
        &self.grads
    }

    /// Summed cross-entropy and number of correct predictions over all rows of `x`, in chunks of
    /// the batch capacity (no update).
    pub fn evaluate(&mut self, x: &[f32], y: &[u32]) -> Result<(f64, usize)> {
        let n = y.len();
        let all: Vec<u32> = (0..n as u32).collect();
        let (mut loss, mut correct) = (0.0, 0);
        for idx in all.chunks(self.bufs.cap()) {
            self.check_batch(x, y, idx)?;
            let r = kernels::batch_loss(
                self.isa,
                &self.net,
                &self.params,
                &mut self.bufs,
                Batch { x, y, idx },
            );
            loss += r.loss * idx.len() as f64;
            correct += r.correct;
        }
        Ok((loss, correct))
    }

    /// Checks a batch against the buffers and the data, so the loops index within bounds.
    fn check_batch(&self, x: &[f32], y: &[u32], idx: &[u32]) -> Result<()> {
        let d = self.net.widths[0];
        let classes = self.net.widths[self.net.layers()];
        let n = y.len();
        let bad = |m: String| Err(Error::invalid("train.fused", m));
        if idx.is_empty() || idx.len() > self.bufs.cap() {
            return bad(format!(
                "a batch of {} rows; the buffers hold 1 to {}",
                idx.len(),
                self.bufs.cap()
            ));
        }
        if x.len() != n * d {
            return bad(format!("{} features for {n} rows of {d}", x.len()));
        }
        for &i in idx {
            match y.get(i as usize) {
                None => return bad(format!("row {i} of a data set of {n}")),
                Some(&l) if l as usize >= classes => {
                    return bad(format!("label {l} of row {i} with {classes} classes"))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// `[input, hidden…, classes]`.
fn widths(spec: &MlpSpec) -> Vec<usize> {
    let mut w = vec![spec.input_dim];
    w.extend(&spec.hidden);
    w.push(spec.classes);
    w
}

#[cfg(test)]
mod tests;
