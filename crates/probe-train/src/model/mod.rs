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
//! probe-run's config parser validates every setting where the user wrote it, with errors naming
//! the TOML key and line. Constructors still refuse the values that would make a model silently
//! wrong (a zero width gives infinite initial weights) or divide by zero, because a spec can also
//! be built in code; those guards are the only check of what comes from the data (the number of
//! classes, the image size and whether kernels, pools and patches fit it).

mod activation;
mod cnn;
pub mod eval_chunks;
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

/// Checks that every hidden width (the config key `key`) is at least 1.
pub(crate) fn check_hidden_widths(key: &str, widths: &[usize]) -> Result<()> {
    if let Some(i) = widths.iter().position(|&w| w == 0) {
        return Err(Error::invalid(
            key,
            format!("width {i} is 0; every hidden width must be at least 1"),
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
    /// The position of the model's own random stream (dropout masks) for a checkpoint; `None`
    /// for a model that draws no random numbers (the default).
    fn stream_state(&self) -> Result<Option<String>> {
        Ok(None)
    }
    /// Continues the model's random stream from a position saved by [`Model::stream_state`].
    fn restore_stream_state(&self, _state: &str) -> Result<()> {
        Ok(())
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
    fn stream_state(&self) -> Result<Option<String>> {
        (**self).stream_state()
    }
    fn restore_stream_state(&self, state: &str) -> Result<()> {
        (**self).restore_stream_state(state)
    }
    fn set_training(&self, training: bool) {
        (**self).set_training(training)
    }
}
