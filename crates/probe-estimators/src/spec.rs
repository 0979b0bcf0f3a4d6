//! Which estimator to run, and with what parameters: the validated [`EstimatorSpec`] a config
//! table (`[[measure.estimators]]`) or a front end's flags (`probe analyze --estimator …`) resolve
//! into, through [`RawEstimator::resolve`].
//!
//! Messages name the offending parameter the way the caller spells it: `resolve` takes a `key`
//! closure that turns a parameter name (`width`) into a config key
//! (`` `measure.estimators[0].width` ``) or a flag (`--width`).
//!
//! ```
//! use probe_estimators::{Binning, EstimatorSpec, RawEstimator};
//! let raw = RawEstimator { kind: "floor".into(), width: Some(0.5), ..Default::default() };
//! let spec = raw.resolve(&|k| format!("--{k}")).unwrap();
//! assert_eq!(spec, EstimatorSpec::Binned(Binning::Floor { width: 0.5 }));
//! let err = RawEstimator { kind: "kde".into(), ..Default::default() }.resolve(&|k| format!("--{k}"));
//! assert!(err.unwrap_err().to_string().starts_with("--sigma2 is required"));
//! ```

use crate::binning::Binning;
use crate::error::{bail, Error, Result};

/// What an estimator computes, with its validated parameters.
#[derive(Clone, Debug, PartialEq)]
pub enum EstimatorSpec {
    /// Plug-in estimate on binned activations (`binned`, `floor`, `adaptive`): each sample's row
    /// of bins is one symbol; `I(X;T) = H(T) − H(T|X)`, `I(T;Y) = H(T) − H(T|Y)`.
    Binned(Binning),
    /// Kolchinsky & Tracey's KDE bounds on a noisy layer `T + N(0, σ²I)` (Saxe et al.): upper
    /// bounds in `i_xt`/`i_ty`, lower bounds in `i_xt_lower`/`i_ty_lower`.
    Kde {
        /// Noise variance σ², in squared activation units.
        sigma2: f64,
    },
    /// k-nearest-neighbour estimates: KSG (Kraskov et al. 2004, max-norm) of `I(X;T)` from the
    /// inputs, and Ross's (2014) mixed discrete–continuous form of it for `I(T;Y)`.
    Knn {
        /// Neighbours.
        k: usize,
    },
}

impl EstimatorSpec {
    /// The `kind` this spec was made from (`binned`, `floor`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            EstimatorSpec::Binned(Binning::Fixed { .. }) => "binned",
            EstimatorSpec::Binned(Binning::Floor { .. }) => "floor",
            EstimatorSpec::Binned(Binning::Adaptive { .. }) => "adaptive",
            EstimatorSpec::Kde { .. } => "kde",
            EstimatorSpec::Knn { .. } => "knn",
        }
    }

    /// The binning of a binned-family estimator (`binned`, `floor`, `adaptive`).
    pub fn binning(&self) -> Option<&Binning> {
        match self {
            EstimatorSpec::Binned(b) => Some(b),
            _ => None,
        }
    }
}

/// The estimator kinds a config table or `--estimator` may name.
pub const KINDS: &[&str] = &["binned", "floor", "adaptive", "kde", "knn"];

/// The raw parameters of one estimator, as a `[[measure.estimators]]` table or `probe analyze`
/// flags give them; [`RawEstimator::resolve`] validates them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RawEstimator {
    /// `binned`, `floor`, …
    pub kind: String,
    /// `binned`: first edge.
    pub lo: Option<f64>,
    /// `binned`: last edge.
    pub hi: Option<f64>,
    /// `binned`: number of edges.
    pub edges: Option<usize>,
    /// `floor`: bin width.
    pub width: Option<f64>,
    /// `adaptive`: number of equal-mass bins.
    pub bins: Option<usize>,
    /// `kde`: noise variance σ².
    pub sigma2: Option<f64>,
    /// `knn`: neighbours.
    pub k: Option<usize>,
}

impl RawEstimator {
    /// The parameters that are set, by key name (`lo`, `hi`, `edges`, `width`, `bins`, `sigma2`,
    /// `k`, in that order).
    pub fn given(&self) -> Vec<&'static str> {
        [
            ("lo", self.lo.is_some()),
            ("hi", self.hi.is_some()),
            ("edges", self.edges.is_some()),
            ("width", self.width.is_some()),
            ("bins", self.bins.is_some()),
            ("sigma2", self.sigma2.is_some()),
            ("k", self.k.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(k, _)| k)
        .collect()
    }

