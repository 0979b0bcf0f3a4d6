//! A convolutional classifier: blocks `conv → [batch norm] → activation → [pool]`, then fully
//! connected layers (dropout on each one's input), the last giving the logits.
//!
//! Hook points, for conv block i and fully connected layer j (the last, J, is the output layer):
//! - `convs.{i}.hook_pre`: the convolution (batch-normalised if enabled) before the activation,
//!   `[batch, C_i, H_i, W_i]`;
//! - `convs.{i}.hook_post`: after the activation and the pooling, `[batch, C_i, H_i/p, W_i/p]`;
//! - `fc.{j}.hook_pre`: the affine output `[batch, width_j]` (for j = J: the logits);
//! - `fc.{j}.hook_post`: its activation `[batch, width_j]` (for j = J: the softmax probabilities).
//!
//! Parameters (PyTorch names): `convs.{i}.weight [C_i, C_{i−1}, k, k]`, `convs.{i}.bias` (absent
//! with batch norm, which would cancel it), `bns.{i}.weight/bias` and the buffers
//! `bns.{i}.running_mean/running_var`, `fc.{j}.weight [out, in]`, `fc.{j}.bias`. Initialisation is
//! PyTorch's default (uniform ±1/√fan_in, fan_in = C·k·k for a convolution) or truncated normal.

use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor, Var};

use super::eval_chunks::{mode_forward, Mode};
use super::layers::bias_relu::bias_relu_cm;
use super::layers::conv::Conv2d;
use super::layers::dropout::Dropout;
use super::layers::linear::Linear;
use super::layers::norm::BatchNorm;
use super::layers::param::ParamInit;
use super::layers::pool::{pool2d, PoolType};
use super::layers::Hooks;
use super::{check_classes, check_hidden_widths, Activation, Init, Model};
use crate::rng::{self, Stream};
use crate::{Error, Result};

/// One convolution block.
#[derive(Clone, Debug, PartialEq)]
pub struct ConvSpec {
    /// Output channels.
    pub channels: usize,
    /// Square kernel size.
    pub kernel: usize,
    /// Stride.
    pub stride: usize,
    /// Zero padding on each side.
    pub padding: usize,
    /// Non-overlapping pooling window after the activation (1: none).
    pub pool: usize,
}

/// The shape and settings of a CNN.
#[derive(Clone, Debug, PartialEq)]
pub struct CnnSpec {
    /// Input images `(C, H, W)`; a row of the data holds `C·H·W` values in that order.
    pub image: (usize, usize, usize),
    /// The convolution blocks, in order (at least one).
    pub convs: Vec<ConvSpec>,
    /// How pooling windows are reduced.
    pub pool_type: PoolType,
    /// Hidden fully connected widths (may be empty).
    pub fc: Vec<usize>,
    /// Number of classes.
    pub classes: usize,
    /// Non-linearity of every block and hidden layer.
    pub activation: Activation,
    /// Batch norm after every convolution.
    pub batch_norm: bool,
    /// Dropout probability on the input of every fully connected layer.
    pub dropout: f64,
    /// Weight initialisation.
    pub init: Init,
}

impl CnnSpec {
    /// `(C, H, W)` after each block, checking that every kernel and pool fits.
    pub fn shapes(&self) -> Result<Vec<(usize, usize, usize)>> {
        let (mut c, mut h, mut w) = self.image;
        if c * h * w == 0 {
            return Err(Error::invalid(
                "model.image",
                format!("{c}×{h}×{w} has no pixels"),
            ));
        }
        let mut out = Vec::with_capacity(self.convs.len());
        for (i, s) in self.convs.iter().enumerate() {
            if s.channels == 0 || s.kernel == 0 || s.stride == 0 || s.pool == 0 {
                return Err(Error::invalid(
                    "model",
                    format!("conv block {i}: channels, kernel, stride and pool must be at least 1 ({s:?})"),
                ));
            }
            if h + 2 * s.padding < s.kernel || w + 2 * s.padding < s.kernel {
                return Err(Error::invalid(
                    "model.kernel",
                    format!("conv block {i}: a {k}×{k} kernel does not fit the {h}×{w} map (padding {p}); use a smaller kernel, more padding or fewer blocks", k = s.kernel, p = s.padding),
                ));
            }
            c = s.channels;
            h = (h + 2 * s.padding - s.kernel) / s.stride + 1;
            w = (w + 2 * s.padding - s.kernel) / s.stride + 1;
            if h / s.pool == 0 || w / s.pool == 0 {
                return Err(Error::invalid(
                    "model.pool",
                    format!("conv block {i}: a {p}×{p} pool does not fit the {h}×{w} map; use a smaller pool or fewer blocks", p = s.pool),
                ));
            }
            h /= s.pool;
            w /= s.pool;
            out.push((c, h, w));
        }
        Ok(out)
    }
}

