//! A recurrent classifier reading an image row by row ("sequential MNIST"): step t feeds row t
//! (`C·W` values, ordered channel, column) to a stack of LSTM or GRU layers; a linear head reads
//! the top layer's final hidden state. The state starts at zero.
//!
//! Hook points, for layer l and step t (T = image height, H = `hidden`):
//! - `rnn.{l}.steps.{t}.hook_h` `[B, H]`: the hidden state after step t;
//! - `rnn.{l}.steps.{t}.hook_c` `[B, H]`: the LSTM's cell state after step t (LSTM only);
//! - `rnn.{l}.hook_h_n` `[B, H]` (and `rnn.{l}.hook_c_n` for the LSTM): the final state, as
//!   PyTorch's `h_n`/`c_n` (equal to step T−1's);
//! - `head.hook_pre` `[B, classes]` (the logits) and `head.hook_post` (softmax probabilities).
//!
//! Parameters (PyTorch's `nn.LSTM`/`nn.GRU` names under `rnn`): `rnn.weight_ih_l{l} [G·H, in]`,
//! `rnn.weight_hh_l{l} [G·H, H]`, `rnn.bias_ih_l{l}`, `rnn.bias_hh_l{l}` (G = 4 or 3), and
//! `head.weight [classes, H]`, `head.bias`. Initialisation as PyTorch: every recurrent parameter
//! uniform in ±1/√H, the head like `nn.Linear`.

use candle_core::{Device, Tensor, Var};

use super::eval_chunks::{mode_forward, Mode};
use super::layers::linear::{linear, Linear};
use super::layers::param::ParamInit;
use super::layers::recurrent::{gru_step, lstm_step, CellKind};
use super::layers::Hooks;
use super::{check_classes, Init, Model};
use crate::rng::{self, Stream};
use crate::{Error, Result};

/// The shape and settings of a recurrent classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct RnnSpec {
    /// Input images `(C, H, W)`: H steps of `C·W` values.
    pub image: (usize, usize, usize),
    /// LSTM or GRU.
    pub cell: CellKind,
    /// Hidden units per layer.
    pub hidden: usize,
    /// Stacked layers.
    pub layers: usize,
    /// Number of classes.
    pub classes: usize,
}

#[derive(Debug)]
struct Layer {
    w_ih: Var,
    w_hh: Var,
    b_ih: Var,
    b_hh: Var,
}

/// An LSTM or GRU classifier with hook points on every step.
#[derive(Debug)]
pub struct Rnn {
    spec: RnnSpec,
    layers: Vec<Layer>,
    head: Linear,
    /// Train/eval switch; in evaluation the pass runs in slices sized by the elements per
    /// sample of its largest tensor (the input projection of every step).
    mode: Mode,
}

impl Rnn {
    /// Builds the model on `device` with weights from the `Init` stream of `seed`.
    pub fn new(spec: &RnnSpec, seed: u64, device: &Device) -> Result<Self> {
        let (c, h, w) = spec.image;
        if c * h * w == 0 {
            return Err(Error::invalid(
                "model",
                format!("the image {c}×{h}×{w} has no pixels"),
            ));
        }
        if spec.hidden == 0 {
            return Err(Error::invalid("model.hidden", "0; expected at least 1"));
        }
        if spec.layers == 0 {
            return Err(Error::invalid("model.layers", "0; expected at least 1"));
        }
        check_classes(spec.classes)?;
        let mut rng = rng::stream(seed, Stream::Init);
        // PyTorch draws every recurrent parameter uniform in ±1/√H.
        let mut p = ParamInit::new(&mut rng, Init::Default, device);
        let g = spec.cell.gates() * spec.hidden;
        let mut layers = Vec::with_capacity(spec.layers);
        for l in 0..spec.layers {
            let inp = if l == 0 { c * w } else { spec.hidden };
            layers.push(Layer {
                w_ih: p.weight((g, inp), spec.hidden)?,
                w_hh: p.weight((g, spec.hidden), spec.hidden)?,
                b_ih: p.bias(g, spec.hidden)?,
                b_hh: p.bias(g, spec.hidden)?,
            });
        }
        let head = Linear::new(&mut p, spec.hidden, spec.classes, true)?;
        let eval_elems = (c * h * w).max(h * g);
        Ok(Self {
            spec: spec.clone(),
            layers,
            head,
            mode: Mode::new(eval_elems),
        })
    }
}

