//! The estimators `probe train` and `probe analyze` run, and the rows they produce.
//!
//! Both commands resolve their estimators (config tables or flags) into [`NamedEstimator`]s, run
//! them on one layer's activations `[n, …]` (each sample flattened) with [`estimate_layer`], and
//! format the result with [`csv_row`] under [`INFOPLANE_HEADER`], so a row of `analysis.csv` for a
//! dumped epoch is byte-identical to the row `infoplane.csv` holds for it. All values are in **bits**.

use crate::error::{bail, Context, Result};
use candle_core::{DType, Tensor};
use probe_estimators::{binned_mi_tensor, kde_mi, ksg_mi, Binning};
use serde::Serialize;

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

    /// The parameters, for `analysis.json`.
    pub fn params(&self) -> serde_json::Value {
        match self {
            EstimatorSpec::Binned(Binning::Fixed { lo, hi, edges }) => {
                serde_json::json!({ "lo": lo, "hi": hi, "edges": edges })
            }
            EstimatorSpec::Binned(Binning::Floor { width }) => {
                serde_json::json!({ "width": width })
            }
            EstimatorSpec::Binned(Binning::Adaptive { bins }) => {
                serde_json::json!({ "bins": bins })
            }
            EstimatorSpec::Kde { sigma2 } => serde_json::json!({ "sigma2": sigma2 }),
            EstimatorSpec::Knn { k } => serde_json::json!({ "k": k }),
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
    /// The parameters that are set, by key name.
    fn given(&self) -> Vec<&'static str> {
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
    /// key such as `` `measure.estimators[0].width` `` or a flag such as `--width`).
    pub fn resolve(&self, key: &dyn Fn(&str) -> String) -> Result<EstimatorSpec> {
        let Some(allowed) = Self::keys_of(&self.kind) else {
            bail!(
                "invalid value for {}: {:?}; expected one of {}",
                key("kind"),
                self.kind,
                quoted(KINDS)
            );
        };
        if let Some(k) = self.given().into_iter().find(|k| !allowed.contains(k)) {
            bail!(
                "{} does not apply to kind = {:?}; it takes {}",
                key(k),
                self.kind,
                if allowed.is_empty() {
                    "no parameters".to_string()
                } else {
                    allowed
                        .iter()
                        .map(|k| key(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            );
        }
        let spec = match self.kind.as_str() {
            "binned" => EstimatorSpec::Binned(Binning::Fixed {
                lo: self.lo.unwrap_or(-1.0),
                hi: self.hi.unwrap_or(1.0),
                edges: self.edges.unwrap_or(30),
            }),
            "floor" => EstimatorSpec::Binned(Binning::Floor {
                width: self.width.with_context(|| {
                    format!(
                        "{} is required for kind = \"floor\" (Saxe et al.: 0.07 on the 12-bit net, 0.5 on MNIST)",
                        key("width")
                    )
                })?,
            }),
            "adaptive" => EstimatorSpec::Binned(Binning::Adaptive {
                bins: self.bins.unwrap_or(30),
            }),
            "kde" => {
                let sigma2 = self.sigma2.with_context(|| {
                    format!(
                        "{} is required for kind = \"kde\" (Saxe et al.: 1e-3 on the 12-bit net, 0.1 on MNIST)",
                        key("sigma2")
                    )
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
            b.validate().with_context(|| {
                format!(
                    "invalid value in {}",
                    allowed
                        .iter()
                        .map(|k| key(k))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
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

/// What the estimators know about the samples besides a layer's activations.
pub struct Samples {
    /// Symbol of each sample's input (equal inputs share one), for `I(X;T) = H(T) − H(T|X)`.
    pub x_ids: Vec<u32>,
    /// The inputs themselves, row-major `[n, dx]` as `(values, dx)`, for `knn` (`None` when only
    /// their symbols are known).
    pub x: Option<(Vec<f32>, usize)>,
    /// Class label of each sample, for `I(T;Y)`.
    pub y: Vec<u32>,
}

/// One layer's information-plane coordinates under one estimator, in bits.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Layer (hook point or tensor) name.
    pub layer: String,
    /// Estimator name.
    pub estimator: String,
    /// I(X;T) in bits (the upper bound for KDE).
    pub i_xt: f64,
    /// I(T;Y) in bits (the upper bound for KDE).
    pub i_ty: f64,
    /// Lower bound of I(X;T) in bits (KDE only).
    pub i_xt_lower: Option<f64>,
    /// Lower bound of I(T;Y) in bits (KDE only).
    pub i_ty_lower: Option<f64>,
    /// Noise variance σ² of the KDE bounds (KDE only).
    pub sigma2: Option<f64>,
}

/// Runs `est` on the activations `t` (`[n, …]`, any float dtype, any device) of `layer`.
pub fn estimate_layer(
    layer: &str,
    t: &Tensor,
    est: &NamedEstimator,
    samples: &Samples,
) -> Result<Estimate> {
    let context = || format!("estimator {} on {layer}", est.name);
    let mut e = Estimate {
        layer: layer.to_string(),
        estimator: est.name.clone(),
        i_xt: f64::NAN,
        i_ty: f64::NAN,
        i_xt_lower: None,
        i_ty_lower: None,
        sigma2: None,
    };
    match &est.spec {
        EstimatorSpec::Binned(binning) => {
            let mi =
                binned_mi_tensor(t, binning, &samples.x_ids, &samples.y).with_context(context)?;
            e.i_xt = mi.i_xt;
            e.i_ty = mi.i_ty;
        }
        EstimatorSpec::Kde { sigma2 } => {
            let mi = kde_mi(t, &samples.y, *sigma2).with_context(context)?;
            e.i_xt = mi.i_xt_upper;
            e.i_ty = mi.i_ty_upper;
            e.i_xt_lower = Some(mi.i_xt_lower);
            e.i_ty_lower = Some(mi.i_ty_lower);
            e.sigma2 = Some(mi.sigma2);
        }
        EstimatorSpec::Knn { k } => {
            let (n, dt, tv) = host_rows(t).with_context(context)?;
            let Some((x, dx)) = &samples.x else {
                bail!(
                    "{}: knn estimates I(X;T) from the inputs themselves; give them with --inputs",
                    context()
                );
            };
            e.i_xt = ksg_mi(x, *dx, &tv, dt, n, *k).with_context(context)?;
            e.i_ty = ksg_mi_labels(&tv, dt, &samples.y, *k).with_context(context)?;
        }
    }
    Ok(e)
}

/// `t` as host `f32` rows: `(n, d, values)`.
pub fn host_rows(t: &Tensor) -> Result<(usize, usize, Vec<f32>)> {
    let Some((&n, rest)) = t.dims().split_first() else {
        bail!("a scalar is not a layer: expected [samples, …]");
    };
    let d = rest.iter().product();
    let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok((n, d, v))
}

/// Ross's (2014) mixed estimator of `I(T;Y)` in bits for continuous `t` (`[n, d]`, row-major) and
/// discrete labels `y`, computed by [`ksg_mi`] on `t` and the labels embedded on a line with a
/// spacing `S` larger than every max-norm distance within `t`:
///
/// with `y_i ↦ rank(y_i)·S`, every joint distance across classes (≥ S) exceeds every one within a
/// class (≤ the range of `t` < S), so KSG's `k`-th joint neighbour of sample `i` is its `k`-th
/// nearest neighbour *in its own class*, at `ε_i`; `n_y(i) = N_{y_i} − 1` and `n_t(i)` counts all
/// samples strictly within `ε_i` in `t`. KSG's `ψ(k) + ψ(N) − ⟨ψ(n_t + 1) + ψ(n_y + 1)⟩` is then
/// exactly Ross's `ψ(k) + ψ(N) − ⟨ψ(m_i)⟩ − ⟨ψ(N_{y_i})⟩` (`m_i = n_t(i) + 1`). `S` is a power of
/// two, so the embedded labels and their differences are exact in `f32`.
///
/// Errors when a class has `k` samples or fewer (its samples have no `k` neighbours of their own).
pub fn ksg_mi_labels(t: &[f32], d: usize, y: &[u32], k: usize) -> Result<f64> {
    let n = y.len();
    let mut classes: Vec<u32> = y.to_vec();
    classes.sort_unstable();
    classes.dedup();
    for &c in &classes {
        let count = y.iter().filter(|&&v| v == c).count();
        if count <= k {
            bail!(
                "class {c} has {count} samples; knn needs more than k = {k} per class for I(T;Y)"
            );
        }
    }
    let mut range = 0.0f32;
    for m in 0..d {
        let col = t.iter().skip(m).step_by(d);
        let (lo, hi) = col.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
        range = range.max(hi - lo);
    }
    let spacing = (2.0 * (f64::from(range) + 1.0)).log2().ceil().exp2();
    let top = spacing * classes.len() as f64;
    if !(range.is_finite() && top < f64::from(f32::MAX)) {
        bail!("activations span {range}: too wide to separate the classes for knn's I(T;Y)");
    }
    let emb: Vec<f32> = y
        .iter()
        .map(|v| (classes.binary_search(v).expect("a listed class") as f64 * spacing) as f32)
        .collect();
    Ok(ksg_mi(t, d, &emb, 1, n, k)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use probe_estimators::digamma;

    /// Ross (2014), written out: for each sample, the distance `d_i` to its k-th nearest
    /// neighbour (max-norm) among the other samples of its class, and `m_i` = 1 + the number of
    /// samples of any class strictly closer than `d_i`;
    /// `I = ψ(N) − ⟨ψ(N_{y_i})⟩ + ψ(k) − ⟨ψ(m_i)⟩` nats.
    fn ross_slow(t: &[f32], d: usize, y: &[u32], k: usize) -> f64 {
        let n = y.len();
        let dist = |i: usize, j: usize| {
            (0..d)
                .map(|m| (t[i * d + m] - t[j * d + m]).abs())
                .fold(0.0f32, f32::max)
        };
        let (mut sum_ny, mut sum_m) = (0.0, 0.0);
        for i in 0..n {
            let mut same: Vec<f32> = (0..n)
                .filter(|&j| j != i && y[j] == y[i])
                .map(|j| dist(i, j))
                .collect();
            same.sort_by(f32::total_cmp);
            let di = same[k - 1];
            let m = 1 + (0..n).filter(|&j| j != i && dist(i, j) < di).count();
            sum_ny += digamma((same.len() + 1) as f64);
            sum_m += digamma(m as f64);
        }
        let nf = n as f64;
        (digamma(nf) - sum_ny / nf + digamma(k as f64) - sum_m / nf) / std::f64::consts::LN_2
    }

    #[test]
    fn knn_labels_is_ross_mixed_estimator() {
        // Three classes with shifted means in 3-d, values spanning more than the label spacing
        // of a naive embedding (1.0) would allow.
        let (n, d) = (150, 3);
        let mut s = 0x1234_5678_9abc_def1u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 24) as f32
        };
        let y: Vec<u32> = (0..n as u32).map(|i| [4, 9, 100][i as usize % 3]).collect();
        let t: Vec<f32> = (0..n * d)
            .map(|e| 6.0 * next() + y[e / d] as f32 * 0.01)
            .collect();
        for k in [1, 3, 5] {
            let fast = ksg_mi_labels(&t, d, &y, k).unwrap();
            let slow = ross_slow(&t, d, &y, k);
            assert!((fast - slow).abs() < 1e-12, "k = {k}: {fast} vs {slow}");
        }
        let err = ksg_mi_labels(&t[..4 * d], d, &y[..4], 3).unwrap_err();
        assert!(err.to_string().contains("class 4 has 2 samples"), "{err}");
    }
}
