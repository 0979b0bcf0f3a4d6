//! The one error type of `probe-estimators`.
//!
//! Every public function validates its input and answers bad input with an [`Error`] whose message
//! names the offending value and what was expected; nothing in this crate panics on user input.
//! [`Error::Context`] wraps an error with what was being done (`estimator binned on
//! layers.0.hook_post`); `source()` walks the chain, so a front end prints the whole story.

use std::fmt::Display;

use candle_core::DType;

/// Everything that can go wrong in an estimator call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A [`crate::Binning`] with parameters that do not describe any bins.
    #[error("invalid binning: {0}")]
    InvalidBinning(String),

    /// A slice whose length does not match the declared shape.
    #[error("length mismatch: {what} has length {got}, expected {expected}")]
    LengthMismatch {
        /// Which argument is wrong, e.g. `"acts"` or `"y"`.
        what: &'static str,
        /// The length implied by the other arguments.
        expected: usize,
        /// The length that was passed.
        got: usize,
    },

    /// A dimension (sample count, row width, element count) outside the supported range.
    #[error("invalid dimension: {what} = {got}, expected {expected}")]
    InvalidDimension {
        /// Which dimension, e.g. `"n"` (rows) or `"d"` (values per row).
        what: &'static str,
        /// The value that was passed (or computed from the shape).
        got: usize,
        /// What the dimension must satisfy.
        expected: &'static str,
    },

    /// A tensor whose shape cannot be read as `[n, ...]` samples.
    #[error("invalid tensor shape {shape:?}: expected [n, ...] with rank >= 1")]
    InvalidShape {
        /// The shape of the tensor that was passed.
        shape: Vec<usize>,
    },

    /// A tensor dtype the estimators do not accept (activations must be floating point).
    #[error("unsupported dtype {0:?}: expected a floating-point dtype")]
    UnsupportedDtype(DType),

    /// A scalar parameter outside its domain (e.g. a noise variance `sigma2 <= 0`, a neighbour
    /// count `k` of 0 or `>= n`, a chunk size of 0).
    #[error("invalid parameter: {what} = {got}, expected {expected}")]
    InvalidParameter {
        /// Which parameter, e.g. `"sigma2"` or `"k"`.
        what: &'static str,
        /// The value that was passed, formatted.
        got: String,
        /// What the parameter must satisfy.
        expected: &'static str,
    },

    /// A sample (row) holding a NaN or infinite value, or, for the KDE estimators, a row whose
    /// squared norm does not fit in `f32` (see [`crate::kde`]).
    #[error("non-finite data: {what} row {row} holds a NaN or infinite value (or its squared norm overflows f32)")]
    NonFinite {
        /// Which argument, e.g. `"t"` or `"x"`.
        what: &'static str,
        /// The index of the first offending sample.
        row: usize,
    },

    /// Two tensors that must have the same shape do not.
    #[error(
        "shape mismatch: {what} has shape {got:?}, expected {expected:?} (the shape of {like})"
    )]
    ShapeMismatch {
        /// Which argument is wrong, e.g. `"sigma"`.
        what: &'static str,
        /// The shape it must have.
        expected: Vec<usize>,
        /// The argument it must match, e.g. `"mu"`.
        like: &'static str,
        /// The shape that was passed.
        got: Vec<usize>,
    },

    /// A probability vector (or distribution parameter) outside its domain: a negative or
    /// non-finite entry, a sum other than 1, a standard deviation that is not finite and positive.
    #[error("invalid distribution: {what}: {reason}")]
    InvalidDistribution {
        /// Which argument, e.g. `"p"` or `"sigma_q"`.
        what: &'static str,
        /// What is wrong and what was expected.
        reason: String,
    },

    /// Bad input described in words: an estimator spec that does not validate (the message names
    /// the config key or flag, through the caller's `key` closure, and what was expected), a
    /// layer that is a scalar, a class too small for knn's `I(T;Y)`, knn without the inputs.
    #[error("{0}")]
    Invalid(String),

    /// `source`, while doing what `context` says (e.g. `estimator binned on layers.0.hook_post`).
    #[error("{context}")]
    Context {
        /// What was being done.
        context: String,
        /// The error underneath.
        #[source]
        source: Box<Error>,
    },

    /// An error from candle: moving a tensor to host memory, or a tensor op of the KDE estimators.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),

    /// A failure of probe's own CUDA kernels (feature `cuda`): loading a kernel, a launch, a
    /// device allocation or transfer, or a kernel reporting an internal error.
    #[error("CUDA {op} failed: {reason}")]
    Cuda {
        /// What was being done, e.g. `"launch of row_keys_thr_f32"`.
        op: String,
        /// The driver's or kernel's error.
        reason: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// This error wrapped with `context` (what was being done).
    pub fn context<C: Display>(self, context: C) -> Error {
        Error::Context {
            context: context.to_string(),
            source: Box::new(self),
        }
    }

    /// The innermost error of the chain (the cause).
    pub fn root(&self) -> &Error {
        match self {
            Error::Context { source, .. } => source.root(),
            other => other,
        }
    }
}

/// Adds what was being done to an error (as `anyhow::Context` does).
pub(crate) trait Context<T> {
    /// Wraps the error with the context `f` makes (only on the error path).
    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|e| e.into().context(f()))
    }
}

/// Returns an [`Error::Invalid`] from a format string.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::Error::Invalid(format!($($arg)*)))
    };
}

pub(crate) use bail;
