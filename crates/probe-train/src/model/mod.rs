//! Models with named hook points.
//!
//! Every model maps a batch of flattened inputs `[batch, features]` to logits `[batch, classes]`
//! and, when given an [`ActivationCache`], reports its intermediate tensors at named hook points on
//! the way (TransformerLens's naming: `layers.0.hook_post`, `blocks.1.attn.hook_pattern`, …).
//! Image models reshape the rows to `[batch, C, H, W]` themselves. The hook points of every model
//! are tabulated in `docs/hooks.md`.
//!
//! - [`Mlp`]: fully connected layers.
//! - [`Cnn`]: convolution / pooling blocks, then fully connected layers; optional batch norm and
//!   dropout.
//! - [`Transformer`]: a ViT-style encoder classifier (patch or row tokens, CLS or mean pooling).
//! - [`Rnn`]: an LSTM or GRU reading an image row by row.
//!
//! Validation happens once. A spec's settings (widths, block sizes, heads, dropout) are checked
//! where the user wrote them, by probe-run's config parser, with errors naming the TOML key;
//! constructors do not check them again. They check only what the config cannot know: the
//! number of classes and the image size that come from the data, and whether every kernel, pool
//! and patch fits that image (a geometry that would otherwise divide by zero or go negative).

mod activation;
mod cnn;
pub mod layers;
mod mlp;
mod rnn;
mod transformer;

pub use activation::{Activation, Init};
pub use cnn::{Cnn, CnnSpec, ConvSpec};
pub use layers::pool::PoolType;
pub use layers::recurrent::CellKind;
pub(crate) use mlp::mlp_named_vars;
pub use mlp::{Mlp, MlpSpec};
pub use rnn::{Rnn, RnnSpec};
pub use transformer::{Pooling, Tokens, Transformer, TransformerSpec};

use candle_core::{Tensor, Var};
use probe_capture::ActivationCache;

use crate::{Error, Result};

/// Checks that a classifier has at least 2 classes (every model ends in a softmax over them).
pub(crate) fn check_classes(classes: usize) -> Result<()> {
    if classes < 2 {
        return Err(Error::invalid(
            "model",
            format!("a classifier needs at least 2 classes, the data has {classes}"),
        ));
    }
    Ok(())
}

/// A trainable classifier with hook points.
pub trait Model {
    /// Logits `[batch, classes]` for `x`; hook points are reported to `cache` when it is given.
    fn forward(&self, x: &Tensor, cache: Option<&mut ActivationCache>) -> Result<Tensor>;
    /// Every hook point name, in forward order.
    fn hook_names(&self) -> Vec<String>;
    /// The trainable parameters with their checkpoint names (PyTorch's `state_dict` names).
    fn named_vars(&self) -> Vec<(String, Var)>;
    /// Model state that is saved with the weights but not trained (batch norm's
    /// `running_mean`/`running_var`), under PyTorch's `state_dict` names. None by default.
    fn named_buffers(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
    /// Switches between training mode (`true`: dropout active, batch norm normalises with the
    /// batch's statistics and updates its running ones) and evaluation mode (`false`: dropout off,
    /// batch norm uses the running statistics), like PyTorch's `train()` / `eval()`. Models start
    /// in training mode; a model without dropout or batch norm ignores it.
    fn set_training(&self, _training: bool) {}
}

impl<M: Model + ?Sized> Model for Box<M> {
    fn forward(&self, x: &Tensor, cache: Option<&mut ActivationCache>) -> Result<Tensor> {
        (**self).forward(x, cache)
    }
    fn hook_names(&self) -> Vec<String> {
        (**self).hook_names()
    }
    fn named_vars(&self) -> Vec<(String, Var)> {
        (**self).named_vars()
    }
    fn named_buffers(&self) -> Vec<(String, Var)> {
        (**self).named_buffers()
    }
    fn set_training(&self, training: bool) {
        (**self).set_training(training)
    }
}
