//! `[model]`: the keys each `kind` takes, their defaults and checks, and building the model.
//!
//! [`validate`] checks what does not depend on the data (before it is loaded); [`build`] checks
//! the rest against the data's features, classes and image shape, builds a `Box<dyn Model>`, and
//! returns the `[model]` table resolved (every key of the kind filled in) for the run's
//! `config.toml`. A key of another kind is an error naming the kind's keys. Keys and defaults are
//! documented in configs/README.md.

use crate::error::{bail, Result};
use candle_core::Device;
use probe_train::fused::FusedMlp;
use probe_train::model::{
    Activation, CellKind, Cnn, CnnSpec, ConvSpec, Init, Mlp, MlpSpec, Model, PoolType, Pooling,
    Rnn, RnnSpec, Tokens, Transformer, TransformerSpec,
};

use crate::config::{ModelConfig, PerBlock};

/// The keys of each kind (besides `kind`).
fn keys_of(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "mlp" => &["widths", "activation", "init"],
        "cnn" => &[
            "image",
            "channels",
            "kernel",
            "stride",
            "padding",
            "pool",
            "pool_type",
            "fc",
            "activation",
            "batch_norm",
            "dropout",
            "init",
        ],
        "transformer" => &[
            "image", "tokens", "patch", "d_model", "heads", "layers", "d_mlp", "pooling", "init",
        ],
        "rnn" => &["image", "cell", "hidden", "layers"],
        _ => return None,
    })
}

/// The keys set in `m`.
fn given(m: &ModelConfig) -> Vec<&'static str> {
    [
        ("widths", m.widths.is_some()),
        ("activation", m.activation.is_some()),
        ("init", m.init.is_some()),
        ("image", m.image.is_some()),
        ("channels", m.channels.is_some()),
        ("kernel", m.kernel.is_some()),
        ("stride", m.stride.is_some()),
        ("padding", m.padding.is_some()),
        ("pool", m.pool.is_some()),
        ("pool_type", m.pool_type.is_some()),
        ("fc", m.fc.is_some()),
        ("batch_norm", m.batch_norm.is_some()),
        ("dropout", m.dropout.is_some()),
        ("tokens", m.tokens.is_some()),
        ("patch", m.patch.is_some()),
        ("d_model", m.d_model.is_some()),
        ("heads", m.heads.is_some()),
        ("layers", m.layers.is_some()),
        ("d_mlp", m.d_mlp.is_some()),
        ("pooling", m.pooling.is_some()),
        ("cell", m.cell.is_some()),
        ("hidden", m.hidden.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| k)
    .collect()
}

