//! The run directory, defined once: every file name probe writes, every table's columns and how
//! a value becomes a CSV row. Floats are written with [`fmt_f64`] (the shortest text that parses
//! back to the same `f64`); information is in **bits**, losses in nats.
//!
//! | file | columns |
//! | --- | --- |
//! | `config.toml` | the resolved config |
//! | `metrics.csv` | [`METRICS_HEADER`] (ensembles: a leading `seed`) |
//! | `infoplane.csv` | [`INFOPLANE_HEADER`] (ensembles: a leading `seed`); `probe analyze`'s `analysis.csv` |
//! | `infoplane_mean.csv` | [`MEAN_HEADER`] (ensembles) |
//! | `flow.csv` | [`FLOW_HEADER`]; `analysis-flow.csv` |
//! | `stats.csv` | [`STATS_HEADER`]; `analysis-stats.csv` |
//! | `gradients.csv` | [`GRADIENTS_HEADER`] (`measure.gradients`) |
//! | `vib.csv` | [`VIB_HEADER`] (`[vib]`) |
//! | `model.safetensors`, `model-seed{S}.safetensors` | final weights |
//! | `checkpoint.safetensors` | [`crate::resume`] |
//! | `activations-epoch{E}.safetensors`, `labels.safetensors`, `inputs.safetensors` | dumps ([`crate::tensors`]) |
//!
//! `vib.csv`: one row per epoch of a `[vib]` run (Alemi et al.'s Variational Information
//! Bottleneck), with the two IB bounds measured on the test set: `epoch`, `beta`, `lr` (the
//! learning rate the epoch trained with), `train_ce` and `train_kl` (nats, sample-weighted means
//! over the epoch's batches, one sample of z each), `train_loss` (= `train_ce + beta·train_kl`),
//! `train_acc`, `test_ce` (nats, of the softmax averaged over `vib.samples` draws of z),
//! `test_acc`, `test_error` (= 1 − `test_acc`), `izx_bits` (upper bound on I(Z;X):
//! E_x KL(q(z|x) ‖ N(0, I)) / ln 2) and `izy_bits` (lower bound on I(Z;Y): (H(Y) − E[−ln q(y|z)])
//! / ln 2, H(Y) the test labels' empirical entropy).

pub mod files;
pub mod gradients;
pub mod plots;
pub mod writer;

use std::path::PathBuf;

use probe_estimators::{Estimate, Flow, Stats};
use probe_report::fmt_f64;
use probe_train::gradients::LayerGrad;

use crate::step::VibRow;

pub use writer::RunDirWriter;

/// The resolved config.
pub const CONFIG_FILE: &str = "config.toml";
/// Per-epoch losses and accuracies.
pub const METRICS_FILE: &str = "metrics.csv";
/// The information plane.
pub const INFOPLANE_FILE: &str = "infoplane.csv";
/// An ensemble's mean information plane.
pub const MEAN_FILE: &str = "infoplane_mean.csv";
/// Layer-to-layer information.
pub const FLOW_FILE: &str = "flow.csv";
/// Activation statistics.
pub const STATS_FILE: &str = "stats.csv";
/// Gradient signal-to-noise.
pub const GRADIENTS_FILE: &str = "gradients.csv";
/// A VIB's bounds.
pub const VIB_FILE: &str = "vib.csv";
/// A single run's final weights (PyTorch names).
pub const MODEL_FILE: &str = "model.safetensors";
/// The probe set's labels, written with the first dump.
pub const LABELS_FILE: &str = "labels.safetensors";
/// The probe set's inputs, written with the first dump.
pub const INPUTS_FILE: &str = "inputs.safetensors";

/// An ensemble replica's final weights.
pub fn model_seed_file(seed: u64) -> String {
    format!("model-seed{seed}.safetensors")
}

/// The dump of `epoch`'s activations.
pub fn dump_file(epoch: usize) -> String {
    format!("activations-epoch{epoch}.safetensors")
}

/// Columns of `metrics.csv`.
pub const METRICS_HEADER: [&str; 5] = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc"];

/// Columns of `infoplane.csv` and `analysis.csv`. `i_xt_lower`, `i_ty_lower` and `sigma2` are
/// filled only by estimators that give bounds (KDE); for those, `i_xt` and `i_ty` are the upper
/// bounds. `epoch` is empty in `analysis.csv` for activations that carry no epoch.
pub const INFOPLANE_HEADER: [&str; 8] = [
    "epoch",
    "layer",
    "estimator",
    "i_xt",
    "i_ty",
    "i_xt_lower",
    "i_ty_lower",
    "sigma2",
];

/// Columns of `infoplane_mean.csv`.
pub const MEAN_HEADER: [&str; 8] = [
    "epoch",
    "layer",
    "estimator",
    "seeds",
    "i_xt_mean",
    "i_xt_std",
    "i_ty_mean",
    "i_ty_std",
];

