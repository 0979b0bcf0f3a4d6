//! What a layer's activations may be held in, as the estimators read them: the [`Activations`]
//! trait, implemented by a candle [`Tensor`] (`[n, …]`, any float dtype, any device), by
//! [`HostRows`] (row-major host `f32` values `[n, …]`, **borrowed** or owned) and by [`Layer`]
//! (either one). [`crate::estimate_layer`] and [`crate::extras_all`] take any of them.
//!
//! Why: the estimators work on host `f32` slices (except kde, which runs candle ops, and the CUDA
//! kernels, which read a CUDA tensor in place). A caller that already holds its activations as
//! `f32` in host memory — a numpy array handed over by the Python bindings — would otherwise
//! copy them into a tensor (candle's CPU storage owns its memory) only for the estimators to copy
//! them out again. [`HostRows`] lends the caller's slice instead; the numbers are the same to the
//! bit, because a tensor's host rows are exactly these `f32` values in this order.
//!
//! ```
//! use probe_estimators::{estimate_layer, Binning, EstimatorSpec, HostRows, NamedEstimator, Samples};
//! // 4 distinct inputs, an identity layer [4, 2] held in a plain slice, 2 balanced classes.
//! let values = [0.0f32, 0.0, 0.0, 0.5, 0.5, 0.0, 0.5, 0.5];
//! let t = HostRows::new(&values[..], vec![4, 2]).unwrap();
//! let samples = Samples { x_ids: vec![0, 1, 2, 3], x: None, y: vec![0, 0, 1, 1] };
//! let est = NamedEstimator {
//!     name: "floor".into(),
//!     spec: EstimatorSpec::Binned(Binning::Floor { width: 0.25 }),
//! };
//! let e = estimate_layer("layer", &t, &est, &samples).unwrap();
//! assert_eq!((e.i_xt, e.i_ty), (2.0, 1.0));
//! ```

use std::borrow::Cow;

use candle_core::{DType, Device, Tensor};

use crate::binned::{binned_mi, BinnedMi};
use crate::binning::Binning;
use crate::error::{Error, Result};
use crate::estimate::host_rows;
use crate::tensor::binned_mi_tensor;

/// A layer's activations `[n, …]`, each sample read as one row of `d` values (the product of
/// the trailing dimensions).
pub trait Activations {
    /// The shape, `[n, …]` (rank 0 is refused by the estimators).
    fn dims(&self) -> &[usize];
    /// The element type the activations were given in.
    fn dtype(&self) -> DType;
    /// The values as host `f32` rows, `(n, d, values)` with `values.len() == n * d`: borrowed
    /// where they already are (`HostRows`), else converted and copied (a tensor).
    fn host_rows(&self) -> Result<(usize, usize, Cow<'_, [f32]>)>;
    /// The values as a tensor (what kde's candle ops take): the tensor itself, or a CPU `f32`
    /// tensor of shape [`Self::dims`] made from the rows (a copy).
    fn tensor(&self) -> Result<Cow<'_, Tensor>>;
    /// [`binned_mi`] of the layer where it lives (a CUDA tensor on its device, see
    /// [`binned_mi_tensor`]; host rows in place).
    fn binned_mi(&self, binning: &Binning, x_ids: &[u32], y: &[u32]) -> Result<BinnedMi>;
}

impl Activations for Tensor {
    fn dims(&self) -> &[usize] {
        Tensor::dims(self)
    }

    fn dtype(&self) -> DType {
        Tensor::dtype(self)
    }

    fn host_rows(&self) -> Result<(usize, usize, Cow<'_, [f32]>)> {
        let (n, d, v) = host_rows(self)?;
        Ok((n, d, Cow::Owned(v)))
    }

    fn tensor(&self) -> Result<Cow<'_, Tensor>> {
        Ok(Cow::Borrowed(self))
    }

    fn binned_mi(&self, binning: &Binning, x_ids: &[u32], y: &[u32]) -> Result<BinnedMi> {
        binned_mi_tensor(self, binning, x_ids, y)
    }
}

