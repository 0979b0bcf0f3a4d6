//! A ViT-style encoder classifier for images: tokens (patches or image rows) are embedded
//! linearly, a learned positional embedding is added (after a learned CLS token is prepended, with
//! CLS pooling), then pre-norm blocks `x + attn(ln1(x))`, `x + mlp(ln2(x))` with a GELU MLP, a
//! final layer norm, pooling (the CLS token or the mean over tokens) and a linear head.
//!
//! Shapes: `B` batch, `T` image tokens (`(H/p)·(W/p)` patches or `H` rows), `T' = T + 1` with a
//! CLS token (else `T`), `d` = `d_model`, `H` heads of `dh = d/H`, `d_mlp` MLP width.
//! Hook points (TransformerLens's names):
//! - `hook_embed` `[B, T, d]`: the token embeddings, before CLS and positions;
//! - `blocks.{l}.hook_resid_pre`, `hook_resid_mid`, `hook_resid_post` `[B, T', d]`;
//! - `blocks.{l}.attn.hook_q/k/v/z` `[B, T', H, dh]`, `hook_attn_scores`, `hook_pattern`
//!   `[B, H, T', T']` (query, key);
//! - `blocks.{l}.hook_attn_out`, `blocks.{l}.hook_mlp_out` `[B, T', d]`;
//! - `blocks.{l}.mlp.hook_pre`, `hook_post` `[B, T', d_mlp]` (before / after the GELU);
//! - `ln_final.hook_normalized` `[B, T', d]`, `hook_pooled` `[B, d]`;
//! - `head.hook_pre` `[B, classes]` (the logits), `head.hook_post` (softmax probabilities).
//!
//! Parameters (PyTorch names): `embed.weight [d, patch_dim]`, `embed.bias`, `cls_token [1, 1, d]`
//! (CLS pooling only), `pos_embed [1, T', d]`, `blocks.{l}.ln1.*`, `blocks.{l}.attn.{q,k,v,o}.*`,
//! `blocks.{l}.ln2.*`, `blocks.{l}.mlp.fc1.*`, `blocks.{l}.mlp.fc2.*`, `ln_final.*`, `head.*`.
//! Linear layers are initialised like `nn.Linear` (or truncated normal), `cls_token` and
//! `pos_embed` normal with σ = 0.02, layer norms γ = 1, β = 0.

use candle_core::{Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use super::eval_chunks::{mode_forward, Mode};
use super::layers::attention::Attention;
use super::layers::gelu::gelu_erf;
use super::layers::linear::Linear;
use super::layers::norm::LayerNorm;
use super::layers::param::ParamInit;
use super::layers::Hooks;
use super::{check_classes, Init, Model};
use crate::rng::{self, Stream};
use crate::{Error, Result};

/// How an image becomes tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tokens {
    /// Non-overlapping `p×p` patches (ViT), row-major; a token holds `C·p·p` values ordered
    /// channel, patch row, patch column.
    Patch(usize),
    /// One token per image row: `C·W` values ordered channel, column.
    Rows,
}

/// What the head reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// A learned CLS token, prepended; the head reads its final state.
    Cls,
    /// The mean of the final token states.
    Mean,
}

/// The shape and settings of a transformer classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct TransformerSpec {
    /// Input images `(C, H, W)`.
    pub image: (usize, usize, usize),
    /// Tokenisation.
    pub tokens: Tokens,
    /// Residual stream width `d`.
    pub d_model: usize,
    /// Attention heads (must divide `d_model`).
    pub heads: usize,
    /// Number of blocks.
    pub layers: usize,
    /// Hidden width of each block's MLP.
    pub d_mlp: usize,
    /// CLS token or mean pooling.
    pub pooling: Pooling,
    /// Number of classes.
    pub classes: usize,
    /// Initialisation of the linear layers.
    pub init: Init,
}