#[derive(Debug)]
struct Block {
    conv: Conv2d,
    bn: Option<BatchNorm>,
    pool: usize,
}

/// A CNN with hook points on every block and layer.
#[derive(Debug)]
pub struct Cnn {
    image: (usize, usize, usize),
    blocks: Vec<Block>,
    fc: Vec<Linear>,
    dropout: Dropout,
    activation: Activation,
    pool_type: PoolType,
    /// Train/eval switch; in evaluation the pass runs in slices sized by the elements per
    /// sample of its largest tensor (an `im2col` matrix or a convolution's output).
    mode: Mode,
}

impl Cnn {
    /// Builds the CNN on `device`: weights from the `Init` stream of `seed`, dropout masks from
    /// its `Dropout` stream.
    pub fn new(spec: &CnnSpec, seed: u64, device: &Device) -> Result<Self> {
        if spec.convs.is_empty() {
            return Err(Error::invalid(
                "model.channels",
                "a CNN needs at least one convolution block, e.g. channels = [16, 32]",
            ));
        }
        check_classes(spec.classes)?;
        check_hidden_widths("model.fc", &spec.fc)?;
        let shapes = spec.shapes()?;
        let mut rng = rng::stream(seed, Stream::Init);
        let mut p = ParamInit::new(&mut rng, spec.init, device);
        let mut blocks = Vec::with_capacity(spec.convs.len());
        let (mut c_in, mut h_in, mut w_in) = spec.image;
        let mut eval_elems = c_in * h_in * w_in;
        for (s, &(_, h_pool, w_pool)) in spec.convs.iter().zip(&shapes) {
            let h_out = (h_in + 2 * s.padding - s.kernel) / s.stride + 1;
            let w_out = (w_in + 2 * s.padding - s.kernel) / s.stride + 1;
            let cols = c_in * s.kernel * s.kernel * h_out * w_out;
            eval_elems = eval_elems.max(cols).max(s.channels * h_out * w_out);
            (h_in, w_in) = (h_pool, w_pool);
            let conv = Conv2d::new(
                &mut p,
                c_in,
                s.channels,
                s.kernel,
                s.stride,
                s.padding,
                !spec.batch_norm,
            )?;
            let bn = if spec.batch_norm {
                Some(BatchNorm::new(&p, s.channels)?)
            } else {
                None
            };
            blocks.push(Block {
                conv,
                bn,
                pool: s.pool,
            });
            c_in = s.channels;
        }
        let (c, h, w) = shapes[shapes.len() - 1];
        let mut widths = vec![c * h * w];
        widths.extend(&spec.fc);
        widths.push(spec.classes);
        let fc = widths
            .windows(2)
            .map(|w| Linear::new(&mut p, w[0], w[1], true))
            .collect::<Result<Vec<_>>>()?;
        let dropout = Dropout::new(
            spec.dropout,
            Arc::new(Mutex::new(rng::stream(seed, Stream::Dropout))),
        )?;
        Ok(Self {
            image: spec.image,
            blocks,
            fc,
            dropout,
            activation: spec.activation,
            pool_type: spec.pool_type,
            mode: Mode::new(eval_elems),
        })
    }
}

