//! The training crate's error type.

use std::path::PathBuf;

/// Errors from data loading, model construction, training and checkpoints.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Loading or splitting a data set failed.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// A model, optimiser or trainer setting is invalid.
    #[error("invalid value for `{key}`: {message}")]
    Invalid {
        /// The configuration key (e.g. `model.hidden`).
        key: String,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The training loss became NaN or infinite.
    #[error("training diverged at epoch {epoch}, batch {batch}: the loss became {loss}; lower the learning rate (`train.lr`) or check the data for NaN/inf values")]
    Diverged {
        /// The epoch (1-based) in which it happened.
        epoch: usize,
        /// The first mini-batch (1-based, in the epoch's order) whose loss was not finite.
        batch: usize,
        /// The offending loss value.
        loss: f64,
    },
    /// The training loss of one replica of a seed ensemble became NaN or infinite.
    #[error("training diverged at epoch {epoch}, batch {batch}: the loss of seed {seed} became {loss}; lower the learning rate (`train.lr`) or check the data for NaN/inf values")]
    DivergedReplica {
        /// The epoch (1-based) in which it happened.
        epoch: usize,
        /// The first mini-batch (1-based) whose loss was not finite.
        batch: usize,
        /// The seed of the replica.
        seed: u64,
        /// The offending loss value.
        loss: f64,
    },
    /// Reading or writing a checkpoint failed.
    #[error("checkpoint {path}: {message}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// A tensor operation failed.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// Hook points / capture failed.
    #[error(transparent)]
    Capture(#[from] probe_capture::Error),
}

/// Result with the training crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Invalid`] for `key`.
    pub fn invalid(key: &str, message: impl Into<String>) -> Self {
        Error::Invalid {
            key: key.to_string(),
            message: message.into(),
        }
    }
}
