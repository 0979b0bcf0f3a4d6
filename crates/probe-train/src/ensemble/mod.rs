//! Seed ensembles as one batched model: N replicas of an MLP with stacked weights
//! (`layers.{i}.weight` `[N, out, in]`, `layers.{i}.bias` `[N, out]`) trained with batched
//! matmuls, so N seeds cost one pass of N-times-wider tensors instead of N runs.
//!
//! Replica r is the MLP of seed `seeds[r]`: its initial weights are exactly those of
//! [`Mlp::new`] with that seed, it reads its own shuffle stream, and every operation is laid out so
//! that on the CPU its arithmetic is the arithmetic of the same seed trained alone (batched gemm runs
//! one gemm per replica with the same shapes and strides; reductions keep their order). The test
//! `ensemble_replicas_equal_single_runs` checks weights and metrics bit for bit.
//!
//! Inputs are `[N, batch, in]` (or one `[batch, in]` set broadcast to every replica); logits are
//! `[N, batch, classes]`. Hook points are the MLP's, with the replica axis first:
//! `layers.{i}.hook_pre` / `layers.{i}.hook_post`, `[N, batch, width_i]`.

mod trainer;

pub use trainer::{evaluate_ensemble, evaluate_fused, EnsembleTrainer};

use candle_core::{DType, Device, Tensor, Var};
use probe_capture::ActivationCache;

use crate::model::{mlp_named_vars, Activation, Mlp, MlpSpec, Model};
use crate::{Error, Result};

/// N replicas of one MLP shape, each with its own seed.
#[derive(Debug)]
pub struct EnsembleMlp {
    /// (weight `[N, out, in]`, bias `[N, out]`) per layer.
    layers: Vec<(Var, Var)>,
    activation: Activation,
    seeds: Vec<u64>,
}

impl EnsembleMlp {
    /// Replicas of `spec` with the initial weights of [`Mlp::new`] for each of `seeds`.
    pub fn new(spec: &MlpSpec, seeds: &[u64], device: &Device) -> Result<Self> {
        if seeds.is_empty() {
            return Err(Error::invalid(
                "repeats",
                "0; an ensemble needs at least one seed",
            ));
        }
        let singles = seeds
            .iter()
            .map(|&s| Mlp::new(spec, s, &Device::Cpu))
            .collect::<Result<Vec<_>>>()?;
        let per_model: Vec<Vec<(String, Var)>> = singles.iter().map(|m| m.named_vars()).collect();
        let n_vars = per_model[0].len();
        let mut stacked = Vec::with_capacity(n_vars);
        for i in 0..n_vars {
            let parts: Vec<Tensor> = per_model
                .iter()
                .map(|vars| vars[i].1.as_tensor().clone())
                .collect();
            stacked.push(Var::from_tensor(
                &Tensor::stack(&parts, 0)?.to_device(device)?,
            )?);
        }
        let layers = stacked
            .chunks(2)
            .map(|wb| (wb[0].clone(), wb[1].clone()))
            .collect();
        Ok(Self {
            layers,
            activation: spec.activation,
            seeds: seeds.to_vec(),
        })
    }

    /// Number of replicas.
    pub fn replicas(&self) -> usize {
        self.seeds.len()
    }

    /// The replicas' seeds, in replica order.
    pub fn seeds(&self) -> &[u64] {
        &self.seeds
    }

    /// Logits `[N, batch, classes]` for `x` `[N, batch, in]` or `[batch, in]` (the same inputs for
    /// every replica); hook points go to `cache` when given.
    pub fn forward(&self, x: &Tensor, mut cache: Option<&mut ActivationCache>) -> Result<Tensor> {
        let n = self.replicas();
        let x = x.to_dtype(DType::F32)?;
        let mut h = match x.rank() {
            2 => {
                let (b, d) = x.dims2()?;
                x.unsqueeze(0)?.broadcast_as((n, b, d))?
            }
            3 => x,
            r => {
                return Err(Error::invalid(
                    "ensemble input",
                    format!("rank {r}; expected [N, batch, in] or [batch, in]"),
                ))
            }
        };
        let last = self.layers.len() - 1;
        for (i, (w, b)) in self.layers.iter().enumerate() {
            // The single MLP computes h·Wᵀ + b; per replica this is the same gemm.
            let pre = h
                .matmul(&w.as_tensor().t()?)?
                .broadcast_add(&b.as_tensor().unsqueeze(1)?)?; // [N, batch, out]
            if i == last {
                if let Some(c) = cache.as_deref_mut() {
                    c.hook(&format!("layers.{i}.hook_pre"), &pre)?;
                    let probs = candle_nn::ops::softmax(&pre, 2)?; // [N, batch, classes]
                    c.hook(&format!("layers.{i}.hook_post"), &probs)?;
                }
                return Ok(pre);
            }
            let post = self.activation.apply(&pre)?; // [N, batch, out]
            if let Some(c) = cache.as_deref_mut() {
                c.hook(&format!("layers.{i}.hook_pre"), &pre)?;
                c.hook(&format!("layers.{i}.hook_post"), &post)?;
            }
            h = post;
        }
        Err(Error::invalid("model", "the MLP has no layers"))
    }

    /// Every hook point name, in forward order (the MLP's names).
    pub fn hook_names(&self) -> Vec<String> {
        (0..self.layers.len())
            .flat_map(|i| {
                [
                    format!("layers.{i}.hook_pre"),
                    format!("layers.{i}.hook_post"),
                ]
            })
            .collect()
    }

    /// The stacked parameters under the MLP's names (each with the replica axis first).
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        mlp_named_vars(&self.layers)
    }

    /// Replica `r`'s parameters under the MLP's names, as a single run of its seed has them.
    pub fn replica_tensors(&self, r: usize) -> Result<Vec<(String, Tensor)>> {
        if r >= self.replicas() {
            return Err(Error::invalid(
                "replica",
                format!("{r}; the ensemble has {} replicas", self.replicas()),
            ));
        }
        self.named_vars()
            .into_iter()
            .map(|(name, v)| Ok((name, v.as_tensor().get(r)?.contiguous()?)))
            .collect()
    }

    /// The safetensors bytes of replica `r`'s weights: the same file a single run of its seed
    /// writes as `model.safetensors`.
    pub fn replica_bytes(&self, r: usize) -> Result<Vec<u8>> {
        crate::checkpoint::tensors_to_bytes(&self.replica_tensors(r)?)
    }
}