/// Host `f32` activations in row-major (C) order, shape `[n, …]`; the values are borrowed from the
/// caller (`&[f32]`, no copy) or owned (`Vec<f32>`, e.g. converted from another layout once).
#[derive(Clone, Debug, PartialEq)]
pub struct HostRows<'a> {
    values: Cow<'a, [f32]>,
    shape: Vec<usize>,
}

impl<'a> HostRows<'a> {
    /// `values` as a layer of shape `shape` (`[n, …]`, rank ≥ 1, `values.len()` the product of
    /// the dims). Errors on rank 0 ([`Error::InvalidShape`]) or a length that is not the shape's
    /// ([`Error::LengthMismatch`]).
    pub fn new(values: impl Into<Cow<'a, [f32]>>, shape: Vec<usize>) -> Result<Self> {
        let values = values.into();
        if shape.is_empty() {
            return Err(Error::InvalidShape { shape });
        }
        let expected = shape.iter().try_fold(1usize, |a, &b| a.checked_mul(b));
        match expected {
            Some(expected) if expected == values.len() => Ok(Self { values, shape }),
            Some(expected) => Err(Error::LengthMismatch {
                what: "activations (values of the shape)",
                expected,
                got: values.len(),
            }),
            None => Err(Error::InvalidShape { shape }),
        }
    }

    /// The values, row-major.
    pub fn values(&self) -> &[f32] {
        &self.values
    }

    /// `(n, d)`: samples and values per sample.
    fn rows(&self) -> (usize, usize) {
        let (&n, rest) = self.shape.split_first().unwrap_or((&0, &[]));
        (n, rest.iter().product())
    }
}

impl Activations for HostRows<'_> {
    fn dims(&self) -> &[usize] {
        &self.shape
    }

    fn dtype(&self) -> DType {
        DType::F32
    }

    fn host_rows(&self) -> Result<(usize, usize, Cow<'_, [f32]>)> {
        let (n, d) = self.rows();
        Ok((n, d, Cow::Borrowed(&self.values)))
    }

    fn tensor(&self) -> Result<Cow<'_, Tensor>> {
        let t = Tensor::from_slice(&self.values, self.shape.as_slice(), &Device::Cpu)?;
        Ok(Cow::Owned(t))
    }

    fn binned_mi(&self, binning: &Binning, x_ids: &[u32], y: &[u32]) -> Result<BinnedMi> {
        let (n, d) = self.rows();
        binned_mi(&self.values, n, d, binning, x_ids, y)
    }
}

/// One layer held either way: a tensor (any dtype, any device) or host `f32` rows.
#[derive(Clone, Debug)]
pub enum Layer<'a> {
    /// A candle tensor `[n, …]`.
    Tensor(Tensor),
    /// Host `f32` rows `[n, …]`, borrowed or owned.
    Host(HostRows<'a>),
}

impl From<Tensor> for Layer<'_> {
    fn from(t: Tensor) -> Self {
        Layer::Tensor(t)
    }
}

impl<'a> From<HostRows<'a>> for Layer<'a> {
    fn from(h: HostRows<'a>) -> Self {
        Layer::Host(h)
    }
}

