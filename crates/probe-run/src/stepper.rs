//! One training epoch of a single-model run: plain cross-entropy training ([`Trainer`]; on the
//! fused CPU path for small MLPs, [`FusedMlp`]) or the Variational Information Bottleneck's
//! CE + β·KL ([`VibTrainer`], `[vib]`), with their evaluation, `vib.csv` rows, learning-rate
//! decay and random streams for checkpoints.

use std::path::Path;

use crate::error::{bail, Result};
use candle_core::Var;
use probe_report::CsvTable;
use probe_train::data::Dataset;
use probe_train::fused::FusedMlp;
use probe_train::gradients::GradStats;
use probe_train::model::Model;
use probe_train::optim::Optimizer;
use probe_train::trainer::{evaluate, DeviceData, LossAcc, Trainer};
use probe_train::vib::trainer::{evaluate_vib, VibTrainer};
use probe_train::vib::Vib;

use crate::resume;

/// One epoch of a plain classifier or of a VIB.
// One value per run, so the variants' size difference costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Stepper<'a> {
    /// Cross-entropy training of any model.
    Plain(Trainer),
    /// Cross-entropy training of a small MLP on the fused CPU path: the parameters and
    /// optimiser state are copied in on the first epoch and back after every epoch, so hooks and
    /// checkpoints read the model as on the candle path.
    Fused {
        /// The shuffle stream (the same batches as `Plain`).
        trainer: Trainer,
        /// The fused MLP.
        fused: FusedMlp,
        /// The model's vars, in `named_vars` order.
        vars: Vec<Var>,
        /// Whether `fused` holds the current parameters.
        loaded: bool,
        /// Host copies of the training and test sets.
        train: &'a Dataset,
        /// See `train`.
        test: &'a Dataset,
    },
    /// CE + β·KL training of a VIB.
    Vib {
        /// Shuffle and noise streams.
        trainer: VibTrainer,
        /// The VIB being trained.
        model: &'a Vib,
        /// `[vib]`.
        cfg: crate::config::VibConfig,
        /// The run's seed (evaluation noise).
        seed: u64,
        /// `vib.csv`.
        table: CsvTable,
    },
}

impl Stepper<'_> {
    /// Trains one epoch and evaluates on `test`: (train loss/acc, test loss/acc). For a VIB the
    /// train loss is the objective CE + β·KL and the test values are those of the
    /// sample-averaged prediction; its row goes to `vib.csv`, and the learning rate decays.
    pub fn epoch(
        &mut self,
        epoch: usize,
        model: &dyn Model,
        opt: &mut Optimizer,
        train: &DeviceData,
        test: &DeviceData,
        grads: Option<&mut GradStats>,
    ) -> Result<(LossAcc, LossAcc)> {
        match self {
            Stepper::Plain(t) => {
                let tr = t.epoch_with(epoch, model, opt, train, grads)?;
                Ok((tr, evaluate(model, test, 8192)?))
            }
            Stepper::Fused {
                trainer,
                fused,
                vars,
                loaded,
                train,
                test,
            } => {
                if !*loaded {
                    fused.load(vars, opt)?;
                    *loaded = true;
                }
                let tr = trainer.epoch_fused(epoch, fused, train, grads.map(|g| (g, &vars[..])))?;
                let (loss, correct) = fused.evaluate(&test.x, &test.y)?;
                fused.store(vars, opt)?;
                let n = test.n.max(1) as f64;
                Ok((
                    tr,
                    LossAcc {
                        loss: loss / n,
                        acc: correct as f64 / n,
                    },
                ))
            }
            Stepper::Vib {
                trainer,
                model,
                cfg,
                seed,
                table,
            } => {
                let lr = opt.lr();
                let e = trainer.epoch_with(epoch, model, opt, train, grads)?;
                let ev = evaluate_vib(model, test, cfg.samples, *seed, 8192)?;
                crate::vib_csv::push_row(table, epoch, cfg.beta, lr, &e, &ev)?;
                if epoch.is_multiple_of(cfg.lr_decay_every) && cfg.lr_decay < 1.0 {
                    opt.set_lr(lr * cfg.lr_decay)?;
                }
                Ok((
                    LossAcc {
                        loss: e.loss,
                        acc: e.acc,
                    },
                    LossAcc {
                        loss: ev.ce_avg,
                        acc: ev.acc,
                    },
                ))
            }
        }
    }

    /// Rewrites `vib.csv` (VIB runs).
    pub fn flush(&self, out: &Path) -> Result<()> {
        if let Stepper::Vib { table, .. } = self {
            table.replace_atomic(&out.join("vib.csv"))?;
        }
        Ok(())
    }

    /// The random streams' positions, for a checkpoint.
    pub fn streams(&self) -> Vec<String> {
        match self {
            Stepper::Plain(t) | Stepper::Fused { trainer: t, .. } => vec![t.shuffle_state()],
            Stepper::Vib { trainer, .. } => trainer.stream_states().to_vec(),
        }
    }

    /// Continues the streams and `vib.csv` of a checkpoint.
    pub fn restore(&mut self, r: &mut resume::Restored) -> Result<()> {
        let n = r.streams.len();
        match self {
            Stepper::Plain(t) | Stepper::Fused { trainer: t, .. } => match r.streams.as_slice() {
                [s] => t.restore_shuffle_state(s)?,
                _ => bail!("the checkpoint holds {n} random streams, this run has 1"),
            },
            Stepper::Vib { trainer, table, .. } => {
                match r.streams.as_slice() {
                    [a, b] => trainer.restore_stream_states(&[a.clone(), b.clone()])?,
                    _ => bail!("the checkpoint holds {n} random streams, a VIB run has 2"),
                }
                *table = r.take_table("vib.csv", &crate::vib_csv::VIB_HEADER)?;
            }
        }
        Ok(())
    }
}