impl Rnn {
    /// The forward pass over all rows of `x` at once, reporting to `hooks` (the same in both modes: no batch
    /// statistics, no dropout).
    fn forward_all(&self, x: &Tensor, mut hooks: Hooks<'_>, _training: bool) -> Result<Tensor> {
        let (c, h, w) = self.spec.image;
        let b = x.dim(0)?;
        let hd = self.spec.hidden;
        let lstm = self.spec.cell == CellKind::Lstm;
        // Step t reads image row t: [T, B, C·W], one contiguous [B, C·W] block per step.
        let rows = x
            .reshape((b, c, h, w))?
            .permute((2, 0, 1, 3))?
            .contiguous()?
            .reshape((h, b, c * w))?;
        let mut inputs = (0..h)
            .map(|t| rows.get(t))
            .collect::<candle_core::Result<Vec<_>>>()?; // T × [B, C·W]
        let mut last = None;
        for (l, layer) in self.layers.iter().enumerate() {
            let mut hs = Tensor::zeros((b, hd), x.dtype(), x.device())?;
            let mut cs = hs.clone();
            let mut outs = Vec::with_capacity(h);
            for (t, input) in inputs.iter().enumerate() {
                // Each step's input projection on its own: slicing one [B, T, G·H] projection of
                // all steps made every step's backward pad its gradient back to the whole
                // [B, T, G·H]; stepwise, a GRU training step took 36 % less CPU time (issue 20).
                let gx = linear(input, layer.w_ih.as_tensor(), Some(layer.b_ih.as_tensor()))?; // [B, G·H]
                if lstm {
                    let (h2, c2) = lstm_step(
                        &gx,
                        &hs,
                        &cs,
                        layer.w_hh.as_tensor(),
                        layer.b_hh.as_tensor(),
                    )?;
                    hs = h2; // [B, H]
                    cs = c2; // [B, H]
                    hooks.hook(|| format!("rnn.{l}.steps.{t}.hook_h"), &hs)?;
                    hooks.hook(|| format!("rnn.{l}.steps.{t}.hook_c"), &cs)?;
                } else {
                    hs = gru_step(&gx, &hs, layer.w_hh.as_tensor(), layer.b_hh.as_tensor())?; // [B, H]
                    hooks.hook(|| format!("rnn.{l}.steps.{t}.hook_h"), &hs)?;
                }
                if l + 1 < self.layers.len() {
                    outs.push(hs.clone());
                }
            }
            hooks.hook(|| format!("rnn.{l}.hook_h_n"), &hs)?;
            if lstm {
                hooks.hook(|| format!("rnn.{l}.hook_c_n"), &cs)?;
            }
            if l + 1 < self.layers.len() {
                inputs = outs; // T × [B, H]
            }
            last = Some(hs);
        }
        let last = last.ok_or_else(|| Error::invalid("model.layers", "the RNN has no layers"))?;
        hooks.classify(&self.head, &last)
    }
}

impl Model for Rnn {
    mode_forward!();

    fn hook_names(&self) -> Vec<String> {
        let lstm = self.spec.cell == CellKind::Lstm;
        let mut v = Vec::new();
        for l in 0..self.layers.len() {
            for t in 0..self.spec.image.1 {
                v.push(format!("rnn.{l}.steps.{t}.hook_h"));
                if lstm {
                    v.push(format!("rnn.{l}.steps.{t}.hook_c"));
                }
            }
            v.push(format!("rnn.{l}.hook_h_n"));
            if lstm {
                v.push(format!("rnn.{l}.hook_c_n"));
            }
        }
        v.push("head.hook_pre".into());
        v.push("head.hook_post".into());
        v
    }

    fn named_vars(&self) -> Vec<(String, Var)> {
        let mut v = Vec::new();
        for (l, layer) in self.layers.iter().enumerate() {
            v.push((format!("rnn.weight_ih_l{l}"), layer.w_ih.clone()));
            v.push((format!("rnn.weight_hh_l{l}"), layer.w_hh.clone()));
            v.push((format!("rnn.bias_ih_l{l}"), layer.b_ih.clone()));
            v.push((format!("rnn.bias_hh_l{l}"), layer.b_hh.clone()));
        }
        v.extend(self.head.named_vars("head"));
        v
    }
}
