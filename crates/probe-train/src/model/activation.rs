//! Activation functions and weight initialisations.

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::Result;

/// A hidden-layer non-linearity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// Hyperbolic tangent (Tishby's networks).
    Tanh,
    /// max(0, x).
    Relu,
    /// 1 / (1 + e^-x).
    Sigmoid,
    /// GELU with the exact erf form (PyTorch's default `nn.GELU()`).
    Gelu,
    /// The identity (a linear network).
    Linear,
}

impl Activation {
    /// Every activation, in declaration order (for tests and sweeps over all of them).
    pub const ALL: [Activation; 5] = [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::Linear,
    ];

    /// Applies the activation; differentiable.
    pub fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Tanh => super::layers::fast_tanh::tanh(x)?,
            Activation::Relu => super::layers::relu::relu(x)?,
            Activation::Sigmoid => candle_nn::ops::sigmoid(x)?,
            Activation::Gelu => super::layers::gelu::gelu_erf(x)?,
            Activation::Linear => x.clone(),
        })
    }
}

/// How weights and biases are initialised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// The framework default, as PyTorch's `nn.Linear`: weights and biases uniform in
    /// ±1/√fan_in.
    Default,
    /// IDNNs: weights truncated normal (±2σ) with σ = 1/√fan_in, biases zero.
    TruncatedNormal,
}
