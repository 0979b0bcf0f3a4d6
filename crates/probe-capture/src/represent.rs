//! Representations: how a captured tensor `[batch, …]` becomes the rows `[batch, features]` an
//! estimator reads. Applied per forward chunk as the activation is captured, so a reduced hook
//! never stores its full map.
//!
//! | name | input | output | what |
//! | --- | --- | --- | --- |
//! | `flatten` | `[B, …]` | `[B, ∏…]` | every value (the default) |
//! | `channel_mean` | `[B, C, …]` (rank ≥ 3) | `[B, C]` | mean over the spatial positions of each channel (CNN maps `[B, C, H, W]`) |
//! | `token_mean` | `[B, T, …]` (rank ≥ 3) | `[B, ∏…]` | mean over the tokens / positions |
//! | `cls` | `[B, T, …]` (rank ≥ 3) | `[B, ∏…]` | token 0 (the CLS token of a transformer with CLS pooling) |
//! | `project:K` | `[B, …]` | `[B, K]` | a fixed random projection of the flattened sample |
//!
//! The projection matrix `P [D, K]` has entries ±1/√K with equal probability (Achlioptas 2003: a
//! Johnson–Lindenstrauss embedding, squared distances preserved in expectation), drawn from a
//! SplitMix64 stream seeded by the run's seed and the hook name, so it is the same at every
//! measured epoch and on every device.
//!
//! Trade-offs (see docs/hooks.md): `flatten` keeps everything, but a map of 32×28×28 real values
//! makes every sample distinct after binning, so I(X;T) = log2 N for any network and the plane says
//! nothing; `channel_mean` and `token_mean` discard where a feature fires and keep how strongly;
//! `cls` keeps exactly what the head reads; `project:K` keeps distances (for KDE/kNN) at a chosen
//! dimension, but mixes units, so fixed bin edges mean something else than on the raw units.

use std::collections::HashMap;
use std::str::FromStr;

use candle_core::{Device, Tensor};

use crate::{Error, NameFilter, Result};

/// One way to turn a hook's tensor into rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Representation {
    /// `[B, …]` → `[B, ∏…]`.
    Flatten,
    /// `[B, C, …]` → `[B, C]`, the mean over everything after the channel.
    ChannelMean,
    /// `[B, T, …]` → `[B, ∏…]`, the mean over dimension 1.
    TokenMean,
    /// `[B, T, …]` → `[B, ∏…]`, position 0 of dimension 1.
    Cls,
    /// `[B, …]` → `[B, k]`, a fixed seeded random projection of the flattened sample.
    Project {
        /// Output dimension.
        k: usize,
    },
}

/// The names [`Representation`] parses from, for error messages.
pub const REPRESENTATIONS: &str =
    "\"flatten\", \"channel_mean\", \"token_mean\", \"cls\" or \"project:K\" (K ≥ 1, e.g. \"project:64\")";

impl FromStr for Representation {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::BadRepresentation {
            value: s.to_string(),
            reason: format!("expected {REPRESENTATIONS}"),
        };
        Ok(match s {
            "flatten" => Representation::Flatten,
            "channel_mean" => Representation::ChannelMean,
            "token_mean" => Representation::TokenMean,
            "cls" => Representation::Cls,
            _ => {
                let k = s.strip_prefix("project:").ok_or_else(bad)?;
                match k.trim().parse::<usize>() {
                    Ok(k) if k >= 1 => Representation::Project { k },
                    _ => return Err(bad()),
                }
            }
        })
    }
}

impl std::fmt::Display for Representation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Representation::Flatten => write!(f, "flatten"),
            Representation::ChannelMean => write!(f, "channel_mean"),
            Representation::TokenMean => write!(f, "token_mean"),
            Representation::Cls => write!(f, "cls"),
            Representation::Project { k } => write!(f, "project:{k}"),
        }
    }
}

impl Representation {
    /// The rows `[B, features]` of `t [B, …]` captured at hook `name`; `seed` seeds projections.
    pub fn apply(&self, name: &str, t: &Tensor, seed: u64) -> Result<Tensor> {
        self.apply_with(name, t, seed, None)
    }

