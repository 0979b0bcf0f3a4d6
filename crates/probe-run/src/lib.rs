//! probe's run pipeline as a library: what `probe train` and `probe analyze` do, callable from
//! any front end (the CLI, the Python bindings, a notebook, a benchmark, a test).
//!
//! * [`config`] — the run configuration (TOML), validated once, errors naming the key;
//! * [`setup`] — the config, device, data, model, probe set and run directory of a run;
//! * [`step`] — one epoch of what a run trains (a model, a VIB, a seed ensemble);
//! * [`fit`] — the one training loop: schedule, measurement, checkpoints, resume, stops;
//! * [`observer`] — what a run tells the world (the run directory's writer, a progress bar);
//! * [`capture`], [`measure`], [`estimate`] — hook points and the estimators run on them;
//! * [`rundir`] — every file name and table schema of a run directory, and its writer;
//! * [`resume`] — checkpoints;
//! * [`analyze`] — the information plane of activations captured elsewhere.
//!
//! Errors are [`Error`] (with [`Context`] to say what was being done); values are in **bits**.
#![warn(missing_docs)]

pub mod analyze;
pub mod capture;
pub mod config;
pub mod data;
pub mod device;
pub mod error;
pub mod estimate;
pub mod fit;
pub mod measure;
pub mod model;
pub mod observer;
pub mod resume;
pub mod rundir;
pub mod runtime;
pub mod setup;
pub mod step;
pub mod sweep_plot;
pub mod tensors;

pub use error::{Context, Error, Result};
pub use fit::{train, RunOutcome};
pub use observer::Observer;
pub use setup::{ConfigSource, TrainOptions};