impl TransformerSpec {
    /// `(tokens T, values per token)`, checking that patches tile the image.
    pub fn token_shape(&self) -> Result<(usize, usize)> {
        let (c, h, w) = self.image;
        match self.tokens {
            Tokens::Rows => Ok((h, c * w)),
            Tokens::Patch(p) => {
                if p == 0 || h % p != 0 || w % p != 0 {
                    return Err(Error::invalid(
                        "model.patch",
                        format!("{p}×{p} patches do not tile a {h}×{w} image; choose a patch size that divides both (e.g. 7 or 4 for 28×28)"),
                    ));
                }
                Ok(((h / p) * (w / p), c * p * p))
            }
        }
    }
}

#[derive(Debug)]
struct Block {
    ln1: LayerNorm,
    attn: Attention,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

/// A transformer encoder classifier with TransformerLens hook points.
#[derive(Debug)]
pub struct Transformer {
    spec: TransformerSpec,
    embed: Linear,
    cls_token: Option<Var>,
    pos_embed: Var,
    blocks: Vec<Block>,
    ln_final: LayerNorm,
    head: Linear,
    /// Train/eval switch; in evaluation the pass runs in slices sized by the elements per
    /// sample of its largest tensor.
    mode: Mode,
}

impl Transformer {
    /// Builds the model on `device` with weights from the `Init` stream of `seed`.
    pub fn new(spec: &TransformerSpec, seed: u64, device: &Device) -> Result<Self> {
        let (t, tok_dim) = spec.token_shape()?;
        for (key, v) in [
            ("model.d_model", spec.d_model),
            ("model.layers", spec.layers),
            ("model.d_mlp", spec.d_mlp),
        ] {
            if v == 0 {
                return Err(Error::invalid(key, "0; expected at least 1"));
            }
        }
        check_classes(spec.classes)?;
        let d = spec.d_model;
        let mut rng = rng::stream(seed, Stream::Init);
        let mut p = ParamInit::new(&mut rng, spec.init, device);
        let embed = Linear::new(&mut p, tok_dim, d, true)?;
        let cls_token = match spec.pooling {
            Pooling::Cls => Some(p.normal((1, 1, d), 0.02)?),
            Pooling::Mean => None,
        };
        let t_all = t + usize::from(cls_token.is_some());
        let pos_embed = p.normal((1, t_all, d), 0.02)?;
        let mut blocks = Vec::with_capacity(spec.layers);
        for _ in 0..spec.layers {
            blocks.push(Block {
                ln1: LayerNorm::new(&p, d)?,
                attn: Attention::new(&mut p, d, spec.heads)?,
                ln2: LayerNorm::new(&p, d)?,
                fc1: Linear::new(&mut p, d, spec.d_mlp, true)?,
                fc2: Linear::new(&mut p, spec.d_mlp, d, true)?,
            });
        }
        let ln_final = LayerNorm::new(&p, d)?;
        let head = Linear::new(&mut p, d, spec.classes, true)?;
        let (c, h, w) = spec.image;
        let eval_elems = (c * h * w)
            .max(t_all * d.max(spec.d_mlp).max(tok_dim))
            .max(spec.heads * t_all * t_all);
        Ok(Self {
            spec: spec.clone(),
            embed,
            cls_token,
            pos_embed,
            blocks,
            ln_final,
            head,
            mode: Mode::new(eval_elems),
        })
    }

