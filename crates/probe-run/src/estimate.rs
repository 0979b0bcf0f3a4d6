//! The estimators `probe train` and `probe analyze` run, re-exported from `probe_estimators` (the
//! spec and its validation in [`probe_estimators::spec`], the dispatch in
//! [`probe_estimators::estimate`]) for the modules of this crate that name them as
//! `crate::estimate::…`.
//!
//! Both commands resolve their estimators (config tables or flags) into [`NamedEstimator`]s, run
//! them on one layer's activations `[n, …]` (each sample flattened) with [`estimate_layer`], and
//! format the result with [`crate::rundir::estimate_row`] under [`crate::rundir::INFOPLANE_HEADER`],
//! so a row of `analysis.csv` for a dumped epoch is byte-identical to the row `infoplane.csv` holds
//! for it. All values are in **bits**.

pub use probe_estimators::{
    estimate_layer, host_rows, ksg_mi_labels, quoted, Estimate, EstimatorSpec, NamedEstimator,
    RawEstimator, Samples, KINDS,
};