/// Checks `[model]` without the data: a known kind, only its keys, and every value in range.
pub fn validate(m: &ModelConfig) -> Result<()> {
    let Some(allowed) = keys_of(&m.kind) else {
        bail!(
            "invalid value for `model.kind`: {:?}; expected \"mlp\", \"cnn\", \"transformer\" or \"rnn\"",
            m.kind
        );
    };
    for k in given(m) {
        if !allowed.contains(&k) {
            bail!(
                "`model.{k}` is not a key of kind = {:?}; its keys are: {}",
                m.kind,
                allowed.join(", ")
            );
        }
    }
    if let Some(img) = &m.image {
        if img.len() != 3 || img.contains(&0) {
            bail!("invalid value for `model.image`: {img:?}; expected [channels, height, width], each at least 1, e.g. [1, 28, 28]");
        }
    }
    match m.kind.as_str() {
        "mlp" => {
            let Some(w) = &m.widths else {
                bail!("`model.widths` is required for kind = \"mlp\": every layer's width, input and output included, e.g. [784, 1024, 10]");
            };
            if w.len() < 2 {
                bail!("`model.widths` = {w:?} needs at least the input and output widths, e.g. [784, 1024, 10]");
            }
            if let Some(i) = w.iter().position(|&x| x == 0) {
                bail!("invalid value for `model.widths[{i}]`: 0; every width must be at least 1");
            }
            if m.activation.is_none() {
                bail!("`model.activation` is required for kind = \"mlp\": \"tanh\", \"relu\", \"sigmoid\", \"gelu\" or \"linear\"");
            }
        }
        "cnn" => {
            cnn_blocks(m)?;
            positive_list("model.fc", m.fc.as_deref().unwrap_or(&[]))?;
            let p = m.dropout.unwrap_or(0.0);
            if !(0.0..1.0).contains(&p) {
                bail!("invalid value for `model.dropout`: {p}; expected a probability 0 ≤ p < 1");
            }
        }
        "transformer" => {
            transformer_tokens(m)?;
            for (key, v) in [
                ("d_model", m.d_model),
                ("heads", m.heads),
                ("layers", m.layers),
                ("d_mlp", m.d_mlp),
            ] {
                if v == Some(0) {
                    bail!("invalid value for `model.{key}`: 0; expected at least 1");
                }
            }
            let (d, h) = (m.d_model.unwrap_or(64), m.heads.unwrap_or(4));
            if d % h.max(1) != 0 {
                bail!("`model.heads` = {h} does not divide `model.d_model` = {d}; each head gets d_model / heads features");
            }
        }
        _ => {
            for (key, v) in [("hidden", m.hidden), ("layers", m.layers)] {
                if v == Some(0) {
                    bail!("invalid value for `model.{key}`: 0; expected at least 1");
                }
            }
        }
    }
    Ok(())
}

fn positive_list(key: &str, v: &[usize]) -> Result<()> {
    if let Some(i) = v.iter().position(|&x| x == 0) {
        bail!("invalid value for `{key}[{i}]`: 0; every value must be at least 1");
    }
    Ok(())
}

/// The CNN's blocks from `channels` and the per-block keys (defaults: kernel 3, stride 1,
/// padding kernel/2, pool 2).
fn cnn_blocks(m: &ModelConfig) -> Result<Vec<ConvSpec>> {
    let Some(channels) = &m.channels else {
        bail!("`model.channels` is required for kind = \"cnn\": the output channels of each convolution block, e.g. [16, 32]");
    };
    if channels.is_empty() {
        bail!(
            "`model.channels` is empty; a CNN needs at least one convolution block, e.g. [16, 32]"
        );
    }
    positive_list("model.channels", channels)?;
    let n = channels.len();
    let kernel = per_block(&m.kernel, "kernel", n, |_| 3)?;
    let stride = per_block(&m.stride, "stride", n, |_| 1)?;
    let padding = per_block(&m.padding, "padding", n, |i| kernel[i] / 2)?;
    let pool = per_block(&m.pool, "pool", n, |_| 2)?;
    for (key, v) in [("kernel", &kernel), ("stride", &stride), ("pool", &pool)] {
        if let Some(i) = v.iter().position(|&x| x == 0) {
            bail!(
                "invalid value for `model.{key}`: block {i} has 0; every {key} must be at least 1"
            );
        }
    }
    Ok((0..n)
        .map(|i| ConvSpec {
            channels: channels[i],
            kernel: kernel[i],
            stride: stride[i],
            padding: padding[i],
            pool: pool[i],
        })
        .collect())
}

fn per_block(
    v: &Option<PerBlock>,
    key: &str,
    n: usize,
    default: impl Fn(usize) -> usize,
) -> Result<Vec<usize>> {
    Ok(match v {
        None => (0..n).map(default).collect(),
        Some(PerBlock::One(x)) => vec![*x; n],
        Some(PerBlock::Each(list)) if list.len() == n => list.clone(),
        Some(PerBlock::Each(list)) => bail!(
            "`model.{key}` has {} values but `model.channels` has {n} blocks; give one value for all blocks or one per block",
            list.len()
        ),
    })
}

