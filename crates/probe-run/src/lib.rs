//! probe's run pipeline as a library: what `probe train` and `probe analyze` do, callable from
//! any front end (the CLI, the Python bindings, a notebook, a benchmark, a test).
//!
//! * [`config`] — the typed run configuration (TOML), validated once, errors naming the key;
//! * [`run`] — setup (data, model, probe set, run directory) and the training loop;
//! * [`measure`] / [`estimate`] — capture of hook points and the estimators run on them;
//! * [`resume`] — checkpoints and `--resume`;
//! * [`analyze`] — the information plane of activations captured elsewhere.
//!
//! Errors are [`Error`] (with [`Context`] to say what was being done); values are in **bits**.
#![warn(missing_docs)]

pub mod analyze;
pub mod config;
pub mod data;
pub mod device;
pub mod ensemble_run;
pub mod error;
pub mod estimate;
pub mod gradcsv;
pub mod measure;
pub mod model;
pub mod outdir;
pub mod resume;
pub mod run;
pub mod stepper;
pub mod sweep_plot;
pub mod tensors;
pub mod vib_csv;

pub use error::{Context, Error, Result};
