//! `[model]`: the architecture, typed. [`ModelSpec`] has one variant per `kind`, holding exactly
//! that kind's keys, validated and with their defaults filled in; it is parsed from (and written
//! as) the flat [`RawModel`] table, so a key of another kind is an error naming the kind's keys,
//! and the messages name each key (`model.widths[0]`, …) and the values it takes. Only what
//! depends on the data (the image shape, the input and output widths) is checked when the model
//! is built ([`crate::model::build`]). Keys and defaults are documented in configs/README.md.

use probe_train::model::{Activation, CellKind, ConvSpec, Init, PoolType, Pooling, Tokens};
use serde::{Deserialize, Serialize};

use crate::error::{bail, Error, Result};

/// `[model]`, validated: the architecture and its settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawModel", into = "RawModel")]
pub enum ModelSpec {
    /// `kind = "mlp"` (the default).
    Mlp(MlpConfig),
    /// `kind = "cnn"`.
    Cnn(CnnConfig),
    /// `kind = "transformer"`.
    Transformer(TransformerConfig),
    /// `kind = "rnn"`.
    Rnn(RnnConfig),
}

/// A multilayer perceptron.
#[derive(Clone, Debug, PartialEq)]
pub struct MlpConfig {
    /// Every layer's width, input and output included (`[12, 10, 7, 5, 4, 3, 2]`).
    pub widths: Vec<usize>,
    /// The hidden non-linearity.
    pub activation: Activation,
    /// Weight initialisation.
    pub init: Init,
}

/// A convolutional network: convolution blocks, then fully connected layers.
#[derive(Clone, Debug, PartialEq)]
pub struct CnnConfig {
    /// Input image `[C, H, W]` (`None`: `[1, rows, cols]` of the data).
    pub image: Option<[usize; 3]>,
    /// The convolution blocks (channels, kernel, stride, padding, pool of each).
    pub convs: Vec<ConvSpec>,
    /// Max or average pooling.
    pub pool_type: PoolType,
    /// Hidden fully connected widths.
    pub fc: Vec<usize>,
    /// Hidden non-linearity.
    pub activation: Activation,
    /// Batch norm after each convolution.
    pub batch_norm: bool,
    /// Dropout probability on the fully connected layers' inputs.
    pub dropout: f64,
    /// Weight initialisation.
    pub init: Init,
}

/// A vision transformer over patch or row tokens.
#[derive(Clone, Debug, PartialEq)]
pub struct TransformerConfig {
    /// Input image `[C, H, W]` (`None`: `[1, rows, cols]` of the data).
    pub image: Option<[usize; 3]>,
    /// Patch or row tokens.
    pub tokens: Tokens,
    /// Residual width.
    pub d_model: usize,
    /// Attention heads (dividing `d_model`).
    pub heads: usize,
    /// Blocks.
    pub layers: usize,
    /// MLP width.
    pub d_mlp: usize,
    /// CLS token or mean over tokens.
    pub pooling: Pooling,
    /// Weight initialisation.
    pub init: Init,
}

/// A recurrent network reading an image row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct RnnConfig {
    /// Input image `[C, H, W]` (`None`: `[1, rows, cols]` of the data).
    pub image: Option<[usize; 3]>,
    /// LSTM or GRU.
    pub cell: CellKind,
    /// Hidden units.
    pub hidden: usize,
    /// Stacked recurrent layers.
    pub layers: usize,
}

impl ModelSpec {
    /// The `kind` key.
    pub fn kind(&self) -> &'static str {
        match self {
            ModelSpec::Mlp(_) => "mlp",
            ModelSpec::Cnn(_) => "cnn",
            ModelSpec::Transformer(_) => "transformer",
            ModelSpec::Rnn(_) => "rnn",
        }
    }

    /// The MLP settings, for `kind = "mlp"`.
    pub fn mlp(&self) -> Option<&MlpConfig> {
        match self {
            ModelSpec::Mlp(m) => Some(m),
            _ => None,
        }
    }

    /// The image key of the kinds that read images.
    pub fn image(&self) -> Option<[usize; 3]> {
        match self {
            ModelSpec::Mlp(_) => None,
            ModelSpec::Cnn(c) => c.image,
            ModelSpec::Transformer(t) => t.image,
            ModelSpec::Rnn(r) => r.image,
        }
    }

    /// The same spec with `image` set (kinds that read images).
    pub fn with_image(mut self, image: [usize; 3]) -> Self {
        match &mut self {
            ModelSpec::Mlp(_) => {}
            ModelSpec::Cnn(c) => c.image = Some(image),
            ModelSpec::Transformer(t) => t.image = Some(image),
            ModelSpec::Rnn(r) => r.image = Some(image),
        }
        self
    }
}

