//! One training epoch of a run, whatever the run trains: the [`Step`] trait the fit loop
//! ([`crate::fit`]) drives, and its implementations —
//! * [`Plain`]: cross-entropy training of any model on candle's autograd ([`Trainer`]);
//! * [`Fused`]: the same on the fused CPU path for MLPs ([`FusedMlp`]);
//! * [`VibStep`]: Alemi et al.'s Variational Information Bottleneck, CE + β·KL ([`VibTrainer`]);
//! * [`ensemble::Ensemble`]: `train.repeats` seeds of an MLP side by side.
//!
//! A step owns its model and data; the loop owns the optimiser, the schedule, the checkpoints and
//! the observers. Every step reports per replica (one for a single model), in seed order.

pub mod ensemble;

use candle_core::{Tensor, Var};
use probe_train::data::Dataset;
use probe_train::fused::FusedMlp;
use probe_train::gradients::GradStats;
use probe_train::model::Model;
use probe_train::optim::Optimizer;
use probe_train::trainer::{evaluate, Batches, DeviceData, Epoch, LossAcc, Trainer};
use probe_train::vib::trainer::{evaluate_vib, VibEpoch, VibEval, VibTrainer};
use probe_train::vib::Vib;

use crate::capture::{capture, capture_fused, ProbeSet};
use crate::config::VibConfig;
use crate::error::{bail, Result};

/// Rows evaluated at a time on the test set.
pub const EVAL_CHUNK: usize = 8192;

/// What one epoch of a VIB reports besides loss and accuracy (a row of `vib.csv`).
#[derive(Clone, Debug)]
pub struct VibRow {
    /// β, the KL weight.
    pub beta: f64,
    /// The learning rate the epoch trained with.
    pub lr: f64,
    /// The epoch's training terms.
    pub train: VibEpoch,
    /// The test set's bounds and accuracy.
    pub test: VibEval,
}

/// The result of one epoch: per replica, in seed order.
#[derive(Clone, Debug)]
pub struct EpochOut {
    /// Training loss and accuracy (for a VIB, the objective CE + β·KL).
    pub train: Vec<LossAcc>,
    /// Test loss and accuracy.
    pub test: Vec<LossAcc>,
    /// A VIB's `vib.csv` row.
    pub vib: Option<VibRow>,
}

impl EpochOut {
    /// The result of an epoch without VIB terms (per replica, in seed order).
    fn plain(train: Vec<LossAcc>, test: Vec<LossAcc>) -> Self {
        EpochOut {
            train,
            test,
            vib: None,
        }
    }
}

/// What the fit loop hands a [`Step::epoch`].
pub struct EpochArgs<'a> {
    /// The epoch, counted from 1.
    pub epoch: usize,
    /// The optimiser (its learning rate may change between epochs).
    pub opt: &'a mut Optimizer,
    /// Where to add every mini-batch's gradients (epochs measured with `measure.gradients`).
    pub grads: Option<&'a mut GradStats>,
    /// Continues a paused epoch or stops this one between batches.
    pub ctl: Batches<'a>,
}

/// The result of a finished training epoch; a paused one returns `Ok(Epoch::Paused(..))` from
/// the enclosing [`Step::epoch`] at once (`?` for pauses).
macro_rules! trained {
    ($epoch:expr) => {
        match $epoch {
            Epoch::Done(t) => t,
            Epoch::Paused(p) => return Ok(Epoch::Paused(p)),
        }
    };
}
use trained;

/// The captured activations of one replica: `(hook, [n, features])` in hook order.
pub type Layers = Vec<(String, Tensor)>;

