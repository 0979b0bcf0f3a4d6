//! The Variational Information Bottleneck (Alemi et al. 2017, "Deep variational information
//! bottleneck").
//!
//! An encoder MLP `input → hidden… → 2K` gives, per sample, μ (the first K outputs) and ρ (the last
//! K); σ = softplus(ρ − 5). Training draws one reparameterised sample z = μ + σ ⊙ ε, ε ~ N(0, I)
//! (from the run's seeded `Noise` stream), decodes it linearly to logits and minimises
//! `CE(y, dec(z)) + β · KL(N(μ, diag σ²) ‖ N(0, I))` (nats, batch means; the KL is the
//! differentiable op [`kl::kl_to_std_normal`]). Evaluation averages the softmax of `samples`
//! decoded samples per input ([`trainer::evaluate_vib`]).
//!
//! The IB bounds, per evaluated set, in bits: I(Z;X) ≤ E_x KL(q(z|x) ‖ N(0, I)) / ln 2, and
//! I(Z;Y) ≥ (H(Y) − E_{x,z}[−ln q(y|z)]) / ln 2, with H(Y) the empirical label entropy.
//!
//! As a [`Model`] (for capture and plain evaluation) the forward pass is deterministic: z = μ.
//! Hook points: `encoder.{i}.hook_pre` / `encoder.{i}.hook_post` `[batch, hidden_i]`,
//! `z.hook_mu` and `z.hook_sigma` `[batch, K]`, `decoder.hook_pre` (logits) and `decoder.hook_post`
//! (softmax) `[batch, classes]`. Parameters (PyTorch names): `encoder.{i}.weight` `[out, in]`,
//! `encoder.{i}.bias`, `head.weight` `[2K, hidden_last]`, `head.bias`, `decoder.weight`
//! `[classes, K]`, `decoder.bias`.

pub mod kl;
pub mod trainer;

use candle_core::{DType, Device, Tensor, Var};
use probe_capture::ActivationCache;
use rand_chacha::ChaCha8Rng;

use crate::model::{check_classes, Activation, Init, Model};
use crate::rng::{self, Stream};
use crate::{Error, Result};

/// The shape and settings of a VIB classifier.
#[derive(Clone, Debug, PartialEq)]
pub struct VibSpec {
    /// Features per input sample.
    pub input_dim: usize,
    /// Encoder hidden widths (Alemi: `[1024, 1024]`).
    pub hidden: Vec<usize>,
    /// Bottleneck size K (Alemi: 256).
    pub k: usize,
    /// Number of classes.
    pub classes: usize,
    /// The encoder's hidden non-linearity (Alemi: ReLU).
    pub activation: Activation,
    /// Weight initialisation of every layer.
    pub init: Init,
}

/// The VIB classifier.
#[derive(Debug)]
pub struct Vib {
    encoder: Vec<(Var, Var)>,
    head: (Var, Var),
    decoder: (Var, Var),
    activation: Activation,
    k: usize,
}

/// σ = softplus(ρ − 5) = ln(1 + e^(ρ−5)), in the overflow-free form max(x, 0) + ln(1 + e^(−|x|)).
///
/// In f32, `ln(1 + t)` loses `t` once it drops below 2⁻²⁴ (ρ < −12 would give σ = 0 and an infinite
/// KL), so for `t < e⁻⁴` the tail is the series `t − t²/2 + t³/3 − t⁴/4` (relative error below
/// 1e-7 there; about 4e-6 for the logarithm elsewhere). σ is kept ≥ 1e-30 (reached only for
/// ρ < −64), so `ln σ` stays finite.
pub fn sigma_of_rho(rho: &Tensor) -> Result<Tensor> {
    let x = (rho - 5.0)?;
    let t = x.abs()?.neg()?.exp()?; // e^(−|x|) in (0, 1]
    let t2 = t.sqr()?;
    let t3 = (&t2 * &t)?;
    let t4 = t2.sqr()?;
    let series = (((&t - (&t2 * 0.5)?)? + (t3 / 3.0)?)? - (t4 * 0.25)?)?;
    let direct = t.affine(1.0, 1.0)?.log()?;
    let tail = t.lt(SERIES_BELOW)?.where_cond(&series, &direct)?;
    Ok((x.relu()? + tail)?.clamp(1e-30f32, f32::MAX)?)
}

/// e⁻⁴: below it [`sigma_of_rho`] uses the series of ln(1 + t).
const SERIES_BELOW: f64 = 0.018_315_638_888_734_18;

fn linear(
    rng: &mut ChaCha8Rng,
    fan_in: usize,
    fan_out: usize,
    init: Init,
    device: &Device,
) -> Result<(Var, Var)> {
    let bound = 1.0 / (fan_in as f64).sqrt();
    let (w, b): (Vec<f32>, Vec<f32>) = match init {
        Init::Default => (
            (0..fan_in * fan_out)
                .map(|_| rng::uniform(rng, bound) as f32)
                .collect(),
            (0..fan_out)
                .map(|_| rng::uniform(rng, bound) as f32)
                .collect(),
        ),
        Init::TruncatedNormal => (
            (0..fan_in * fan_out)
                .map(|_| rng::truncated_normal(rng, bound) as f32)
                .collect(),
            vec![0.0; fan_out],
        ),
    };
    Ok((
        Var::from_tensor(&Tensor::from_vec(w, (fan_out, fan_in), device)?)?,
        Var::from_tensor(&Tensor::from_vec(b, fan_out, device)?)?,
    ))
}

