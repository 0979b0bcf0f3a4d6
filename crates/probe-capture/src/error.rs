//! The capture crate's error type.

/// Errors from hook-point filters, the activation cache and schedules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A glob pattern in a hook filter cannot be used.
    #[error("invalid hook filter pattern {pattern:?}: {reason}")]
    BadPattern {
        /// The pattern as written.
        pattern: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A hook filter matched none of the model's hook points.
    #[error(
        "hook filter {patterns:?} matches none of the model's hook points; available: {available}"
    )]
    NoMatch {
        /// The filter's patterns.
        patterns: Vec<String>,
        /// The model's hook point names, comma separated.
        available: String,
    },
    /// A representation name or its use on a hook point is invalid.
    #[error("invalid representation {value:?}: {reason}")]
    BadRepresentation {
        /// The representation as written.
        value: String,
        /// What is wrong and what is expected.
        reason: String,
    },
    /// Two representation patterns select the same hook point.
    #[error("hook point {hook} is matched by two representation patterns, {first:?} and {second:?}; make the patterns select disjoint hooks")]
    AmbiguousRepresentation {
        /// The hook point.
        hook: String,
        /// One pattern.
        first: String,
        /// Another pattern.
        second: String,
    },
    /// A schedule's parameters are invalid for the run length.
    #[error("invalid measurement schedule: {0}")]
    Schedule(String),
    /// A tensor operation failed while caching.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Result with the capture crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
