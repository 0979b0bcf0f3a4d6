//! Estimators as Python objects: `probe.Binned(lo=-1, hi=1, edges=30)`, `probe.Floor(width)`,
//! `probe.Adaptive(bins=30)`, `probe.Kde(sigma2)`, `probe.Knn(k=3)`, all subclasses of
//! `probe.Estimator`. Each is validated when made, by the same rules (and messages) as a config's
//! `[[measure.estimators]]` table; `name` (default: the kind) is the `estimator` column of its
//! rows, so two estimators of one kind can run side by side.

use probe_estimators::{Binning, EstimatorSpec, NamedEstimator, RawEstimator};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::PyClassInitializer;

use crate::errors::{est_to_py, type_error};

/// An information estimator (the base class of `Binned`, `Floor`, `Adaptive`, `Kde`, `Knn`).
#[pyclass(subclass, frozen, module = "probe._probe")]
pub struct Estimator {
    pub(crate) inner: NamedEstimator,
}

impl Estimator {
    fn make(class: &str, raw: RawEstimator, name: Option<String>) -> PyResult<Self> {
        let spec = raw
            .resolve(&|k| format!("{class}({k})"))
            .map_err(est_to_py)?;
        Ok(Estimator {
            inner: NamedEstimator {
                name: name.unwrap_or_else(|| raw.kind.clone()),
                spec,
            },
        })
    }
}

/// The Python class of `spec`: its kind, capitalised (`binned` → `Binned`).
fn class_of(spec: &EstimatorSpec) -> String {
    let kind = spec.kind();
    format!("{}{}", kind[..1].to_uppercase(), &kind[1..])
}

/// The parameters of `spec` as `(key, Python value)` pairs.
fn params<'py>(py: Python<'py>, spec: &EstimatorSpec) -> PyResult<Vec<(&'static str, Py<PyAny>)>> {
    let f = |x: f64| x.into_pyobject(py).map(|o| o.into_any().unbind());
    let u = |x: usize| x.into_pyobject(py).map(|o| o.into_any().unbind());
    Ok(match spec {
        EstimatorSpec::Binned(Binning::Fixed { lo, hi, edges }) => {
            vec![("lo", f(*lo)?), ("hi", f(*hi)?), ("edges", u(*edges)?)]
        }
        EstimatorSpec::Binned(Binning::Floor { width }) => vec![("width", f(*width)?)],
        EstimatorSpec::Binned(Binning::Adaptive { bins }) => vec![("bins", u(*bins)?)],
        EstimatorSpec::Kde { sigma2 } => vec![("sigma2", f(*sigma2)?)],
        EstimatorSpec::Knn { k } => vec![("k", u(*k)?)],
    })
}

#[pymethods]
impl Estimator {
    /// The `estimator` column of this estimator's rows.
    #[getter]
    fn name(&self) -> &str {
        &self.inner.name
    }

    /// `binned`, `floor`, `adaptive`, `kde` or `knn`.
    #[getter]
    fn kind(&self) -> &'static str {
        self.inner.spec.kind()
    }

    /// The parameters, as a dict (`{"lo": -1.0, "hi": 1.0, "edges": 30}`).
    #[getter]
    fn params<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in params(py, &self.inner.spec)? {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut parts = Vec::new();
        for (k, v) in params(py, &self.inner.spec)? {
            parts.push(format!("{k}={}", v.bind(py).repr()?));
        }
        if self.inner.name != self.inner.spec.kind() {
            parts.push(format!("name={:?}", self.inner.name));
        }
        Ok(format!(
            "{}({})",
            class_of(&self.inner.spec),
            parts.join(", ")
        ))
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        other
            .cast::<Estimator>()
            .is_ok_and(|o| o.get().inner == self.inner)
    }

    fn __hash__(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.inner.name.hash(&mut h);
        format!("{:?}", self.inner.spec).hash(&mut h);
        h.finish()
    }
}

/// IDNNs' fixed bins: `edges` edges `linspace(lo, hi, edges)`, `edges − 1` left-closed bins;
/// values below `lo` join the first bin, values at or above `hi` the last. Plug-in entropies of
/// each sample's row of bins, in bits.
#[pyclass(extends = Estimator, frozen, module = "probe._probe")]
pub struct Binned;

#[pymethods]
impl Binned {
    #[new]
    #[pyo3(signature = (lo = -1.0, hi = 1.0, edges = 30, *, name = None))]
    fn new(
        lo: f64,
        hi: f64,
        edges: usize,
        name: Option<String>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let raw = RawEstimator {
            kind: "binned".into(),
            lo: Some(lo),
            hi: Some(hi),
            edges: Some(edges),
            ..Default::default()
        };
        Ok(PyClassInitializer::from(Estimator::make("Binned", raw, name)?).add_subclass(Binned))
    }
}