    /// `x [B, C·H·W]` → tokens `[B, T, values per token]`.
    fn tokenize(&self, x: &Tensor) -> Result<Tensor> {
        let (c, h, w) = self.spec.image;
        let b = x.dim(0)?;
        let img = x.reshape((b, c, h, w))?;
        Ok(match self.spec.tokens {
            Tokens::Rows => img
                .permute((0, 2, 1, 3))? // [B, H, C, W]
                .contiguous()?
                .reshape((b, h, c * w))?,
            Tokens::Patch(p) => img
                .reshape((b, c, h / p, p, w / p, p))?
                .permute((0, 2, 4, 1, 3, 5))? // [B, H/p, W/p, C, p, p]
                .contiguous()?
                .reshape((b, (h / p) * (w / p), c * p * p))?,
        })
    }
}

impl Transformer {
    /// The forward pass over all rows of `x` at once, reporting to `hooks` (the same in both modes: no batch
    /// statistics, no dropout).
    fn forward_all(&self, x: &Tensor, mut hooks: Hooks<'_>, _training: bool) -> Result<Tensor> {
        let tokens = self.tokenize(x)?;
        let b = tokens.dim(0)?;
        let d = self.spec.d_model;
        let emb = self.embed.forward(&tokens)?; // [B, T, d]
        hooks.hook(|| "hook_embed".into(), &emb)?;
        let mut resid = match &self.cls_token {
            Some(cls) => Tensor::cat(&[&cls.as_tensor().broadcast_as((b, 1, d))?, &emb], 1)?, // [B, T', d]
            None => emb,
        };
        resid = resid.broadcast_add(self.pos_embed.as_tensor())?; // [B, T', d]
        for (l, blk) in self.blocks.iter().enumerate() {
            hooks.hook(|| format!("blocks.{l}.hook_resid_pre"), &resid)?;
            let attn_out = blk.attn.forward(
                &blk.ln1.forward(&resid)?,
                &format!("blocks.{l}.attn"),
                &mut hooks,
            )?; // [B, T', d]
            hooks.hook(|| format!("blocks.{l}.hook_attn_out"), &attn_out)?;
            let mid = (&resid + attn_out)?; // [B, T', d]
            hooks.hook(|| format!("blocks.{l}.hook_resid_mid"), &mid)?;
            let pre = blk.fc1.forward(&blk.ln2.forward(&mid)?)?; // [B, T', d_mlp]
            hooks.hook(|| format!("blocks.{l}.mlp.hook_pre"), &pre)?;
            let post = gelu_erf(&pre)?; // [B, T', d_mlp]
            hooks.hook(|| format!("blocks.{l}.mlp.hook_post"), &post)?;
            let mlp_out = blk.fc2.forward(&post)?; // [B, T', d]
            hooks.hook(|| format!("blocks.{l}.hook_mlp_out"), &mlp_out)?;
            resid = (mid + mlp_out)?;
            hooks.hook(|| format!("blocks.{l}.hook_resid_post"), &resid)?;
        }
        let normed = self.ln_final.forward(&resid)?; // [B, T', d]
        hooks.hook(|| "ln_final.hook_normalized".into(), &normed)?;
        let pooled = match self.spec.pooling {
            Pooling::Cls => normed.narrow(1, 0, 1)?.squeeze(1)?,
            Pooling::Mean => normed.mean(1)?,
        }; // [B, d]
        hooks.hook(|| "hook_pooled".into(), &pooled)?;
        hooks.classify(&self.head, &pooled)
    }
}

impl Model for Transformer {
    mode_forward!();

    fn hook_names(&self) -> Vec<String> {
        let mut v = vec!["hook_embed".to_string()];
        for l in 0..self.blocks.len() {
            v.push(format!("blocks.{l}.hook_resid_pre"));
            v.extend(Attention::hook_names(&format!("blocks.{l}.attn")));
            for h in [
                "hook_attn_out",
                "hook_resid_mid",
                "mlp.hook_pre",
                "mlp.hook_post",
                "hook_mlp_out",
                "hook_resid_post",
            ] {
                v.push(format!("blocks.{l}.{h}"));
            }
        }
        for h in [
            "ln_final.hook_normalized",
            "hook_pooled",
            "head.hook_pre",
            "head.hook_post",
        ] {
            v.push(h.to_string());
        }
        v
    }

    fn named_vars(&self) -> Vec<(String, Var)> {
        let mut v = self.embed.named_vars("embed");
        if let Some(cls) = &self.cls_token {
            v.push(("cls_token".into(), cls.clone()));
        }
        v.push(("pos_embed".into(), self.pos_embed.clone()));
        for (l, blk) in self.blocks.iter().enumerate() {
            let p = format!("blocks.{l}");
            v.extend(blk.ln1.named_vars(&format!("{p}.ln1")));
            v.extend(blk.attn.named_vars(&format!("{p}.attn")));
            v.extend(blk.ln2.named_vars(&format!("{p}.ln2")));
            v.extend(blk.fc1.named_vars(&format!("{p}.mlp.fc1")));
            v.extend(blk.fc2.named_vars(&format!("{p}.mlp.fc2")));
        }
        v.extend(self.ln_final.named_vars("ln_final"));
        v.extend(self.head.named_vars("head"));
        v
    }
}