    /// The parameter keys `kind` accepts (`None` for an unknown kind).
    pub fn keys_of(kind: &str) -> Option<&'static [&'static str]> {
        Some(match kind {
            "binned" => &["lo", "hi", "edges"],
            "floor" => &["width"],
            "adaptive" => &["bins"],
            "kde" => &["sigma2"],
            "knn" => &["k"],
            _ => return None,
        })
    }

    /// Validates the parameters into a spec. `key(k)` names parameter `k` in messages (a config
    /// key such as `` `measure.estimators[0].width` `` or a flag such as `--width`). Errors are
    /// [`Error::Invalid`] (or an [`Error::Context`] naming the keys over an
    /// [`Error::InvalidBinning`]).
    pub fn resolve(&self, key: &dyn Fn(&str) -> String) -> Result<EstimatorSpec> {
        let Some(allowed) = Self::keys_of(&self.kind) else {
            bail!(
                "invalid value for {}: {:?}; expected one of {}",
                key("kind"),
                self.kind,
                quoted(KINDS)
            );
        };
        let keys = || {
            allowed
                .iter()
                .map(|k| key(k))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(k) = self.given().into_iter().find(|k| !allowed.contains(k)) {
            bail!(
                "{} does not apply to kind = {:?}; it takes {}",
                key(k),
                self.kind,
                if allowed.is_empty() {
                    "no parameters".to_string()
                } else {
                    keys()
                }
            );
        }
        let spec = match self.kind.as_str() {
            "binned" => EstimatorSpec::Binned(Binning::fixed(self.lo.unwrap_or(-1.0), self.hi.unwrap_or(1.0), self.edges.unwrap_or(30))),
            "floor" => EstimatorSpec::Binned(Binning::Floor {
                width: self.width.ok_or_else(|| {
                    Error::Invalid(format!(
                        "{} is required for kind = \"floor\" (Saxe et al.: 0.07 on the 12-bit net, 0.5 on MNIST)",
                        key("width")
                    ))
                })?,
            }),
            "adaptive" => EstimatorSpec::Binned(Binning::Adaptive {
                bins: self.bins.unwrap_or(30),
            }),
            "kde" => {
                let sigma2 = self.sigma2.ok_or_else(|| {
                    Error::Invalid(format!(
                        "{} is required for kind = \"kde\" (Saxe et al.: 1e-3 on the 12-bit net, 0.1 on MNIST)",
                        key("sigma2")
                    ))
                })?;
                if !(sigma2.is_finite() && sigma2 > 0.0) {
                    bail!("invalid value for {}: {sigma2}; expected a finite noise variance > 0", key("sigma2"));
                }
                EstimatorSpec::Kde { sigma2 }
            }
            "knn" => {
                let k = self.k.unwrap_or(3);
                if k == 0 {
                    bail!("invalid value for {}: 0; expected at least 1 neighbour (Kraskov et al.: 3)", key("k"));
                }
                EstimatorSpec::Knn { k }
            }
            _ => unreachable!("keys_of accepted the kind"),
        };
        if let EstimatorSpec::Binned(b) = &spec {
            b.validate()
                .map_err(|e| e.context(format!("invalid value in {}", keys())))?;
        }
        Ok(spec)
    }
}

/// `"a", "b" or "c"`.
pub fn quoted(items: &[&str]) -> String {
    let q: Vec<String> = items.iter().map(|s| format!("{s:?}")).collect();
    match q.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// A validated estimator and the name its rows carry in the `estimator` column.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedEstimator {
    /// Its `estimator` column value.
    pub name: String,
    /// What it computes.
    pub spec: EstimatorSpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flag(k: &str) -> String {
        if k == "kind" {
            "--estimator".to_string()
        } else {
            format!("--{k}")
        }
    }

    /// The messages name the caller's keys and say what was expected (the CLI prints them as is).
    #[test]
    fn resolve_names_the_callers_keys() {
        let raw = |kind: &str| RawEstimator {
            kind: kind.into(),
            ..Default::default()
        };
        let err = |r: RawEstimator| {
            let e = r.resolve(&flag).unwrap_err();
            let mut s = e.to_string();
            let mut cur = std::error::Error::source(&e);
            while let Some(c) = cur {
                s += &format!(": {c}");
                cur = c.source();
            }
            s
        };
        assert_eq!(
            err(raw("hist")),
            r#"invalid value for --estimator: "hist"; expected one of "binned", "floor", "adaptive", "kde" or "knn""#
        );
        assert_eq!(
            err(RawEstimator {
                k: Some(3),
                ..raw("kde")
            }),
            r#"--k does not apply to kind = "kde"; it takes --sigma2"#
        );
        assert_eq!(
            err(RawEstimator {
                k: Some(0),
                ..raw("knn")
            }),
            "invalid value for --k: 0; expected at least 1 neighbour (Kraskov et al.: 3)"
        );
        assert!(err(RawEstimator {
            lo: Some(1.0),
            ..raw("binned")
        })
        .starts_with("invalid value in --lo, --hi, --edges: invalid binning: "));
        assert_eq!(
            raw("knn").resolve(&flag).unwrap(),
            EstimatorSpec::Knn { k: 3 }
        );
        assert_eq!(quoted(&["a"]), "\"a\"");
        assert_eq!(quoted(&[]), "");
    }
}