impl Activations for Layer<'_> {
    fn dims(&self) -> &[usize] {
        match self {
            Layer::Tensor(t) => Activations::dims(t),
            Layer::Host(h) => h.dims(),
        }
    }

    fn dtype(&self) -> DType {
        match self {
            Layer::Tensor(t) => Activations::dtype(t),
            Layer::Host(h) => h.dtype(),
        }
    }

    fn host_rows(&self) -> Result<(usize, usize, Cow<'_, [f32]>)> {
        match self {
            Layer::Tensor(t) => Activations::host_rows(t),
            Layer::Host(h) => h.host_rows(),
        }
    }

    fn tensor(&self) -> Result<Cow<'_, Tensor>> {
        match self {
            Layer::Tensor(t) => Activations::tensor(t),
            Layer::Host(h) => h.tensor(),
        }
    }

    fn binned_mi(&self, binning: &Binning, x_ids: &[u32], y: &[u32]) -> Result<BinnedMi> {
        match self {
            Layer::Tensor(t) => Activations::binned_mi(t, binning, x_ids, y),
            Layer::Host(h) => h.binned_mi(binning, x_ids, y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{estimate_layer, extras_all, EstimatorSpec, ExtrasSpec, NamedEstimator, Samples};

    /// A layer lent as host rows must give what the same values in a tensor give, to the bit,
    /// for every estimator and the extras (flows, statistics); `[n, 2, 3]` checks that a
    /// trailing shape is flattened alike.
    #[test]
    fn host_rows_estimate_as_the_tensor_does() {
        let n = 40;
        let vals = |s: f32| -> Vec<f32> {
            (0..n * 6)
                .map(|i| ((i as f32 * 0.37 + s).sin() * 1.3).tanh())
                .collect()
        };
        let (a, b) = (vals(0.0), vals(1.0));
        let tensors: Vec<(String, Tensor)> = [("a", &a), ("b", &b)]
            .iter()
            .map(|(name, v)| {
                let t = Tensor::from_slice(v.as_slice(), (n, 2, 3), &Device::Cpu).unwrap();
                (name.to_string(), t)
            })
            .collect();
        let host: Vec<(String, Layer)> = [("a", &a), ("b", &b)]
            .iter()
            .map(|(name, v)| {
                let h = HostRows::new(v.as_slice(), vec![n, 2, 3]).unwrap();
                (name.to_string(), Layer::from(h))
            })
            .collect();
        let samples = Samples {
            x_ids: (0..n as u32).collect(),
            x: Some((a.clone(), 6)), // layer "a" is the identity of the inputs
            y: (0..n as u32).map(|i| i % 3).collect(),
        };
        let est: Vec<NamedEstimator> = [
            EstimatorSpec::Binned(Binning::Fixed {
                lo: -1.0,
                hi: 1.0,
                edges: 30,
            }),
            EstimatorSpec::Binned(Binning::Adaptive { bins: 8 }),
            EstimatorSpec::Kde { sigma2: 0.05 },
            EstimatorSpec::Knn { k: 3 },
        ]
        .into_iter()
        .enumerate()
        .map(|(i, spec)| NamedEstimator {
            name: format!("e{i}"),
            spec,
        })
        .collect();
        let rows = |layers: &[(String, Layer)]| {
            let mut out = Vec::new();
            for (name, t) in layers {
                for e in &est {
                    out.push(estimate_layer(name, t, e, &samples).unwrap());
                }
            }
            out
        };
        let wrapped: Vec<(String, Layer)> = tensors
            .iter()
            .map(|(n, t)| (n.clone(), Layer::from(t.clone())))
            .collect();
        let (from_tensor, from_host) = (rows(&wrapped), rows(&host));
        assert_eq!(from_tensor, from_host);
        let plain: Vec<_> = tensors
            .iter()
            .flat_map(|(name, t)| est.iter().map(move |e| (name, t, e)))
            .map(|(name, t, e)| estimate_layer(name, t, e, &samples).unwrap())
            .collect();
        assert_eq!(plain, from_host);
        assert!(
            from_host.iter().all(|e| e.i_xt > 0.1 && e.i_ty.is_finite()),
            "{from_host:#?}"
        );
        let spec = ExtrasSpec::new(true, true, 0.9).unwrap();
        let (f_t, s_t) = extras_all(&spec, &tensors, &est, &from_tensor).unwrap();
        let (f_h, s_h) = extras_all(&spec, &host, &est, &from_host).unwrap();
        assert_eq!((f_t.len(), s_t.len()), (3, 4));
        assert_eq!((f_t, s_t), (f_h, s_h));
        assert_eq!(Activations::dims(&host[0].1), &[n, 2, 3]);
    }

    /// Values that do not fill the shape, or a scalar shape, are refused, not read past.
    #[test]
    fn host_rows_check_their_shape() {
        let v = [0.0f32; 6];
        assert!(HostRows::new(&v[..], vec![2, 3]).is_ok());
        let e = HostRows::new(&v[..], vec![2, 4]).unwrap_err();
        assert!(matches!(
            e,
            Error::LengthMismatch {
                expected: 8,
                got: 6,
                ..
            }
        ));
        assert!(matches!(
            HostRows::new(&v[..], vec![]),
            Err(Error::InvalidShape { .. })
        ));
        assert!(matches!(
            HostRows::new(&v[..], vec![usize::MAX, 2]),
            Err(Error::InvalidShape { .. })
        ));
    }
}
