//! One layer's information-plane coordinates under one [`NamedEstimator`]: the dispatch from a
//! validated spec to the estimator that computes it.
//!
//! A layer is a tensor `[n, …]` (each sample flattened to one row, any float dtype, any device);
//! [`Samples`] holds what is known about the `n` samples besides it (input symbols, the inputs
//! themselves for knn, class labels). [`estimate_layer`] returns an [`Estimate`] in **bits**;
//! errors say which estimator on which layer failed ([`crate::Error::Context`]).
//!
//! ```
//! use candle_core::{Device, Tensor};
//! use probe_estimators::{estimate_layer, Binning, EstimatorSpec, NamedEstimator, Samples};
//! // 4 distinct inputs, an identity layer, 2 balanced classes.
//! let t = Tensor::new(&[[0.0f32, 0.0], [0.0, 0.5], [0.5, 0.0], [0.5, 0.5]], &Device::Cpu).unwrap();
//! let samples = Samples { x_ids: vec![0, 1, 2, 3], x: None, y: vec![0, 0, 1, 1] };
//! let est = NamedEstimator {
//!     name: "floor".into(),
//!     spec: EstimatorSpec::Binned(Binning::Floor { width: 0.25 }),
//! };
//! let e = estimate_layer("layer", &t, &est, &samples).unwrap();
//! assert_eq!((e.i_xt, e.i_ty), (2.0, 1.0));
//! ```

use candle_core::{DType, Tensor};

use crate::error::{bail, Context, Result};
use crate::kde::kde_mi;
use crate::knn::ksg_mi;
use crate::knn_labels::ksg_mi_labels;
use crate::layer::Activations;
use crate::spec::{EstimatorSpec, NamedEstimator};

/// What the estimators know about the samples besides a layer's activations.
#[derive(Clone, Debug, Default, PartialEq)]
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
#[derive(Clone, Debug, PartialEq)]
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

/// Runs `est` on the activations `t` of `layer`: a tensor (`[n, …]`, any float dtype, any
/// device) or host rows ([`crate::HostRows`], read in place; see [`crate::layer`]).
/// Errors are wrapped with `estimator {name} on {layer}`.
pub fn estimate_layer<A: Activations + ?Sized>(
    layer: &str,
    t: &A,
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
            let mi = t
                .binned_mi(binning, &samples.x_ids, &samples.y)
                .with_context(context)?;
            e.i_xt = mi.i_xt;
            e.i_ty = mi.i_ty;
        }
        EstimatorSpec::Kde { sigma2 } => {
            let t = t.tensor().with_context(context)?;
            let mi = kde_mi(&t, &samples.y, *sigma2).with_context(context)?;
            e.i_xt = mi.i_xt_upper;
            e.i_ty = mi.i_ty_upper;
            e.i_xt_lower = Some(mi.i_xt_lower);
            e.i_ty_lower = Some(mi.i_ty_lower);
            e.sigma2 = Some(mi.sigma2);
        }
        EstimatorSpec::Knn { k } => {
            let (n, dt, tv) = t.host_rows().with_context(context)?;
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

/// `t` (`[n, …]`, any dtype, any device) as host `f32` rows: `(n, d, values)`, `d` the product of
/// the other dims. Errors on a scalar.
pub fn host_rows(t: &Tensor) -> Result<(usize, usize, Vec<f32>)> {
    let Some((&n, rest)) = t.dims().split_first() else {
        bail!("a scalar is not a layer: expected [samples, …]");
    };
    let d = rest.iter().product();
    let v = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
    Ok((n, d, v))
}
