//! Building the model a [`ModelSpec`] describes for the data it will train on: the checks that
//! need the data (input and output widths, the image shape), and the fused CPU trainer's choice.
//! The spec itself was validated when the config was parsed ([`crate::config::model`]).

use candle_core::Device;
use probe_train::fused::FusedMlp;
use probe_train::model::{
    Cnn, CnnSpec, Mlp, MlpSpec, Model, Rnn, RnnSpec, Transformer, TransformerSpec,
};

use crate::config::ModelSpec;
use crate::error::{bail, Result};

/// What the model needs to know about the data.
pub struct DataShape<'a> {
    /// Values per sample.
    pub features: usize,
    /// Number of classes.
    pub classes: usize,
    /// `(rows, cols)` of each channel of image data (`features / (rows * cols)` channels).
    pub image: Option<(usize, usize)>,
    /// The data set's name, for messages.
    pub name: &'a str,
}

/// The image `(C, H, W)` of the data: `model.image` or `[features / (rows·cols), rows, cols]`
/// (one channel for MNIST, three for CIFAR-10), matching the features.
fn image(m: &ModelSpec, data: &DataShape) -> Result<(usize, usize, usize)> {
    let (c, h, w) = match (m.image(), data.image) {
        (Some([c, h, w]), _) => (c, h, w),
        (None, Some((h, w))) => ((data.features / (h * w).max(1)).max(1), h, w),
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

/// The MLP `m` describes (`None` for other kinds).
pub fn mlp_spec(m: &ModelSpec) -> Option<MlpSpec> {
    let m = m.mlp()?;
    let last = m.widths.len() - 1;
    Some(MlpSpec {
        input_dim: m.widths[0],
        hidden: m.widths[1..last].to_vec(),
        classes: m.widths[last],
        activation: m.activation,
        init: m.init,
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
/// with `m` resolved (the image shape filled in).
pub fn build(
    m: &ModelSpec,
    data: &DataShape,
    seed: u64,
    device: &Device,
) -> Result<(Box<dyn Model>, ModelSpec)> {
    let model: Box<dyn Model> = match m {
        ModelSpec::Mlp(c) => {
            let w = &c.widths;
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
                activation: c.activation,
                init: c.init,
            };
            Box::new(Mlp::new(&spec, seed, device)?)
        }
        ModelSpec::Cnn(c) => {
            let spec = CnnSpec {
                image: image(m, data)?,
                pool_type: c.pool_type,
                fc: c.fc.clone(),
                classes: data.classes,
                activation: c.activation,
                batch_norm: c.batch_norm,
                dropout: c.dropout,
                init: c.init,
                convs: c.convs.clone(),
            };
            Box::new(Cnn::new(&spec, seed, device)?)
        }
        ModelSpec::Transformer(t) => {
            let spec = TransformerSpec {
                image: image(m, data)?,
                tokens: t.tokens,
                d_model: t.d_model,
                heads: t.heads,
                layers: t.layers,
                d_mlp: t.d_mlp,
                pooling: t.pooling,
                classes: data.classes,
                init: t.init,
            };
            Box::new(Transformer::new(&spec, seed, device)?)
        }
        ModelSpec::Rnn(r) => {
            let spec = RnnSpec {
                image: image(m, data)?,
                cell: r.cell,
                hidden: r.hidden,
                layers: r.layers,
                classes: data.classes,
            };
            Box::new(Rnn::new(&spec, seed, device)?)
        }
    };
    let resolved = match m {
        ModelSpec::Mlp(_) => m.clone(),
        _ => {
            let (c, h, w) = image(m, data)?;
            m.clone().with_image([c, h, w])
        }
    };
    Ok((model, resolved))
}