fn transformer_tokens(m: &ModelConfig) -> Result<Tokens> {
    match m.tokens.as_deref().unwrap_or("patch") {
        "patch" => Ok(Tokens::Patch(m.patch.unwrap_or(7))),
        "rows" if m.patch.is_some() => {
            bail!("`model.patch` applies only to tokens = \"patch\"; remove it or set tokens = \"patch\"")
        }
        "rows" => Ok(Tokens::Rows),
        other => bail!(
            "invalid value for `model.tokens`: {other:?}; expected \"patch\" (ViT patches of `patch`×`patch` pixels) or \"rows\" (one token per image row)"
        ),
    }
}

/// What the model needs to know about the data.
pub struct DataShape<'a> {
    /// Values per sample.
    pub features: usize,
    /// Number of classes.
    pub classes: usize,
    /// `(rows, cols)` of image data.
    pub image: Option<(usize, usize)>,
    /// The data set's name, for messages.
    pub name: &'a str,
}

/// The image `(C, H, W)` of the data: `model.image` or `[1, rows, cols]`, matching the features.
fn image(m: &ModelConfig, data: &DataShape) -> Result<(usize, usize, usize)> {
    let (c, h, w) = match (&m.image, data.image) {
        (Some(v), _) if v.len() == 3 => (v[0], v[1], v[2]),
        (Some(v), _) => bail!("invalid value for `model.image`: {v:?}; expected [channels, height, width]"),
        (None, Some((h, w))) => (1, h, w),
        (None, None) => bail!(
            "`model.image` is required: {} is not image data, so give the [channels, height, width] its {} features form",
            data.name,
            data.features
        ),
    };
    if c * h * w != data.features {
        bail!(
            "`model.image` = [{c}, {h}, {w}] does not match the data: {} has {} features per sample, not {}",
            data.name,
            data.features,
            c * h * w
        );
    }
    Ok((c, h, w))
}

/// The MLP a resolved `[model]` (as [`build`] returns it) describes; `None` for other kinds.
pub fn mlp_spec(m: &ModelConfig) -> Option<MlpSpec> {
    let w = m
        .widths
        .as_ref()
        .filter(|w| m.kind == "mlp" && w.len() >= 2)?;
    let last = w.len() - 1;
    Some(MlpSpec {
        input_dim: w[0],
        hidden: w[1..last].to_vec(),
        classes: w[last],
        activation: m.activation.unwrap_or(Activation::Relu),
        init: m.init.unwrap_or(Init::Default),
    })
}

/// Whether the run trains on the fused CPU path (`train.fused`, see [`TrainConfig::fused`]):
/// `spec` is the MLP being trained (`None` for other models and VIBs).
///
/// [`TrainConfig::fused`]: crate::config::TrainConfig::fused
pub fn use_fused(asked: Option<bool>, spec: Option<&MlpSpec>, device: &Device) -> Result<bool> {
    let why_not = match spec {
        None => Some("it trains MLPs only (no CNN, Transformer, RNN or `[vib]`)".to_string()),
        Some(s) => FusedMlp::unsupported(s, device),
    };
    Ok(match (asked, why_not) {
        (Some(false), _) => false,
        (Some(true), Some(why)) => bail!(
            "invalid value for `train.fused`: true, but the fused trainer cannot run this config: {why}. Remove `fused` or set it to false"
        ),
        (Some(true), None) => true,
        (None, Some(_)) => false,
        (None, None) => true,
    })
}