/// `[model]` as written in TOML: every key of every kind, optional. Parsing goes through it (so
/// a wrong type is reported at its key) and [`ModelSpec::try_from`] checks it; writing goes back
/// through it (so `config.toml` lists the keys in this order).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    /// `mlp` (default), `cnn`, `transformer` or `rnn`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// mlp: every layer's width, input and output included (`[12, 10, 7, 5, 4, 3, 2]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widths: Option<Vec<usize>>,
    /// mlp, cnn: hidden non-linearity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation: Option<Activation>,
    /// mlp, cnn, transformer: weight initialisation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<Init>,
    /// cnn, transformer, rnn: input image `[C, H, W]` (default `[1, rows, cols]` of the data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<Vec<usize>>,
    /// cnn: output channels of each convolution block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<usize>>,
    /// cnn: kernel size, one for all blocks or one per block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<PerBlock>,
    /// cnn: stride, one or per block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<PerBlock>,
    /// cnn: zero padding, one or per block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<PerBlock>,
    /// cnn: pooling window after each block (1 = none), one or per block.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PerBlock>,
    /// cnn: `max` or `avg` pooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_type: Option<PoolType>,
    /// cnn: hidden fully connected widths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fc: Option<Vec<usize>>,
    /// cnn: batch norm after each convolution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_norm: Option<bool>,
    /// cnn: dropout probability on the fully connected layers' inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropout: Option<f64>,
    /// transformer: `patch` or `rows` tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<String>,
    /// transformer: patch size (with `tokens = "patch"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<usize>,
    /// transformer: residual width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_model: Option<usize>,
    /// transformer: attention heads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heads: Option<usize>,
    /// transformer: blocks; rnn: stacked recurrent layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<usize>,
    /// transformer: MLP width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_mlp: Option<usize>,
    /// transformer: `cls` or `mean`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pooling: Option<Pooling>,
    /// rnn: `lstm` or `gru`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<CellKind>,
    /// rnn: hidden units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hidden: Option<usize>,
}

/// A CNN setting given once for every block (`kernel = 3`) or per block (`kernel = [5, 3]`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PerBlock {
    /// The same value for every block.
    One(usize),
    /// One value per block.
    Each(Vec<usize>),
}

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

impl RawModel {
    /// The keys that are set.
    fn given(&self) -> Vec<&'static str> {
        [
            ("widths", self.widths.is_some()),
            ("activation", self.activation.is_some()),
            ("init", self.init.is_some()),
            ("image", self.image.is_some()),
            ("channels", self.channels.is_some()),
            ("kernel", self.kernel.is_some()),
            ("stride", self.stride.is_some()),
            ("padding", self.padding.is_some()),
            ("pool", self.pool.is_some()),
            ("pool_type", self.pool_type.is_some()),
            ("fc", self.fc.is_some()),
            ("batch_norm", self.batch_norm.is_some()),
            ("dropout", self.dropout.is_some()),
            ("tokens", self.tokens.is_some()),
            ("patch", self.patch.is_some()),
            ("d_model", self.d_model.is_some()),
            ("heads", self.heads.is_some()),
            ("layers", self.layers.is_some()),
            ("d_mlp", self.d_mlp.is_some()),
            ("pooling", self.pooling.is_some()),
            ("cell", self.cell.is_some()),
            ("hidden", self.hidden.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| k)
        .collect()
    }

    /// `image`, checked: three values, each at least 1.
    fn image(&self) -> Result<Option<[usize; 3]>> {
        match self.image.as_deref() {
            None => Ok(None),
            Some(&[c, h, w]) if c > 0 && h > 0 && w > 0 => Ok(Some([c, h, w])),
            Some(img) => bail!("invalid value for `model.image`: {img:?}; expected [channels, height, width], each at least 1, e.g. [1, 28, 28]"),
        }
    }
}

impl TryFrom<RawModel> for ModelSpec {
    type Error = Error;

