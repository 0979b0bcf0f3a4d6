//! Bounds on the config values that size work or memory, checked before any work: an absurd
//! value (`epochs = 1e12`, a layer of 10⁹ units) is a config error naming the key and its bound,
//! not an allocation that aborts the process or hours of work before the first message.
//!
//! The bounds are far above what the studies probe reproduces needs (IDNNs: 8000 epochs, 274
//! measurements; Saxe et al.: MNIST MLPs of 1024 units).

use crate::config::{Config, DumpSpec, ModelSpec};
use crate::error::{bail, Result};

/// Most epochs of a run (`train.epochs`, `--epochs`).
pub const MAX_EPOCHS: usize = 10_000_000;
/// Most measured epochs of a run (each adds rows to every table and is kept in memory).
pub const MAX_MEASUREMENTS: usize = 100_000;
/// Most activation files `measure.dump_activations` may write.
pub const MAX_DUMPS: usize = 10_000;
/// Most units of one layer, channels of a convolution, or model width.
pub const MAX_WIDTH: usize = 1 << 20;
/// Most layers (or blocks) of a model.
pub const MAX_LAYERS: usize = 10_000;
/// Most seeds of an ensemble (`train.repeats`).
pub const MAX_REPEATS: usize = 1024;
/// Most bins or edges of a binning estimator, and neighbours of knn.
pub const MAX_BINS: usize = 1 << 20;
/// Most samples of z a VIB averages at evaluation.
pub const MAX_VIB_SAMPLES: usize = 10_000;

/// Checks every bounded value of `cfg`.
pub fn check(cfg: &Config) -> Result<()> {
    let mut sizes: Vec<(String, usize, usize)> = vec![
        ("train.epochs".into(), cfg.train.epochs, MAX_EPOCHS),
        ("train.repeats".into(), cfg.train.repeats, MAX_REPEATS),
    ];
    if let Some(p) = cfg.measure.points {
        sizes.push(("measure.points".into(), p, MAX_MEASUREMENTS));
    }
    if let Some(v) = &cfg.vib {
        sizes.push(("vib.k".into(), v.k, MAX_WIDTH));
        sizes.push(("vib.samples".into(), v.samples, MAX_VIB_SAMPLES));
    }
    if let Some(DumpSpec::Epochs(list)) = &cfg.measure.dump_activations {
        sizes.push(("measure.dump_activations".into(), list.len(), MAX_DUMPS));
    }
    for (i, e) in cfg.measure.estimators.iter().enumerate() {
        for (key, v) in [("edges", e.edges), ("bins", e.bins), ("k", e.k)] {
            if let Some(v) = v {
                sizes.push((format!("measure.estimators[{i}].{key}"), v, MAX_BINS));
            }
        }
    }
    model_sizes(&cfg.model, &mut sizes);
    for (key, value, max) in sizes {
        if value > max {
            bail!("invalid value for `{key}`: {value}; at most {max} is allowed (a larger value would take memory or time no run of probe needs)");
        }
    }
    if cfg.train.epochs <= MAX_EPOCHS {
        let measured = cfg.measured()?.len();
        if measured > MAX_MEASUREMENTS {
            bail!(
                "invalid value for `measure.schedule`: it measures {measured} of the {} epochs, at most {MAX_MEASUREMENTS} measurements are allowed; use schedule = \"log\" with `points`, or \"every_k\" with a larger `every`",
                cfg.train.epochs
            );
        }
    }
    Ok(())
}

/// The widths and depths of `model`, with their keys and bounds.
fn model_sizes(model: &ModelSpec, out: &mut Vec<(String, usize, usize)>) {
    let mut widths = |key: &str, list: &[usize]| {
        out.push((format!("model.{key} (its length)"), list.len(), MAX_LAYERS));
        for (i, &w) in list.iter().enumerate() {
            out.push((format!("model.{key}[{i}]"), w, MAX_WIDTH));
        }
    };
    match model {
        ModelSpec::Mlp(m) => widths("widths", &m.widths),
        ModelSpec::Cnn(c) => {
            let channels: Vec<usize> = c.convs.iter().map(|s| s.channels).collect();
            widths("channels", &channels);
            widths("fc", &c.fc);
        }
        ModelSpec::Transformer(t) => {
            widths("d_model", &[t.d_model]);
            widths("d_mlp", &[t.d_mlp]);
            out.push(("model.layers".into(), t.layers, MAX_LAYERS));
        }
        ModelSpec::Rnn(r) => {
            widths("hidden", &[r.hidden]);
            out.push(("model.layers".into(), r.layers, MAX_LAYERS));
        }
    }
}
