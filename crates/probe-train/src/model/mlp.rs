//! The multi-layer perceptron: `input → hidden[0] → … → hidden[L-1] → classes`, with one
//! activation on every hidden layer and a softmax on the output.
//!
//! Hook points, for layer i in 0..=L (layer L is the output layer):
//! - `layers.{i}.hook_pre`: the affine output `x Wᵢᵀ + bᵢ`, `[batch, width_i]` (for i = L, the
//!   logits `[batch, classes]`);
//! - `layers.{i}.hook_post`: the activation of it, `[batch, width_i]`; for i = L the softmax
//!   probabilities `[batch, classes]`.
//!
//! Weights are stored as PyTorch does (`layers.{i}.weight` `[out, in]`, `layers.{i}.bias` `[out]`).

use super::layers::linear::linear;
use super::layers::rowwise::softmax_last;
use candle_core::{DType, Device, Tensor, Var};
use probe_capture::ActivationCache;

use super::{check_classes, check_hidden_widths, Activation, Init, Model};
use crate::rng::{self, Stream};
use crate::{Error, Result};

/// The shape and settings of an MLP.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpSpec {
    /// Features per input sample.
    pub input_dim: usize,
    /// Hidden layer widths, in order (may be empty: a linear classifier).
    pub hidden: Vec<usize>,
    /// Number of classes (output width).
    pub classes: usize,
    /// The hidden layers' non-linearity.
    pub activation: Activation,
    /// Weight initialisation.
    pub init: Init,
}

/// A multi-layer perceptron with hook points on every layer.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<(Var, Var)>,
    activation: Activation,
}

impl Mlp {
    /// Builds the MLP on `device` with weights drawn from the `Init` stream of `seed`.
    pub fn new(spec: &MlpSpec, seed: u64, device: &Device) -> Result<Self> {
        if spec.input_dim == 0 {
            return Err(Error::invalid("model", "the input has no features"));
        }
        check_classes(spec.classes)?;
        check_hidden_widths("model.hidden", &spec.hidden)?;
        let mut rng = rng::stream(seed, Stream::Init);
        let mut widths = vec![spec.input_dim];
        widths.extend(&spec.hidden);
        widths.push(spec.classes);
        let mut layers = Vec::with_capacity(widths.len() - 1);
        for w in widths.windows(2) {
            let (fan_in, fan_out) = (w[0], w[1]);
            let bound = 1.0 / (fan_in as f64).sqrt();
            let (weight, bias): (Vec<f32>, Vec<f32>) = match spec.init {
                Init::Default => (
                    (0..fan_in * fan_out)
                        .map(|_| rng::uniform(&mut rng, bound) as f32)
                        .collect(),
                    (0..fan_out)
                        .map(|_| rng::uniform(&mut rng, bound) as f32)
                        .collect(),
                ),
                Init::TruncatedNormal => (
                    (0..fan_in * fan_out)
                        .map(|_| rng::truncated_normal(&mut rng, bound) as f32)
                        .collect(),
                    vec![0.0; fan_out],
                ),
            };
            let weight = Tensor::from_vec(weight, (fan_out, fan_in), device)?;
            let bias = Tensor::from_vec(bias, fan_out, device)?;
            layers.push((Var::from_tensor(&weight)?, Var::from_tensor(&bias)?));
        }
        Ok(Self {
            layers,
            activation: spec.activation,
        })
    }

    /// Number of linear layers (hidden layers + the output layer).
    pub fn num_layers(&self) -> usize {
        self.layers.len()
    }
}

impl Model for Mlp {
    fn forward(&self, x: &Tensor, mut cache: Option<&mut ActivationCache>) -> Result<Tensor> {
        let last = self.layers.len() - 1;
        let mut h = x.to_dtype(DType::F32)?;
        for (i, (w, b)) in self.layers.iter().enumerate() {
            let pre = linear(&h, w.as_tensor(), Some(b.as_tensor()))?; // [batch, out]
            if i == last {
                if let Some(c) = cache.as_deref_mut() {
                    c.hook(&format!("layers.{i}.hook_pre"), &pre)?;
                    // One pass per row on the CPU; the same operations in the same order as
                    // candle's composed softmax (max, exp of the difference, sum from 0, divide).
                    let probs = match pre.device().is_cpu() {
                        true => softmax_last(&pre)?,
                        false => candle_nn::ops::softmax(&pre, 1)?,
                    }; // [batch, classes]
                    c.hook(&format!("layers.{i}.hook_post"), &probs)?;
                }
                return Ok(pre);
            }
            let post = self.activation.apply(&pre)?; // [batch, out]
            if let Some(c) = cache.as_deref_mut() {
                c.hook(&format!("layers.{i}.hook_pre"), &pre)?;
                c.hook(&format!("layers.{i}.hook_post"), &post)?;
            }
            h = post;
        }
        Err(Error::invalid("model", "the MLP has no layers"))
    }

    fn hook_names(&self) -> Vec<String> {
        (0..self.layers.len())
            .flat_map(|i| {
                [
                    format!("layers.{i}.hook_pre"),
                    format!("layers.{i}.hook_post"),
                ]
            })
            .collect()
    }

    fn named_vars(&self) -> Vec<(String, Var)> {
        mlp_named_vars(&self.layers)
    }
}

/// `(weight, bias)` pairs under the MLP's names, `layers.{i}.weight` and `layers.{i}.bias`
/// (also those of a stacked MLP ensemble, whose checkpoints use the same names).
pub(crate) fn mlp_named_vars(layers: &[(Var, Var)]) -> Vec<(String, Var)> {
    layers
        .iter()
        .enumerate()
        .flat_map(|(i, (w, b))| {
            [
                (format!("layers.{i}.weight"), w.clone()),
                (format!("layers.{i}.bias"), b.clone()),
            ]
        })
        .collect()
}
