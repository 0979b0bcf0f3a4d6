//! The library's error type: every failure of a run or an analysis, with the context it happened
//! in (the file, the config key, the epoch).
//!
//! An [`Error`] is either a cause — bad user input ([`Error::Invalid`]: a config value, a flag, a
//! file's contents), or a failure of a lower crate (training, estimation, capture, report, candle,
//! the filesystem) — or a [`Error::Context`] wrapping another error with what was being done.
//! `Display` prints one level; [`std::error::Error::source`] walks the chain, so a front end
//! prints the whole story with `{:#}` under `anyhow` (the CLI) or joins [`Error::chain`] (Python):
//!
//! ```
//! use probe_run::{Context, Error};
//! let e: Result<(), Error> = Err(Error::Invalid("`train.epochs` is 0".into()));
//! let e = e.context("invalid config file run.toml").unwrap_err();
//! assert_eq!(e.chain(), "invalid config file run.toml: `train.epochs` is 0");
//! assert!(e.is_invalid_input());
//! ```

use std::fmt::Display;

/// Everything that can go wrong in a run or an analysis.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad user input: a config value, a flag, a file's contents; the message names the key or
    /// file, says what was expected and how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// `source`, while doing what `context` says.
    #[error("{context}")]
    Context {
        /// What was being done (e.g. `invalid config file run.toml`).
        context: String,
        /// The error underneath.
        #[source]
        source: Box<Error>,
    },
    /// A signal (SIGINT, SIGTERM: the stop flag of [`crate::TrainOptions::stop`]) stopped the
    /// run after `epoch` (and `batches` batches of the next one), with a checkpoint written.
    #[error("interrupted by a signal {}; the checkpoint and the results so far are in {}; continue with: probe train --resume {}", match batches { Some(b) => format!("in epoch {} of {epochs} after {b} of its batches", epoch + 1), None => format!("after epoch {epoch} of {epochs}") }, dir.display(), dir.display())]
    Interrupted {
        /// The last epoch finished.
        epoch: usize,
        /// Batches finished of epoch `epoch + 1` when the signal stopped it between two
        /// batches; `None`: the run stopped at the end of `epoch`.
        batches: Option<usize>,
        /// The run's epochs.
        epochs: usize,
        /// The run directory.
        dir: std::path::PathBuf,
    },
    /// A filesystem operation.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Training: data, models, optimisers, checkpoints.
    #[error(transparent)]
    Train(#[from] probe_train::Error),
    /// An estimator.
    #[error(transparent)]
    Estimator(#[from] probe_estimators::Error),
    /// Hook points, schedules, representations.
    #[error(transparent)]
    Capture(#[from] probe_capture::Error),
    /// Tables, plots, atomic files.
    #[error(transparent)]
    Report(#[from] probe_report::Error),
    /// A tensor operation.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// A safetensors file.
    #[error(transparent)]
    Safetensors(#[from] safetensors::SafeTensorError),
    /// JSON (`analysis.json`).
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A config file's TOML syntax, keys or types.
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// Writing the resolved config.
    #[error(transparent)]
    TomlWrite(#[from] toml::ser::Error),
    /// A number in a table.
    #[error(transparent)]
    ParseFloat(#[from] std::num::ParseFloatError),
    /// An integer in a table.
    #[error(transparent)]
    ParseInt(#[from] std::num::ParseIntError),
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<probe_train::data::DataError> for Error {
    fn from(e: probe_train::data::DataError) -> Self {
        Error::Train(e.into())
    }
}

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

    /// Whether the cause is bad user input (a config value, a flag, a file's contents, a data
    /// set) rather than a failure of the machine (the filesystem, a device) or of probe.
    pub fn is_invalid_input(&self) -> bool {
        // An estimator spec, the saturation threshold, knn without inputs or with too few
        // samples per class: `probe_estimators` words these as its own `Invalid`.
        if let Error::Estimator(e) = self.root() {
            return matches!(e.root(), probe_estimators::Error::Invalid(_));
        }
        matches!(
            self.root(),
            Error::Invalid(_)
                | Error::Toml(_)
                | Error::ParseFloat(_)
                | Error::ParseInt(_)
                | Error::Capture(_)
                | Error::Safetensors(_)
                | Error::Train(probe_train::Error::Invalid { .. } | probe_train::Error::Data(_))
                | Error::Report(
                    probe_report::Error::RunDirExists { .. }
                        | probe_report::Error::RunDirNotADir { .. }
                        | probe_report::Error::NotAFile { .. }
                )
        )
    }

    /// Whether the cause is a filesystem error.
    pub fn is_io(&self) -> bool {
        matches!(
            self.root(),
            Error::Io(_) | Error::Report(probe_report::Error::Io { .. })
        )
    }

    /// The whole chain on one line, outermost first: `a: b: c` (what `anyhow` prints with `{:#}`).
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(self);
        while let Some(e) = cur {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        out
    }
}

/// Adds what was being done to an error (`anyhow::Context`'s methods, for [`Error`]).
pub trait Context<T> {
    /// Wraps the error with `context`.
    fn context<C: Display>(self, context: C) -> Result<T>;
    /// Wraps the error with the context `f` makes (only on the error path).
    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T>;
}

impl<T, E: Into<Error>> Context<T> for std::result::Result<T, E> {
    fn context<C: Display>(self, context: C) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: context.to_string(),
            source: Box::new(e.into()),
        })
    }

    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.map_err(|e| Error::Context {
            context: f().to_string(),
            source: Box::new(e.into()),
        })
    }
}

impl<T> Context<T> for Option<T> {
    /// `None` becomes [`Error::Invalid`] with `context` as its message.
    fn context<C: Display>(self, context: C) -> Result<T> {
        self.ok_or_else(|| Error::Invalid(context.to_string()))
    }

    fn with_context<C: Display, F: FnOnce() -> C>(self, f: F) -> Result<T> {
        self.ok_or_else(|| Error::Invalid(f().to_string()))
    }
}

/// An [`Error::Invalid`] from a format string.
macro_rules! invalid {
    ($($arg:tt)*) => {
        $crate::error::Error::Invalid(format!($($arg)*))
    };
}

/// Returns an [`Error::Invalid`] from a format string.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::invalid!($($arg)*).into())
    };
}

pub(crate) use {bail, invalid};