    /// Checks `[model]` without the data: a known kind, only its keys, every value in range;
    /// fills in the defaults.
    fn try_from(m: RawModel) -> Result<Self> {
        let Some(allowed) = keys_of(&m.kind) else {
            bail!(
                "invalid value for `model.kind`: {:?}; expected \"mlp\", \"cnn\", \"transformer\" or \"rnn\"",
                m.kind
            );
        };
        for k in m.given() {
            if !allowed.contains(&k) {
                bail!(
                    "`model.{k}` is not a key of kind = {:?}; its keys are: {}",
                    m.kind,
                    allowed.join(", ")
                );
            }
        }
        let image = m.image()?;
        Ok(match m.kind.as_str() {
            "mlp" => {
                let Some(w) = m.widths else {
                    bail!("`model.widths` is required for kind = \"mlp\": every layer's width, input and output included, e.g. [784, 1024, 10]");
                };
                if w.len() < 2 {
                    bail!("`model.widths` = {w:?} needs at least the input and output widths, e.g. [784, 1024, 10]");
                }
                if let Some(i) = w.iter().position(|&x| x == 0) {
                    bail!(
                        "invalid value for `model.widths[{i}]`: 0; every width must be at least 1"
                    );
                }
                let Some(activation) = m.activation else {
                    bail!("`model.activation` is required for kind = \"mlp\": \"tanh\", \"relu\", \"sigmoid\", \"gelu\" or \"linear\"");
                };
                ModelSpec::Mlp(MlpConfig {
                    widths: w,
                    activation,
                    init: m.init.unwrap_or(Init::Default),
                })
            }
            "cnn" => {
                let convs = cnn_blocks(&m)?;
                let fc = m.fc.unwrap_or_default();
                positive_list("model.fc", &fc)?;
                let dropout = m.dropout.unwrap_or(0.0);
                if !(0.0..1.0).contains(&dropout) {
                    bail!("invalid value for `model.dropout`: {dropout}; expected a probability 0 ≤ p < 1");
                }
                ModelSpec::Cnn(CnnConfig {
                    image,
                    convs,
                    pool_type: m.pool_type.unwrap_or(PoolType::Max),
                    fc,
                    activation: m.activation.unwrap_or(Activation::Relu),
                    batch_norm: m.batch_norm.unwrap_or(false),
                    dropout,
                    init: m.init.unwrap_or(Init::Default),
                })
            }
            "transformer" => {
                let tokens = transformer_tokens(&m)?;
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
                let (d_model, heads) = (m.d_model.unwrap_or(64), m.heads.unwrap_or(4));
                if d_model % heads != 0 {
                    bail!("`model.heads` = {heads} does not divide `model.d_model` = {d_model}; each head gets d_model / heads features");
                }
                ModelSpec::Transformer(TransformerConfig {
                    image,
                    tokens,
                    d_model,
                    heads,
                    layers: m.layers.unwrap_or(2),
                    d_mlp: m.d_mlp.unwrap_or(4 * d_model),
                    pooling: m.pooling.unwrap_or(Pooling::Cls),
                    init: m.init.unwrap_or(Init::Default),
                })
            }
            _ => {
                for (key, v) in [("hidden", m.hidden), ("layers", m.layers)] {
                    if v == Some(0) {
                        bail!("invalid value for `model.{key}`: 0; expected at least 1");
                    }
                }
                ModelSpec::Rnn(RnnConfig {
                    image,
                    cell: m.cell.unwrap_or(CellKind::Lstm),
                    hidden: m.hidden.unwrap_or(128),
                    layers: m.layers.unwrap_or(1),
                })
            }
        })
    }
}

impl From<ModelSpec> for RawModel {
    /// The table with every key of the kind filled in (per-block CNN keys as lists).
    fn from(spec: ModelSpec) -> Self {
        let mut r = RawModel {
            kind: spec.kind().to_string(),
            image: spec.image().map(|i| i.to_vec()),
            ..RawModel::default()
        };
        match spec {
            ModelSpec::Mlp(m) => {
                r.widths = Some(m.widths);
                r.activation = Some(m.activation);
                r.init = Some(m.init);
            }
            ModelSpec::Cnn(c) => {
                let each = |f: fn(&ConvSpec) -> usize| {
                    Some(PerBlock::Each(c.convs.iter().map(f).collect()))
                };
                r.channels = Some(c.convs.iter().map(|b| b.channels).collect());
                r.kernel = each(|b| b.kernel);
                r.stride = each(|b| b.stride);
                r.padding = each(|b| b.padding);
                r.pool = each(|b| b.pool);
                r.pool_type = Some(c.pool_type);
                r.fc = Some(c.fc);
                r.activation = Some(c.activation);
                r.batch_norm = Some(c.batch_norm);
                r.dropout = Some(c.dropout);
                r.init = Some(c.init);
            }
            ModelSpec::Transformer(t) => {
                match t.tokens {
                    Tokens::Patch(p) => {
                        r.tokens = Some("patch".into());
                        r.patch = Some(p);
                    }
                    Tokens::Rows => r.tokens = Some("rows".into()),
                }
                r.d_model = Some(t.d_model);
                r.heads = Some(t.heads);
                r.layers = Some(t.layers);
                r.d_mlp = Some(t.d_mlp);
                r.pooling = Some(t.pooling);
                r.init = Some(t.init);
            }
            ModelSpec::Rnn(n) => {
                r.cell = Some(n.cell);
                r.hidden = Some(n.hidden);
                r.layers = Some(n.layers);
            }
        }
        r
    }
}

fn positive_list(key: &str, v: &[usize]) -> Result<()> {
    if let Some(i) = v.iter().position(|&x| x == 0) {
        bail!("invalid value for `{key}[{i}]`: 0; every value must be at least 1");
    }
    Ok(())
}

/// The CNN's blocks from `channels` and the per-block keys (defaults: kernel 3, stride 1,
/// padding kernel/2, pool 2).
fn cnn_blocks(m: &RawModel) -> Result<Vec<ConvSpec>> {
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

fn transformer_tokens(m: &RawModel) -> Result<Tokens> {
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

fn default_kind() -> String {
    "mlp".into()
}
