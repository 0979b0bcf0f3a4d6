//! `train.repeats = N > 1`: N seeds (`seed`, `seed + 1`, …) of an MLP trained side by side as
//! one [`EnsembleMlp`] (stacked weights, batched matmuls), or on the fused CPU path as N
//! [`FusedMlp`] replicas; each replica is exactly the run of its seed alone (on the CPU bit for
//! bit).

use candle_core::{Tensor, Var};
use probe_capture::{ActivationCache, NameFilter};
use probe_train::data::Dataset;
use probe_train::ensemble::{evaluate_ensemble, evaluate_fused, EnsembleMlp, EnsembleTrainer};
use probe_train::fused::FusedMlp;
use probe_train::trainer::{DeviceData, Epoch};
use rayon::prelude::*;

use super::{trained, EpochArgs, EpochOut, Layers, Step, EVAL_CHUNK};
use crate::capture::{in_chunks, ProbeSet, CHUNK};
use crate::error::{Context, Result};

/// N seeds of one MLP.
pub struct Ensemble {
    /// The batched model (also the parameters' home on the fused path).
    pub model: EnsembleMlp,
    /// One shuffle stream per seed.
    pub trainer: EnsembleTrainer,
    /// The seeds, in replica order.
    pub seeds: Vec<u64>,
    /// The fused replicas (empty on the candle path).
    pub reps: Vec<FusedMlp>,
    /// Whether `reps` hold the current parameters.
    pub loaded: bool,
    /// Training data on the model's device (candle path).
    pub train_d: DeviceData,
    /// Test data on the model's device (candle path).
    pub test_d: DeviceData,
    /// Host training set (fused path).
    pub train: Dataset,
    /// Host test set (fused path).
    pub test: Dataset,
}

impl Step for Ensemble {
    fn seeds(&self) -> &[u64] {
        &self.seeds
    }
    fn named_vars(&self) -> Vec<(String, Var)> {
        self.model.named_vars()
    }
    fn grad_replicas(&self) -> Option<usize> {
        Some(self.seeds.len())
    }
    fn epoch(&mut self, args: EpochArgs) -> Result<Epoch<EpochOut>> {
        let (train, test) = if self.reps.is_empty() {
            let tr = trained!(self.trainer.epoch_ctl(
                args.epoch,
                &self.model,
                args.opt,
                &self.train_d,
                args.grads,
                args.ctl
            )?);
            (
                tr,
                evaluate_ensemble(&self.model, &self.test_d, EVAL_CHUNK)?,
            )
        } else {
            let opt = args.opt;
            let vars: Vec<Var> = self.named_vars().into_iter().map(|(_, v)| v).collect();
            if !self.loaded {
                FusedMlp::load_replicas(&mut self.reps, &vars, opt)?;
                self.loaded = true;
            }
            let g = args.grads.map(|g| (g, &vars[..]));
            let out = self.trainer.epoch_fused_ctl(
                args.epoch,
                &mut self.reps,
                &self.seeds,
                &self.train,
                g,
                args.ctl,
            )?;
            // Paused or not, the vars and the optimiser take the state after the last batch.
            FusedMlp::store_replicas(&self.reps, &vars, opt)?;
            let tr = trained!(out);
            (tr, evaluate_fused(&mut self.reps, &self.test)?)
        };
        Ok(Epoch::Done(EpochOut::plain(train, test)))
    }

    /// Every replica's activations. On the fused path each replica is captured by its fused
    /// loops, as the single run of its seed is ([`FusedMlp::hook`]), the replicas in parallel;
    /// otherwise (or for a hook the fused loops do not keep) one forward pass of the batched
    /// model per chunk of [`CHUNK`] probe samples gives `[N, n, width]` per hook, split by
    /// replica.
    fn capture(&self, probe: &ProbeSet, hooks: &[String]) -> Result<Vec<Layers>> {
        let fused = self.reps.first().is_some_and(|f| {
            NameFilter::new(hooks).is_ok_and(|filter| f.can_hook(&ActivationCache::new(filter)))
        });
        match fused {
            true => (self.reps.par_iter().enumerate())
                .map(|(r, rep)| self.capture_replica(r, rep, probe, hooks))
                .collect(),
            false => self.capture_batched(probe, hooks),
        }
    }
    fn streams(&self) -> Result<Vec<String>> {
        Ok(self.trainer.shuffle_states())
    }
    fn restore_streams(&mut self, streams: &[String]) -> Result<()> {
        Ok(self.trainer.restore_shuffle_states(streams)?)
    }
    fn weights(&self) -> Result<Vec<Vec<u8>>> {
        (0..self.seeds.len())
            .map(|r| Ok(self.model.replica_bytes(r)?))
            .collect()
    }
}

impl Ensemble {
    /// Replica `r`'s activations by its fused loops `rep`, with its slice of the stacked
    /// parameters.
    fn capture_replica(
        &self,
        r: usize,
        rep: &FusedMlp,
        probe: &ProbeSet,
        hooks: &[String],
    ) -> Result<Layers> {
        let params: Vec<Tensor> = (self.model.replica_tensors(r)?.into_iter())
            .map(|(_, t)| t)
            .collect();
        let cache = ActivationCache::new(NameFilter::new(hooks)?);
        in_chunks(probe, hooks, cache, |x, c| Ok(rep.hook(&params, x, c)?))
    }

    /// Every replica's activations by the batched model's forward passes.
    fn capture_batched(&self, probe: &ProbeSet, hooks: &[String]) -> Result<Vec<Layers>> {
        let x = &probe.x;
        let n = x.dim(0)?;
        let mut parts: Vec<Vec<Tensor>> = vec![Vec::new(); hooks.len()];
        let mut start = 0;
        while start < n {
            let len = CHUNK.min(n - start);
            let mut cache = ActivationCache::new(NameFilter::new(hooks)?);
            self.model
                .forward(&x.narrow(0, start, len)?, Some(&mut cache))?;
            for (h, p) in hooks.iter().zip(parts.iter_mut()) {
                p.push(
                    cache
                        .take(h)?
                        .with_context(|| format!("hook point {h} produced no activation"))?,
                );
            }
            start += len;
        }
        let stacked: Vec<(String, Tensor)> = hooks
            .iter()
            .zip(parts)
            .map(|(h, p)| Ok((h.clone(), Tensor::cat(&p, 1)?)))
            .collect::<Result<_>>()?;
        (0..self.seeds.len())
            .map(|r| {
                stacked
                    .iter()
                    .map(|(h, t)| Ok((h.clone(), t.get(r)?)))
                    .collect()
            })
            .collect()
    }
}
