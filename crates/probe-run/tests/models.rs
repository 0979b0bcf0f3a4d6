//! Smoke tests of the CNN, Transformer and RNN kinds, in process: each trains one epoch of a tiny
//! model on 200 images of the committed Fashion-MNIST subset and measures on its 500 test images.
//! Checked against what the config implies: `infoplane.csv` holds exactly the selected hook
//! points (the TransformerLens-style names of docs/hooks.md) for the measured epoch, each
//! representation has the width it must have (`stats.csv`'s `neurons`: channels for
//! `channel_mean`, K for `project:K`, d_model for `cls`, …), and every estimate equals the
//! independent reference of `reference/mod.rs` on the activations the run dumped.

use std::collections::BTreeMap;

mod common;
mod reference;
use common::{assert_tables_match_files, read_csv, tmp_dir, toml_opts, train, TINY_LSTM, TINY_VIT};
use reference::{check_run, Bins};

fn col(header: &[String], name: &str) -> usize {
    header.iter().position(|h| h == name).unwrap()
}

/// The common part of every config: 200 training images, one epoch, measured on the 500 test
/// images with 10 equal-mass bins, the activations dumped.
fn config(name: &str, model: &str, measure: &str) -> String {
    format!(
        r#"
name = "{name}"
[data]
dataset = "fashion-mnist-subset"
train_limit = 200
[model]
{model}
[train]
optimizer = "adam"
lr = 0.001
batch_size = 50
epochs = 1
[measure]
schedule = "every"
on = "test"
flow = false
dump_activations = [1]
{measure}
[[measure.estimators]]
kind = "adaptive"
bins = 10
"#
    )
}

/// Trains `cfg` and checks that the measured hooks are exactly `widths`' keys, each with its
/// representation width.
fn run_and_check(name: &str, cfg: &str, widths: &[(&str, usize)]) {
    let dir = tmp_dir(&format!("models-{name}"));
    let out = dir.join("run");
    let outcome = train(&toml_opts(cfg, &out));
    assert_tables_match_files(&outcome);

    let (h, rows) = read_csv(&out.join("metrics.csv"));
    assert_eq!(rows.len(), 1);
    let loss: f64 = rows[0][col(&h, "train_loss")].parse().unwrap();
    assert!(loss.is_finite() && loss > 0.0, "train loss {loss}");

    let want: BTreeMap<&str, usize> = widths.iter().copied().collect();
    let (h, rows) = read_csv(&out.join("infoplane.csv"));
    let layer = col(&h, "layer");
    let got: Vec<&str> = rows.iter().map(|r| r[layer].as_str()).collect();
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted,
        want.keys().copied().collect::<Vec<_>>(),
        "infoplane.csv layers"
    );
    let checked = check_run(&out, 1, &|est| {
        assert_eq!(est, "adaptive");
        Bins::Adaptive { bins: 10 }
    });
    assert_eq!(checked, want.len());

    let (h, rows) = read_csv(&out.join("stats.csv"));
    let (layer, neurons, samples) = (col(&h, "layer"), col(&h, "neurons"), col(&h, "samples"));
    assert_eq!(rows.len(), want.len());
    for r in &rows {
        let w = want[r[layer].as_str()];
        assert_eq!(r[neurons], w.to_string(), "width of {}", r[layer]);
        assert_eq!(r[samples], "500");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cnn_trains_and_measures_its_hook_points() {
    let cfg = config(
        "cnn_tiny",
        r#"kind = "cnn"
channels = [4, 8]
fc = [16]
batch_norm = true
dropout = 0.1"#,
        r#"hooks = ["convs.*.hook_pre", "convs.*.hook_post", "fc.0.hook_post", "fc.1.hook_pre"]
[measure.represent]
"convs.0.hook_pre" = "flatten"
"convs.1.hook_pre" = "project:12"
"convs.*.hook_post" = "channel_mean""#,
    );
    // convs.0.hook_pre is [B, 4, 28, 28] flattened; pooling halves 28 → 14 → 7.
    run_and_check(
        "cnn",
        &cfg,
        &[
            ("convs.0.hook_pre", 4 * 28 * 28),
            ("convs.0.hook_post", 4),
            ("convs.1.hook_pre", 12),
            ("convs.1.hook_post", 8),
            ("fc.0.hook_post", 16),
            ("fc.1.hook_pre", 10),
        ],
    );
}

#[test]
fn transformer_trains_and_measures_its_hook_points() {
    let cfg = config(
        "vit_tiny",
        TINY_VIT,
        r#"hooks = ["hook_embed", "blocks.0.hook_resid_*", "blocks.0.attn.hook_z", "blocks.0.attn.hook_pattern", "blocks.0.mlp.hook_post", "head.hook_post"]
[measure.represent]
"hook_embed" = "token_mean"
"blocks.0.hook_resid_pre" = "cls"
"blocks.0.hook_resid_mid" = "token_mean"
"blocks.0.hook_resid_post" = "cls"
"blocks.0.attn.hook_z" = "cls"
"blocks.0.attn.hook_pattern" = "project:6"
"blocks.0.mlp.hook_post" = "token_mean""#,
    );
    // 16 patches + CLS = 17 tokens; z is [B, 17, heads 2, dh 4]: its CLS row has 8 values.
    run_and_check(
        "transformer",
        &cfg,
        &[
            ("hook_embed", 8),
            ("blocks.0.hook_resid_pre", 8),
            ("blocks.0.hook_resid_mid", 8),
            ("blocks.0.hook_resid_post", 8),
            ("blocks.0.attn.hook_z", 8),
            ("blocks.0.attn.hook_pattern", 6),
            ("blocks.0.mlp.hook_post", 16),
            ("head.hook_post", 10),
        ],
    );
}

#[test]
fn rnn_trains_and_measures_its_hook_points() {
    let cfg = config(
        "lstm_tiny",
        TINY_LSTM,
        r#"hooks = ["rnn.0.steps.3.hook_h", "rnn.0.steps.27.hook_c", "rnn.0.hook_h_n", "rnn.0.hook_c_n", "head.hook_pre"]"#,
    );
    run_and_check(
        "rnn",
        &cfg,
        &[
            ("rnn.0.steps.3.hook_h", 8),
            ("rnn.0.steps.27.hook_c", 8),
            ("rnn.0.hook_h_n", 8),
            ("rnn.0.hook_c_n", 8),
            ("head.hook_pre", 10),
        ],
    );
}