fn affine(h: &Tensor, (w, b): &(Var, Var)) -> Result<Tensor> {
    Ok(
        crate::model::layers::matmul_wt::matmul_wt(h, w.as_tensor())?
            .broadcast_add(b.as_tensor())?,
    )
}

impl Vib {
    /// Builds the VIB on `device`, every layer drawn from the `Init` stream of `seed` in order
    /// (encoder layers, head, decoder).
    pub fn new(spec: &VibSpec, seed: u64, device: &Device) -> Result<Self> {
        if spec.input_dim == 0 || spec.k == 0 {
            return Err(Error::invalid(
                "vib",
                "the input and the bottleneck (vib.k) need at least one dimension",
            ));
        }
        check_classes(spec.classes)?;
        if let Some(i) = spec.hidden.iter().position(|&w| w == 0) {
            return Err(Error::invalid(
                "model.widths",
                format!("hidden width {i} is 0; every width must be at least 1"),
            ));
        }
        let mut rng = rng::stream(seed, Stream::Init);
        let mut fan_in = spec.input_dim;
        let mut encoder = Vec::with_capacity(spec.hidden.len());
        for &w in &spec.hidden {
            encoder.push(linear(&mut rng, fan_in, w, spec.init, device)?);
            fan_in = w;
        }
        let head = linear(&mut rng, fan_in, 2 * spec.k, spec.init, device)?;
        let decoder = linear(&mut rng, spec.k, spec.classes, spec.init, device)?;
        Ok(Self {
            encoder,
            head,
            decoder,
            activation: spec.activation,
            k: spec.k,
        })
    }

    /// The bottleneck size K.
    pub fn k(&self) -> usize {
        self.k
    }

    /// μ and σ `[batch, K]` of q(z|x) for `x` `[batch, in]`; encoder hooks go to `cache`.
    pub fn encode(
        &self,
        x: &Tensor,
        mut cache: Option<&mut ActivationCache>,
    ) -> Result<(Tensor, Tensor)> {
        let mut h = x.to_dtype(DType::F32)?;
        for (i, layer) in self.encoder.iter().enumerate() {
            let pre = affine(&h, layer)?; // [batch, hidden_i]
            let post = self.activation.apply(&pre)?;
            if let Some(c) = cache.as_deref_mut() {
                c.hook(&format!("encoder.{i}.hook_pre"), &pre)?;
                c.hook(&format!("encoder.{i}.hook_post"), &post)?;
            }
            h = post;
        }
        let out = affine(&h, &self.head)?; // [batch, 2K]
        let mu = out.narrow(1, 0, self.k)?;
        let sigma = sigma_of_rho(&out.narrow(1, self.k, self.k)?)?;
        if let Some(c) = cache {
            c.hook("z.hook_mu", &mu)?;
            c.hook("z.hook_sigma", &sigma)?;
        }
        Ok((mu, sigma))
    }

    /// Logits `[batch, classes]` of the linear decoder for `z` `[batch, K]`.
    pub fn decode(&self, z: &Tensor) -> Result<Tensor> {
        affine(z, &self.decoder)
    }
}

impl Model for Vib {
    fn forward(&self, x: &Tensor, mut cache: Option<&mut ActivationCache>) -> Result<Tensor> {
        let (mu, _) = self.encode(x, cache.as_deref_mut())?;
        let logits = self.decode(&mu)?; // [batch, classes]
        if let Some(c) = cache {
            c.hook("decoder.hook_pre", &logits)?;
            c.hook("decoder.hook_post", &candle_nn::ops::softmax(&logits, 1)?)?;
        }
        Ok(logits)
    }

    fn hook_names(&self) -> Vec<String> {
        let mut names: Vec<String> = (0..self.encoder.len())
            .flat_map(|i| {
                [
                    format!("encoder.{i}.hook_pre"),
                    format!("encoder.{i}.hook_post"),
                ]
            })
            .collect();
        for n in [
            "z.hook_mu",
            "z.hook_sigma",
            "decoder.hook_pre",
            "decoder.hook_post",
        ] {
            names.push(n.to_string());
        }
        names
    }

    fn named_vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for (i, (w, b)) in self.encoder.iter().enumerate() {
            out.push((format!("encoder.{i}.weight"), w.clone()));
            out.push((format!("encoder.{i}.bias"), b.clone()));
        }
        for (name, (w, b)) in [("head", &self.head), ("decoder", &self.decoder)] {
            out.push((format!("{name}.weight"), w.clone()));
            out.push((format!("{name}.bias"), b.clone()));
        }
        out
    }
}