/// An estimator class of one parameter, `param` (and `name`): `$class(...)` makes the estimator
/// of kind `$kind`, its messages naming `$class(param)`.
macro_rules! one_param_estimator {
    ($(#[doc = $doc:literal])* $class:ident, $kind:literal, ($($sig:tt)*), $param:ident: $ty:ident) => {
        $(#[doc = $doc])*
        #[pyclass(extends = Estimator, frozen, module = "probe._probe")]
        pub struct $class;

        #[pymethods]
        impl $class {
            #[new]
            #[pyo3(signature = ($($sig)*))]
            fn new($param: $ty, name: Option<String>) -> PyResult<PyClassInitializer<Self>> {
                let raw = RawEstimator {
                    kind: $kind.into(),
                    $param: Some($param),
                    ..Default::default()
                };
                let base = Estimator::make(stringify!($class), raw, name)?;
                Ok(PyClassInitializer::from(base).add_subclass($class))
            }
        }
    };
}

one_param_estimator!(
    /// Saxe et al.'s unbounded bins `floor(x / width)`; NaN, +inf and −inf each a bin of their own.
    Floor, "floor", (width, *, name = None), width: f64
);

one_param_estimator!(
    /// Chelombiev et al.'s `bins` equal-mass bins per layer (edges at ranks of the layer's sorted
    /// distinct finite values).
    Adaptive, "adaptive", (bins = 30, *, name = None), bins: usize
);

one_param_estimator!(
    /// Kolchinsky & Tracey's KDE bounds for `T + N(0, σ²I)` (Saxe et al.): `i_xt`, `i_ty` are the
    /// upper bounds, `i_xt_lower`, `i_ty_lower` the lower ones. `sigma2` in squared activation units.
    Kde, "kde", (sigma2, *, name = None), sigma2: f64
);

one_param_estimator!(
    /// KSG k-nearest-neighbour estimates (max-norm) of `I(X;T)` from the inputs, and Ross's mixed
    /// form for the discrete labels. Needs `inputs`.
    Knn, "knn", (k = 3, *, name = None), k: usize
);

/// `obj` as an estimator: an `Estimator` object, or a kind's name (`"binned"`, `"adaptive"`,
/// `"knn"` with their defaults; `"floor"` and `"kde"` need a parameter and say so).
pub fn extract(obj: &Bound<'_, PyAny>) -> PyResult<NamedEstimator> {
    if let Ok(e) = obj.cast::<Estimator>() {
        return Ok(e.get().inner.clone());
    }
    if let Ok(kind) = obj.extract::<String>() {
        let raw = RawEstimator {
            kind: kind.clone(),
            ..Default::default()
        };
        let spec = raw
            .resolve(&|k| {
                if k == "kind" {
                    "the estimator".to_string()
                } else {
                    k.to_string()
                }
            })
            .map_err(est_to_py)?;
        return Ok(NamedEstimator { name: kind, spec });
    }
    Err(type_error(format!(
        "expected an estimator (probe.Binned(), probe.Floor(width), probe.Adaptive(), probe.Kde(sigma2), probe.Knn()) or its kind's name, got {}",
        obj.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_default()
    )))
}

/// `estimators` (`None`, one estimator, or a sequence of them) as a validated list: default
/// `[Binned()]`; two estimators may not share a name.
pub fn extract_all(estimators: Option<&Bound<'_, PyAny>>) -> PyResult<Vec<NamedEstimator>> {
    let list = match estimators {
        None => vec![NamedEstimator {
            name: "binned".into(),
            spec: EstimatorSpec::Binned(Binning::Fixed {
                lo: -1.0,
                hi: 1.0,
                edges: 30,
            }),
        }],
        Some(obj) if obj.cast::<Estimator>().is_ok() || obj.extract::<String>().is_ok() => {
            vec![extract(obj)?]
        }
        Some(obj) => obj
            .try_iter()
            .map_err(|_| type_error("estimators: expected an estimator or a list of them"))?
            .map(|e| extract(&e?))
            .collect::<PyResult<Vec<_>>>()?,
    };
    if list.is_empty() {
        return Err(crate::errors::value_error(
            "estimators is empty; give at least one (default: [probe.Binned()])",
        ));
    }
    for (i, e) in list.iter().enumerate() {
        if list[..i].iter().any(|o| o.name == e.name) {
            return Err(crate::errors::value_error(format!(
                "two estimators are named {:?}; give one of them another name (e.g. probe.Binned(edges=10, name=\"binned10\"))",
                e.name
            )));
        }
    }
    Ok(list)
}
