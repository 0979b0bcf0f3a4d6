//! Parameter creation from the run's `Init` random stream, with PyTorch's default rules, so a
//! model built here starts from the same distribution as its PyTorch twin.
//!
//! - `Init::Default`: weights and biases uniform in ±1/√fan_in — what `nn.Linear`, `nn.Conv2d`
//!   (fan_in = C·kh·kw) and `nn.LSTM`/`nn.GRU` (bound 1/√hidden, passed as fan_in = hidden) do.
//! - `Init::TruncatedNormal`: weights normal with σ = 1/√fan_in redrawn beyond 2σ, biases 0.
//!
//! Draws happen in the order parameters are created, so a model's construction order fixes its
//! initial weights for a seed.

use candle_core::{DType, Device, Shape, Tensor, Var};
use rand_chacha::ChaCha8Rng;

use crate::model::Init;
use crate::rng;
use crate::Result;

/// Creates parameters from one random stream.
pub struct ParamInit<'a> {
    rng: &'a mut ChaCha8Rng,
    init: Init,
    device: &'a Device,
    dtype: DType,
}

impl<'a> ParamInit<'a> {
    /// Parameters drawn from `rng` with the rule `init`, placed on `device` in f32.
    pub fn new(rng: &'a mut ChaCha8Rng, init: Init, device: &'a Device) -> Self {
        Self {
            rng,
            init,
            device,
            dtype: DType::F32,
        }
    }

    /// Creates parameters of `dtype` instead (the values are drawn in f32 first; the
    /// finite-difference tests build layers in f64).
    pub fn with_dtype(mut self, dtype: DType) -> Self {
        self.dtype = dtype;
        self
    }

    /// The device parameters are created on.
    pub fn device(&self) -> &Device {
        self.device
    }

    fn var(&self, values: Vec<f32>, shape: impl Into<Shape>) -> Result<Var> {
        let t = Tensor::from_vec(values, shape, self.device)?.to_dtype(self.dtype)?;
        Ok(Var::from_tensor(&t)?)
    }

    /// A weight of `shape` whose layer has `fan_in` inputs.
    pub fn weight(&mut self, shape: impl Into<Shape>, fan_in: usize) -> Result<Var> {
        let shape = shape.into();
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let n = shape.elem_count();
        let values = match self.init {
            Init::Default => (0..n)
                .map(|_| rng::uniform(self.rng, bound) as f32)
                .collect(),
            Init::TruncatedNormal => (0..n)
                .map(|_| rng::truncated_normal(self.rng, bound) as f32)
                .collect(),
        };
        self.var(values, shape)
    }

    /// A bias of `n` values whose layer has `fan_in` inputs.
    pub fn bias(&mut self, n: usize, fan_in: usize) -> Result<Var> {
        let bound = 1.0 / (fan_in.max(1) as f64).sqrt();
        let values = match self.init {
            Init::Default => (0..n)
                .map(|_| rng::uniform(self.rng, bound) as f32)
                .collect(),
            Init::TruncatedNormal => vec![0.0; n],
        };
        self.var(values, n)
    }

    /// Normal values with standard deviation `std` (ViT's positional embedding and CLS token,
    /// σ = 0.02), whatever the `Init` rule.
    pub fn normal(&mut self, shape: impl Into<Shape>, std: f64) -> Result<Var> {
        let shape = shape.into();
        let values = (0..shape.elem_count())
            .map(|_| (rng::standard_normal(self.rng) * std) as f32)
            .collect();
        self.var(values, shape)
    }

    /// Every value `value` (layer- and batch-norm scales 1, shifts 0), drawing nothing.
    pub fn constant(&self, shape: impl Into<Shape>, value: f32) -> Result<Var> {
        let shape = shape.into();
        self.var(vec![value; shape.elem_count()], shape)
    }
}

/// `(prefix.name, var)`, the naming of [`crate::model::Model::named_vars`].
pub fn named(prefix: &str, name: &str, var: &Var) -> (String, Var) {
    (format!("{prefix}.{name}"), var.clone())
}
