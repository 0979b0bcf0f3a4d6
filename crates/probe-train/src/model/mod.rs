//! Models with named hook points.
//!
//! Every model maps a batch of inputs `[batch, ...]` to logits `[batch, classes]` and, when given an
//! [`ActivationCache`], reports its intermediate tensors at named hook points on the way (names in
//! the TransformerLens style, e.g. `layers.0.hook_post`).

mod activation;
mod mlp;

pub use activation::{Activation, Init};
pub use mlp::{Mlp, MlpSpec};

use candle_core::{Tensor, Var};
use probe_capture::ActivationCache;

use crate::Result;

/// A trainable classifier with hook points.
pub trait Model {
    /// Logits `[batch, classes]` for `x`; hook points are reported to `cache` when it is given.
    fn forward(&self, x: &Tensor, cache: Option<&mut ActivationCache>) -> Result<Tensor>;
    /// Every hook point name, in forward order.
    fn hook_names(&self) -> Vec<String>;
    /// The trainable parameters with their checkpoint names (PyTorch's `state_dict` names).
    fn named_vars(&self) -> Vec<(String, Var)>;
}