/// Builds the model `m` describes for `data` on `device` (weights from `seed`), and returns it
/// with `m` resolved.
pub fn build(
    m: &ModelConfig,
    data: &DataShape,
    seed: u64,
    device: &Device,
) -> Result<(Box<dyn Model>, ModelConfig)> {
    validate(m)?;
    let mut r = ModelConfig {
        kind: m.kind.clone(),
        ..ModelConfig::default()
    };
    let model: Box<dyn Model> = match m.kind.as_str() {
        "mlp" => {
            let w = m.widths.clone().unwrap_or_default();
            if w[0] != data.features {
                bail!(
                    "`model.widths[0]` = {} does not match the data: {} has {} features per sample",
                    w[0],
                    data.name,
                    data.features
                );
            }
            let last = w.len() - 1;
            if w[last] != data.classes {
                bail!("`model.widths[{last}]` = {} (the output) does not match the data: {} has {} classes", w[last], data.name, data.classes);
            }
            let spec = MlpSpec {
                input_dim: w[0],
                hidden: w[1..last].to_vec(),
                classes: data.classes,
                activation: m.activation.unwrap_or(Activation::Relu),
                init: m.init.unwrap_or(Init::Default),
            };
            r.widths = Some(w);
            r.activation = Some(spec.activation);
            r.init = Some(spec.init);
            Box::new(Mlp::new(&spec, seed, device)?)
        }
        "cnn" => {
            let convs = cnn_blocks(m)?;
            let spec = CnnSpec {
                image: image(m, data)?,
                pool_type: m.pool_type.unwrap_or(PoolType::Max),
                fc: m.fc.clone().unwrap_or_default(),
                classes: data.classes,
                activation: m.activation.unwrap_or(Activation::Relu),
                batch_norm: m.batch_norm.unwrap_or(false),
                dropout: m.dropout.unwrap_or(0.0),
                init: m.init.unwrap_or(Init::Default),
                convs,
            };
            let each = |f: fn(&ConvSpec) -> usize| {
                Some(PerBlock::Each(spec.convs.iter().map(f).collect()))
            };
            r.image = Some(vec![spec.image.0, spec.image.1, spec.image.2]);
            r.channels = spec
                .convs
                .iter()
                .map(|c| c.channels)
                .collect::<Vec<_>>()
                .into();
            r.kernel = each(|c| c.kernel);
            r.stride = each(|c| c.stride);
            r.padding = each(|c| c.padding);
            r.pool = each(|c| c.pool);
            r.pool_type = Some(spec.pool_type);
            r.fc = Some(spec.fc.clone());
            r.activation = Some(spec.activation);
            r.batch_norm = Some(spec.batch_norm);
            r.dropout = Some(spec.dropout);
            r.init = Some(spec.init);
            Box::new(Cnn::new(&spec, seed, device)?)
        }
        "transformer" => {
            let d_model = m.d_model.unwrap_or(64);
            let spec = TransformerSpec {
                image: image(m, data)?,
                tokens: transformer_tokens(m)?,
                d_model,
                heads: m.heads.unwrap_or(4),
                layers: m.layers.unwrap_or(2),
                d_mlp: m.d_mlp.unwrap_or(4 * d_model),
                pooling: m.pooling.unwrap_or(Pooling::Cls),
                classes: data.classes,
                init: m.init.unwrap_or(Init::Default),
            };
            r.image = Some(vec![spec.image.0, spec.image.1, spec.image.2]);
            match spec.tokens {
                Tokens::Patch(p) => {
                    r.tokens = Some("patch".into());
                    r.patch = Some(p);
                }
                Tokens::Rows => r.tokens = Some("rows".into()),
            }
            r.d_model = Some(spec.d_model);
            r.heads = Some(spec.heads);
            r.layers = Some(spec.layers);
            r.d_mlp = Some(spec.d_mlp);
            r.pooling = Some(spec.pooling);
            r.init = Some(spec.init);
            Box::new(Transformer::new(&spec, seed, device)?)
        }
        _ => {
            let spec = RnnSpec {
                image: image(m, data)?,
                cell: m.cell.unwrap_or(CellKind::Lstm),
                hidden: m.hidden.unwrap_or(128),
                layers: m.layers.unwrap_or(1),
                classes: data.classes,
            };
            r.image = Some(vec![spec.image.0, spec.image.1, spec.image.2]);
            r.cell = Some(spec.cell);
            r.hidden = Some(spec.hidden);
            r.layers = Some(spec.layers);
            Box::new(Rnn::new(&spec, seed, device)?)
        }
    };
    Ok((model, r))
}