/// One epoch of training, its evaluation and the model's activations on the probe set.
pub trait Step {
    /// The seeds of the replicas (one for a single model).
    fn seeds(&self) -> &[u64];
    /// The trainable parameters by checkpoint name (the optimiser's order).
    fn named_vars(&self) -> Vec<(String, Var)>;
    /// State saved with the parameters but not trained (batch norm's running statistics).
    fn named_buffers(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
    /// How gradient statistics group replicas (`None`: a single model).
    fn grad_replicas(&self) -> Option<usize> {
        None
    }
    /// Trains epoch `args.epoch` with `args.opt` and evaluates on the test set; with
    /// `args.grads`, every mini-batch's gradients are added to it. `args.ctl` continues a paused
    /// epoch or stops this one between batches ([`Epoch::Paused`]: nothing evaluated; the
    /// parameters and optimiser state are those after the last batch, as after a whole epoch).
    fn epoch(&mut self, args: EpochArgs) -> Result<Epoch<EpochOut>>;
    /// The activations of `hooks` on the probe set, per replica.
    fn capture(&self, probe: &ProbeSet, hooks: &[String]) -> Result<Vec<Layers>>;
    /// The random streams' positions, for a checkpoint.
    fn streams(&self) -> Result<Vec<String>>;
    /// Continues the random streams of a checkpoint.
    fn restore_streams(&mut self, streams: &[String]) -> Result<()>;
    /// The final weights as safetensors bytes (PyTorch names), per replica in seed order.
    fn weights(&self) -> Result<Vec<Vec<u8>>>;
}

/// The streams of a single-model run: its shuffle stream, then the model's own (dropout) if any.
fn streams_one(trainer: &Trainer, model: &dyn Model) -> Result<Vec<String>> {
    let mut s = vec![trainer.shuffle_state()];
    s.extend(model.stream_state()?);
    Ok(s)
}

/// Restores the streams saved by [`streams_one`].
fn restore_one(trainer: &mut Trainer, model: &dyn Model, streams: &[String]) -> Result<()> {
    let want = 1 + usize::from(model.stream_state()?.is_some());
    match streams {
        [s, own @ ..] if streams.len() == want => {
            trainer.restore_shuffle_state(s)?;
            for o in own {
                model.restore_stream_state(o)?;
            }
            Ok(())
        }
        _ => bail!(
            "the checkpoint holds {} random streams, this run has {want}",
            streams.len()
        ),
    }
}

/// Cross-entropy training of any model on candle's autograd.
pub struct Plain {
    /// The model.
    pub model: Box<dyn Model>,
    /// The shuffle stream and batch size.
    pub trainer: Trainer,
    /// Training data on the model's device.
    pub train: DeviceData,
    /// Test data on the model's device.
    pub test: DeviceData,
    /// `[seed]`.
    pub seed: [u64; 1],
}

/// The [`Step`] methods (all but `epoch` and `capture`) of a step that trains one `model: Box<dyn Model>`
/// whose batches come from one `trainer: Trainer`, seeded by `seed: [u64; 1]`: [`Plain`] and
/// [`Fused`], which differ in how an epoch runs and how activations are captured.
macro_rules! single_model_step {
    () => {
        fn seeds(&self) -> &[u64] {
            &self.seed
        }
        fn named_vars(&self) -> Vec<(String, Var)> {
            self.model.named_vars()
        }
        fn named_buffers(&self) -> Vec<(String, Var)> {
            self.model.named_buffers()
        }
        fn streams(&self) -> Result<Vec<String>> {
            streams_one(&self.trainer, &*self.model)
        }
        fn restore_streams(&mut self, streams: &[String]) -> Result<()> {
            restore_one(&mut self.trainer, &*self.model, streams)
        }
        fn weights(&self) -> Result<Vec<Vec<u8>>> {
            Ok(vec![probe_train::checkpoint::to_bytes(&*self.model)?])
        }
    };
}

impl Step for Plain {
    single_model_step!();
    fn capture(&self, probe: &ProbeSet, hooks: &[String]) -> Result<Vec<Layers>> {
        Ok(vec![capture(&*self.model, probe, hooks)?])
    }
    fn epoch(&mut self, args: EpochArgs) -> Result<Epoch<EpochOut>> {
        let model = &*self.model;
        let tr = trained!(self.trainer.epoch_ctl(
            args.epoch,
            model,
            args.opt,
            &self.train,
            args.grads,
            args.ctl
        )?);
        let te = evaluate(model, &self.test, EVAL_CHUNK)?;
        Ok(Epoch::Done(EpochOut::plain(vec![tr], vec![te])))
    }
}

/// Cross-entropy training of an MLP on the fused CPU path. The parameters and optimiser state
/// are copied in on the first epoch (after any resume) and back after every epoch, so
/// checkpoints and gradient statistics read the model as on the candle path; activations are
/// captured by the fused loops from those vars.
pub struct Fused {
    /// The model (the candle MLP whose vars mirror the fused one).
    pub model: Box<dyn Model>,
    /// The shuffle stream (the same batches as [`Plain`]).
    pub trainer: Trainer,
    /// The fused MLP.
    pub fused: FusedMlp,
    /// Whether `fused` holds the current parameters.
    pub loaded: bool,
    /// Host training set.
    pub train: Dataset,
    /// Host test set.
    pub test: Dataset,
    /// `[seed]`.
    pub seed: [u64; 1],
}

impl Step for Fused {
    single_model_step!();
    /// By the fused loops, with the model's current parameters (the vars, which the fused MLP
    /// stores back after every epoch): the activations its training computes.
    fn capture(&self, probe: &ProbeSet, hooks: &[String]) -> Result<Vec<Layers>> {
        let params: Vec<Tensor> = (self.named_vars().into_iter())
            .map(|(_, v)| v.as_tensor().clone())
            .collect();
        let layers = capture_fused(&*self.model, &self.fused, &params, probe, hooks)?;
        Ok(vec![layers])
    }
    fn epoch(&mut self, args: EpochArgs) -> Result<Epoch<EpochOut>> {
        let opt = args.opt;
        let vars: Vec<Var> = self.named_vars().into_iter().map(|(_, v)| v).collect();
        if !self.loaded {
            self.fused.load(&vars, opt)?;
            self.loaded = true;
        }
        let g = args.grads.map(|g| (g, &vars[..]));
        let out =
            self.trainer
                .epoch_fused_ctl(args.epoch, &mut self.fused, &self.train, g, args.ctl)?;
        // Paused or not, the vars and the optimiser take the state after the last batch
        // (evaluating below reads the fused parameters, it does not change them).
        self.fused.store(&vars, opt)?;
        let tr = trained!(out);
        let (loss, correct) = self.fused.evaluate(&self.test.x, &self.test.y)?;
        let n = self.test.n.max(1) as f64;
        let te = LossAcc {
            loss: loss / n,
            acc: correct as f64 / n,
        };
        Ok(Epoch::Done(EpochOut::plain(vec![tr], vec![te])))
    }
}

/// CE + β·KL training of a VIB; the learning rate decays by `vib.lr_decay` every
/// `vib.lr_decay_every` epochs.
pub struct VibStep {
    /// The VIB.
    pub model: Vib,
    /// Shuffle and noise streams.
    pub trainer: VibTrainer,
    /// `[vib]`.
    pub cfg: VibConfig,
    /// Training data on the model's device.
    pub train: DeviceData,
    /// Test data on the model's device.
    pub test: DeviceData,
    /// `[seed]` (also the evaluation noise's seed).
    pub seed: [u64; 1],
}

impl Step for VibStep {
    fn seeds(&self) -> &[u64] {
        &self.seed
    }
    fn named_vars(&self) -> Vec<(String, Var)> {
        self.model.named_vars()
    }
    fn epoch(&mut self, args: EpochArgs) -> Result<Epoch<EpochOut>> {
        let (epoch, opt) = (args.epoch, args.opt);
        let lr = opt.lr();
        let e = trained!(self.trainer.epoch_ctl(
            epoch,
            &self.model,
            opt,
            &self.train,
            args.grads,
            args.ctl
        )?);
        let ev = evaluate_vib(
            &self.model,
            &self.test,
            self.cfg.samples,
            self.seed[0],
            EVAL_CHUNK,
        )?;
        if epoch.is_multiple_of(self.cfg.lr_decay_every) && self.cfg.lr_decay < 1.0 {
            opt.set_lr(lr * self.cfg.lr_decay)?;
        }
        Ok(Epoch::Done(EpochOut {
            train: vec![LossAcc {
                loss: e.loss,
                acc: e.acc,
            }],
            test: vec![LossAcc {
                loss: ev.ce_avg,
                acc: ev.acc,
            }],
            vib: Some(VibRow {
                beta: self.cfg.beta,
                lr,
                train: e,
                test: ev,
            }),
        }))
    }
    fn capture(&self, probe: &ProbeSet, hooks: &[String]) -> Result<Vec<Layers>> {
        Ok(vec![capture(&self.model, probe, hooks)?])
    }
    fn streams(&self) -> Result<Vec<String>> {
        Ok(self.trainer.stream_states().to_vec())
    }
    fn restore_streams(&mut self, streams: &[String]) -> Result<()> {
        match streams {
            [a, b] => Ok(self
                .trainer
                .restore_stream_states(&[a.clone(), b.clone()])?),
            _ => bail!(
                "the checkpoint holds {} random streams, a VIB run has 2",
                streams.len()
            ),
        }
    }
    fn weights(&self) -> Result<Vec<Vec<u8>>> {
        Ok(vec![probe_train::checkpoint::to_bytes(&self.model)?])
    }
}