/// Columns of `flow.csv` (`probe train`) and `analysis-flow.csv` (`probe analyze`).
pub const FLOW_HEADER: [&str; 9] = [
    "epoch",
    "layer_from",
    "layer_to",
    "estimator",
    "i_bits",
    "i_bits_lower",
    "h_from_bits",
    "loss_bits",
    "bottleneck",
];

/// Columns of `stats.csv` (`probe train`) and `analysis-stats.csv` (`probe analyze`).
pub const STATS_HEADER: [&str; 12] = [
    "epoch",
    "layer",
    "estimator",
    "samples",
    "neurons",
    "entropy_mean",
    "entropy_min",
    "entropy_max",
    "surprisal_mean",
    "sparsity",
    "saturation",
    "dead_units",
];

/// Columns of `gradients.csv`.
pub const GRADIENTS_HEADER: [&str; 7] = [
    "epoch",
    "seed",
    "layer",
    "batches",
    "grad_mean_norm",
    "grad_std_norm",
    "snr",
];

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

/// `header` with a leading `seed` column (ensemble tables).
pub fn with_seed(header: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["seed"];
    v.extend_from_slice(header);
    v
}

/// The `epoch` cell of a row: empty for activations that carry no epoch (`probe analyze`).
fn epoch_cell(epoch: Option<usize>) -> String {
    epoch.map(|e| e.to_string()).unwrap_or_default()
}

/// An optional number's cell: empty when absent, else [`fmt_f64`].
fn opt_cell(x: Option<f64>) -> String {
    x.map(fmt_f64).unwrap_or_default()
}

/// The row of `e` under [`INFOPLANE_HEADER`]; `epoch` empty when `None`. Floats are written with
/// [`fmt_f64`] (shortest form that parses back to the same `f64`).
pub fn estimate_row(epoch: Option<usize>, e: &Estimate) -> [String; 8] {
    [
        epoch_cell(epoch),
        e.layer.clone(),
        e.estimator.clone(),
        fmt_f64(e.i_xt),
        fmt_f64(e.i_ty),
        opt_cell(e.i_xt_lower),
        opt_cell(e.i_ty_lower),
        opt_cell(e.sigma2),
    ]
}

/// The row of `f` under [`FLOW_HEADER`] (`epoch` empty when `None`).
pub fn flow_row(epoch: Option<usize>, f: &Flow) -> [String; 9] {
    [
        epoch_cell(epoch),
        f.layer_from.clone(),
        f.layer_to.clone(),
        f.estimator.clone(),
        fmt_f64(f.i_bits),
        opt_cell(f.i_bits_lower),
        fmt_f64(f.h_from_bits),
        fmt_f64(f.loss_bits),
        u8::from(f.bottleneck).to_string(),
    ]
}

/// The row of `s` under [`STATS_HEADER`] (`epoch` empty when `None`).
pub fn stats_row(epoch: Option<usize>, s: &Stats) -> [String; 12] {
    [
        epoch_cell(epoch),
        s.layer.clone(),
        s.estimator.clone().unwrap_or_default(),
        s.samples.to_string(),
        s.neurons.to_string(),
        opt_cell(s.entropy_mean),
        opt_cell(s.entropy_min),
        opt_cell(s.entropy_max),
        opt_cell(s.surprisal_mean),
        fmt_f64(s.sparsity),
        fmt_f64(s.saturation),
        s.dead_units.to_string(),
    ]
}

/// The row of a VIB epoch under [`VIB_HEADER`].
pub fn vib_row(epoch: usize, v: &VibRow) -> [String; 12] {
    [
        epoch.to_string(),
        fmt_f64(v.beta),
        fmt_f64(v.lr),
        fmt_f64(v.train.ce),
        fmt_f64(v.train.kl),
        fmt_f64(v.train.loss),
        fmt_f64(v.train.acc),
        fmt_f64(v.test.ce_avg),
        fmt_f64(v.test.acc),
        fmt_f64(1.0 - v.test.acc),
        fmt_f64(v.test.izx_bits),
        fmt_f64(v.test.izy_bits),
    ]
}

/// The rows of one epoch under [`GRADIENTS_HEADER`]; `seeds[r]` is the seed of replica `r`.
pub fn gradient_rows(epoch: usize, seeds: &[u64], rows: &[LayerGrad]) -> Vec<[String; 7]> {
    rows.iter()
        .map(|g| {
            let seed = seeds.get(g.replica).copied().unwrap_or_default();
            let snr = if g.std_norm > 0.0 {
                fmt_f64(g.mean_norm / g.std_norm)
            } else {
                String::new()
            };
            [
                epoch.to_string(),
                seed.to_string(),
                g.layer.clone(),
                g.batches.to_string(),
                fmt_f64(g.mean_norm),
                fmt_f64(g.std_norm),
                snr,
            ]
        })
        .collect()
}

/// `runs/{name}-{YYYYMMDD-HHMMSS}` in UTC.
pub fn default_out(name: &str) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    PathBuf::from("runs").join(format!(
        "{name}-{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    ))
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil_from_days(0), (1970, 1, 1));
        assert_eq!(super::civil_from_days(20_779), (2026, 11, 22));
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
    }
}