impl Cnn {
    /// The forward pass over all rows of `x` at once, reporting to `hooks`.
    fn forward_all(&self, x: &Tensor, mut hooks: Hooks<'_>, training: bool) -> Result<Tensor> {
        let (c, h, w) = self.image;
        let b = x.dim(0)?;
        // Maps are kept channel-major, [C, batch, H, W] (see layers::conv); hooks report them as
        // [batch, C, H, W], transposed only when captured.
        let mut t = x.reshape((b, c, h, w))?.transpose(0, 1)?.contiguous()?; // [C, batch, H, W]
        let nchw = |t: &Tensor| -> Result<Tensor> { Ok(t.transpose(0, 1)?.contiguous()?) };
        for (i, blk) in self.blocks.iter().enumerate() {
            let act = match (&blk.bn, &blk.conv.bias, self.activation) {
                // conv → bias + ReLU as one op (`layers::bias_relu`); the pre-activation is
                // computed only when a hook selects it.
                (None, Some(bias), Activation::Relu) => {
                    let y = blk.conv.forward_cm_no_bias(&t)?; // [C_i, batch, H_i, W_i]
                    let b = bias.as_tensor();
                    hooks.hook_with(&format!("convs.{i}.hook_pre"), || {
                        nchw(&blk.conv.add_bias_cm(&y, b)?)
                    })?;
                    bias_relu_cm(&y, b)?
                }
                _ => {
                    let mut pre = blk.conv.forward_cm(&t)?; // [C_i, batch, H_i, W_i]
                    if let Some(bn) = &blk.bn {
                        pre = bn.forward_cm(&pre, training)?;
                    }
                    // [batch, C_i, H_i, W_i]
                    hooks.hook_with(&format!("convs.{i}.hook_pre"), || nchw(&pre))?;
                    self.activation.apply(&pre)?
                }
            };
            let post = pool2d(&act, blk.pool, self.pool_type)?; // [C_i, batch, H_i/p, W_i/p]
                                                                // [batch, C_i, H_i/p, W_i/p]
            hooks.hook_with(&format!("convs.{i}.hook_post"), || nchw(&post))?;
            t = post;
        }
        let mut t = nchw(&t)?.flatten_from(1)?; // [batch, C·H·W], PyTorch's flattening order
        let last = self.fc.len() - 1;
        for (j, layer) in self.fc.iter().enumerate() {
            let pre = layer.forward(&self.dropout.forward(&t, training)?)?; // [batch, width_j]
            hooks.hook(|| format!("fc.{j}.hook_pre"), &pre)?;
            if j == last {
                // [batch, classes]
                hooks.hook_with(&format!("fc.{j}.hook_post"), || {
                    Ok(candle_nn::ops::softmax(&pre, 1)?)
                })?;
                return Ok(pre);
            }
            let post = self.activation.apply(&pre)?; // [batch, width_j]
            hooks.hook(|| format!("fc.{j}.hook_post"), &post)?;
            t = post;
        }
        Err(Error::invalid("model", "the CNN has no output layer"))
    }
}

impl Model for Cnn {
    mode_forward!();

    fn hook_names(&self) -> Vec<String> {
        let convs = (0..self.blocks.len()).flat_map(|i| {
            [
                format!("convs.{i}.hook_pre"),
                format!("convs.{i}.hook_post"),
            ]
        });
        let fc = (0..self.fc.len())
            .flat_map(|j| [format!("fc.{j}.hook_pre"), format!("fc.{j}.hook_post")]);
        convs.chain(fc).collect()
    }

    fn named_vars(&self) -> Vec<(String, Var)> {
        let mut v = Vec::new();
        for (i, blk) in self.blocks.iter().enumerate() {
            v.extend(blk.conv.named_vars(&format!("convs.{i}")));
            if let Some(bn) = &blk.bn {
                v.extend(bn.named_vars(&format!("bns.{i}")));
            }
        }
        for (j, l) in self.fc.iter().enumerate() {
            v.extend(l.named_vars(&format!("fc.{j}")));
        }
        v
    }

    fn named_buffers(&self) -> Vec<(String, Var)> {
        self.blocks
            .iter()
            .enumerate()
            .filter_map(|(i, blk)| {
                blk.bn
                    .as_ref()
                    .map(|bn| bn.named_buffers(&format!("bns.{i}")))
            })
            .flatten()
            .collect()
    }

    fn stream_state(&self) -> Result<Option<String>> {
        Ok(Some(self.dropout.stream_state()?))
    }

    fn restore_stream_state(&self, state: &str) -> Result<()> {
        self.dropout.restore_stream_state(state)
    }
}