    /// [`Representation::apply`] with the projection matrix of `name` given (see [`projection`]).
    fn apply_with(
        &self,
        name: &str,
        t: &Tensor,
        seed: u64,
        matrix: Option<&Tensor>,
    ) -> Result<Tensor> {
        let dims = t.dims();
        if dims.len() < 3
            && matches!(
                self,
                Representation::ChannelMean | Representation::TokenMean | Representation::Cls
            )
        {
            let axis = if *self == Representation::ChannelMean {
                "C"
            } else {
                "T"
            };
            return Err(Error::BadRepresentation {
                value: self.to_string(),
                reason: format!(
                    "hook point {name} has shape {dims:?}; it needs [batch, {axis}, …] (rank ≥ 3); use \"flatten\" for this hook"
                ),
            });
        }
        Ok(match self {
            Representation::Flatten => t.flatten_from(1)?,
            Representation::ChannelMean => t.flatten_from(2)?.mean(2)?,
            Representation::TokenMean => t.mean(1)?.flatten_from(1)?,
            Representation::Cls => t.narrow(1, 0, 1)?.flatten_from(1)?,
            Representation::Project { k } => {
                let flat = t.flatten_from(1)?;
                let d = flat.dim(1)?;
                let p = match matrix {
                    Some(p) => p.clone(),
                    None => projection(seed, name, d, *k)?,
                };
                if p.dims() != [d, *k] {
                    return Err(Error::BadRepresentation {
                        value: self.to_string(),
                        reason: format!(
                            "hook point {name} changed its width from {} to {d} values per sample",
                            p.dim(0)?
                        ),
                    });
                }
                flat.matmul(&p.to_device(t.device())?.to_dtype(t.dtype())?)?
            }
        })
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, well-mixed generator; one 64-bit draw per
/// entry decides its sign.
fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of the hook name, so each hook gets its own matrix.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    })
}

/// The projection matrix `[d, k]` of hook `name`: entries ±1/√k, on the CPU in f32.
pub fn projection(seed: u64, name: &str, d: usize, k: usize) -> Result<Tensor> {
    let mut state = seed ^ fnv1a(name);
    let v = (1.0 / (k as f64).sqrt()) as f32;
    let values: Vec<f32> = (0..d * k)
        .map(|_| {
            if splitmix64(&mut state) >> 63 == 0 {
                v
            } else {
                -v
            }
        })
        .collect();
    Ok(Tensor::from_vec(values, (d, k), &Device::Cpu)?)
}

/// Which representation each hook point gets: glob patterns (as in `measure.hooks`) mapped to
/// representations; hooks no pattern matches are flattened. A hook that two patterns match is an
/// error (the table has no order to break the tie).
#[derive(Clone, Debug, Default)]
pub struct Representations {
    rules: Vec<(NameFilter, String, Representation)>,
    seed: u64,
    /// Per hook: its representation and, for projections, the matrix (made once, on the device).
    cache: HashMap<String, (Representation, Option<Tensor>)>,
}

impl Representations {
    /// Every hook flattened.
    pub fn flatten_all() -> Self {
        Self::default()
    }

    /// Rules from `(glob, representation name)` pairs; `seed` seeds the projections.
    pub fn new<'a>(rules: impl IntoIterator<Item = (&'a str, &'a str)>, seed: u64) -> Result<Self> {
        let mut out = Self {
            seed,
            ..Self::default()
        };
        for (pattern, rep) in rules {
            let filter = NameFilter::new(&[pattern.to_string()])?;
            let rep: Representation = rep.parse().map_err(|e| match e {
                Error::BadRepresentation { value, reason } => Error::BadRepresentation {
                    value,
                    reason: format!("{reason} (for hooks {pattern:?})"),
                },
                e => e,
            })?;
            out.rules.push((filter, pattern.to_string(), rep));
        }
        Ok(out)
    }

    /// The representation of hook `name`.
    pub fn of(&self, name: &str) -> Result<Representation> {
        let hits: Vec<&(NameFilter, String, Representation)> =
            self.rules.iter().filter(|r| r.0.matches(name)).collect();
        match hits.as_slice() {
            [] => Ok(Representation::Flatten),
            [one] => Ok(one.2),
            [a, b, ..] => Err(Error::AmbiguousRepresentation {
                hook: name.to_string(),
                first: a.1.clone(),
                second: b.1.clone(),
            }),
        }
    }

    /// Checks the rules against the measured hooks: every pattern must match one of them and no
    /// hook may match two patterns.
    pub fn check(&self, hooks: &[String]) -> Result<()> {
        for (filter, pattern, _) in &self.rules {
            if !hooks.iter().any(|h| filter.matches(h)) {
                return Err(Error::NoMatch {
                    patterns: vec![pattern.clone()],
                    available: hooks.join(", "),
                });
            }
        }
        for h in hooks {
            self.of(h)?;
        }
        Ok(())
    }

    /// The rows of `t` captured at `name`.
    pub fn apply(&mut self, name: &str, t: &Tensor) -> Result<Tensor> {
        if !self.cache.contains_key(name) {
            let rep = self.of(name)?;
            let matrix = match rep {
                Representation::Project { k } => {
                    let d = t.dims().iter().skip(1).product();
                    Some(
                        projection(self.seed, name, d, k)?
                            .to_device(t.device())?
                            .to_dtype(t.dtype())?,
                    )
                }
                _ => None,
            };
            self.cache.insert(name.to_string(), (rep, matrix));
        }
        match self.cache.get(name) {
            Some((rep, matrix)) => rep.apply_with(name, t, self.seed, matrix.as_ref()),
            None => Ok(t.flatten_from(1)?),
        }
    }
}
