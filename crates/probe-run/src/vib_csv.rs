//! `vib.csv`: one row per epoch of a `[vib]` run (Alemi et al.'s Variational Information
//! Bottleneck), with the two IB bounds measured on the test set.
//!
//! Columns: `epoch`, `beta`, `lr` (the learning rate the epoch trained with), `train_ce` and
//! `train_kl` (nats, sample-weighted means over the epoch's batches, one sample of z each),
//! `train_loss` (= `train_ce + beta·train_kl`), `train_acc`, `test_ce` (nats, of the softmax
//! averaged over `vib.samples` draws of z), `test_acc`, `test_error` (= 1 − `test_acc`),
//! `izx_bits` (upper bound on I(Z;X): E_x KL(q(z|x) ‖ N(0, I)) / ln 2) and `izy_bits` (lower bound
//! on I(Z;Y): (H(Y) − E[−ln q(y|z)]) / ln 2, H(Y) the test labels' empirical entropy).

use crate::error::Result;
use probe_report::{fmt_f64, CsvTable};
use probe_train::vib::trainer::{VibEpoch, VibEval};

/// Columns of `vib.csv`.
pub const VIB_HEADER: [&str; 12] = [
    "epoch",
    "beta",
    "lr",
    "train_ce",
    "train_kl",
    "train_loss",
    "train_acc",
    "test_ce",
    "test_acc",
    "test_error",
    "izx_bits",
    "izy_bits",
];

/// Adds the row of `epoch`.
pub fn push_row(
    table: &mut CsvTable,
    epoch: usize,
    beta: f64,
    lr: f64,
    e: &VibEpoch,
    ev: &VibEval,
) -> Result<()> {
    table.push([
        epoch.to_string(),
        fmt_f64(beta),
        fmt_f64(lr),
        fmt_f64(e.ce),
        fmt_f64(e.kl),
        fmt_f64(e.loss),
        fmt_f64(e.acc),
        fmt_f64(ev.ce_avg),
        fmt_f64(ev.acc),
        fmt_f64(1.0 - ev.acc),
        fmt_f64(ev.izx_bits),
        fmt_f64(ev.izy_bits),
    ])?;
    Ok(())
}
