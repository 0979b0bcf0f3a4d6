//! Helpers shared by the in-process tests of the run pipeline: scratch directories, the options
//! of a run, runs that must succeed or fail, and CSV readers.
//!
//! Every test trains through [`probe_run::train`] in this process (no `probe` binary): tests of
//! one file run in parallel threads, so nothing here changes the current directory or the
//! environment, and every run writes under `std::env::temp_dir()`, never into the repository.
//! Configs and data sets are found from the source checkout ([`root`]); the library itself
//! resolves `datasets/…` against the current directory with a fallback to the checkout.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;

use probe_run::config::Config;
use probe_run::{ConfigSource, Error, RunOutcome, TrainOptions};

mod shared;
pub use shared::*;

/// Two tests of one body `$check(tag, extra_train)` (a function or a closure): `$fused` on the
/// fused CPU path (the default for the 12-bit MLP) with the scratch tag `$tag`, and `$candle` on
/// the candle path (`train.fused = false`) with the tag `$tag-candle`.
#[allow(unused_macros)] // used by the tests that run on both paths
macro_rules! on_both_paths {
    ($check:expr, $tag:literal, $fused:ident, $candle:ident) => {
        #[test]
        fn $fused() {
            ($check)($tag, "");
        }

        #[test]
        fn $candle() {
            ($check)(concat!($tag, "-candle"), "fused = false");
        }
    };
}

/// Options that train the config file `path` into `out`.
pub fn file_opts(path: &Path, out: &Path) -> TrainOptions {
    let mut o = TrainOptions::new(ConfigSource::File(path.to_path_buf()));
    o.out = Some(out.to_path_buf());
    o
}

/// Options that train the TOML `text` (parsed in code, as a caller building configs would)
/// into `out`.
pub fn toml_opts(text: &str, out: &Path) -> TrainOptions {
    let config = Config::from_toml(text, "the test config")
        .unwrap_or_else(|e| panic!("test config does not parse: {}", e.chain()));
    let mut o = TrainOptions::new(ConfigSource::Value {
        config: Box::new(config),
        name: "the test config".into(),
    });
    o.out = Some(out.to_path_buf());
    o
}

/// Options that continue the run in `dir` from its checkpoint.
pub fn resume_opts(dir: &Path) -> TrainOptions {
    TrainOptions::new(ConfigSource::Resume(dir.to_path_buf()))
}

/// Trains `opts`, panicking with the whole error chain if it fails.
pub fn train(opts: &TrainOptions) -> RunOutcome {
    probe_run::train(opts, &mut []).unwrap_or_else(|e| panic!("run failed: {}", e.chain()))
}

/// Trains `cfg` into `dir`, stopped (as by `--stop-after`) after epoch `n`, which must not be
/// the last; returns the outcome.
pub fn train_stopped(cfg: &str, dir: &Path, n: usize) -> RunOutcome {
    let mut opts = toml_opts(cfg, dir);
    opts.stop_after = Some(n);
    let stopped = train(&opts);
    assert_eq!((stopped.epoch, stopped.stopped_after), (n, Some(n)));
    stopped
}

/// Trains `cfg` into `cut` stopped after epoch `n`, resumes it to the end, and asserts that its
/// files `names` are those of `full`, the same run uninterrupted; returns the resumed run.
pub fn stop_and_resume(cfg: &str, cut: &Path, n: usize, full: &Path, names: &[&str]) -> RunOutcome {
    train_stopped(cfg, cut, n);
    let resumed = train(&resume_opts(cut));
    assert_eq!(resumed.stopped_after, None, "the resumed run ends");
    assert_same_files(full, cut, names);
    resumed
}

/// Trains `opts`, which must fail; returns the error.
pub fn train_err(opts: &TrainOptions) -> Error {
    match probe_run::train(opts, &mut []) {
        Ok(o) => panic!("expected the run to fail; it ended at epoch {}", o.epoch),
        Err(e) => e,
    }
}

/// Asserts that every table the run returned in memory is what its CSV file holds.
pub fn assert_tables_match_files(outcome: &RunOutcome) {
    assert!(!outcome.tables.is_empty(), "a run returns its tables");
    for (name, table) in &outcome.tables {
        let path = outcome.out.join(name);
        if !path.exists() {
            // Tables a run does not keep (e.g. gradients.csv without `measure.gradients`).
            assert!(table.is_empty(), "{name} has rows but was not written");
            continue;
        }
        let file = std::fs::read_to_string(&path).unwrap();
        assert_eq!(table.to_string(), file, "{name}: in memory vs on disk");
    }
}

/// Resumes the run in `dir`, which must be refused without changing a byte of the directory;
/// returns the error.
pub fn refused_resume(dir: &Path) -> Error {
    let before = dir_files(dir);
    let err = train_err(&resume_opts(dir));
    assert_eq!(dir_files(dir), before, "a refused resume changes nothing");
    err
}

/// A small VIB run on the committed Fashion-MNIST subset: a 784-32 ReLU encoder to K = 4
/// (β 0.01, 3 noise samples, lr 0.001 halved every epoch), 3 epochs in batches of 100 with a
/// checkpoint after each, measured every epoch on the test images at the encoder's hooks and
/// μ, σ by the floor estimator of width 0.5. `measure` is added to the `[measure]` table.
pub fn small_vib(measure: &str) -> String {
    format!(
        r#"name = "vib_small"
seed = 2
device = "cpu"
[data]
dataset = "fashion-mnist-subset"
[model]
widths = [784, 32, 10]
activation = "relu"
[vib]
k = 4
beta = 0.01
samples = 3
lr_decay = 0.5
lr_decay_every = 1
[train]
optimizer = "adam"
lr = 0.001
batch_size = 100
epochs = 3
checkpoint_every = 1
[measure]
schedule = "every"
on = "test"
hooks = ["encoder.*.hook_post", "z.hook_mu", "z.hook_sigma"]
estimators = [{{ kind = "floor", width = 0.5 }}]
{measure}"#
    )
}

/// A run of `epochs` epochs of the `[model]` table's keys `model` on 100 images of the committed
/// Fashion-MNIST subset (seed 3, Adam, lr 0.003, batches of 25, a checkpoint every 2nd epoch),
/// measured every epoch on the test images at `hooks` (a `measure.hooks` list) by the adaptive
/// estimator with 10 bins.
pub fn small_fashion(name: &str, model: &str, hooks: &str, epochs: usize) -> String {
    format!(
        r#"
name = "{name}"
seed = 3
device = "cpu"
[data]
dataset = "fashion-mnist-subset"
train_limit = 100
[model]
{model}
[train]
optimizer = "adam"
lr = 0.003
batch_size = 25
epochs = {epochs}
checkpoint_every = 2
[measure]
schedule = "every"
on = "test"
flow = false
hooks = {hooks}
estimators = [{{ kind = "adaptive", bins = 10 }}]
"#
    )
}

/// A `[model]` table for [`small_fashion`]: a CNN of two convolutions with batch norm and
/// dropout, whose running statistics and dropout stream are state outside the trained weights.
pub const SMALL_CNN: &str = r#"kind = "cnn"
channels = [2, 4]
fc = [8]
batch_norm = true
dropout = 0.3"#;

/// A `[model]` table: a vision transformer of one block on 7×7 patches (d_model 8, 2 heads, an
/// MLP of 16).
pub const TINY_VIT: &str = r#"kind = "transformer"
patch = 7
d_model = 8
heads = 2
layers = 1
d_mlp = 16"#;

/// A `[model]` table: an LSTM of one layer of 8 units.
pub const TINY_LSTM: &str = r#"kind = "rnn"
cell = "lstm"
hidden = 8"#;

/// The hooks [`small_fashion`] measures on [`SMALL_CNN`].
pub const SMALL_CNN_HOOKS: &str = r#"["convs.*.hook_post", "fc.0.hook_post"]"#;

/// Trains `cfg` into `dir` as a run killed after epoch `killed` whose last checkpoint is from
/// epoch `ckpt`: the tables already hold the rows up to `killed` (which resume must not
/// duplicate), and `checkpoint.safetensors` is put back to epoch `ckpt`'s bytes.
pub fn crash_after(cfg: &str, dir: &Path, ckpt: usize, killed: usize) {
    train_stopped(cfg, dir, ckpt);
    let saved = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let mut opts = resume_opts(dir);
    opts.stop_after = Some(killed);
    train(&opts);
    std::fs::write(dir.join("checkpoint.safetensors"), saved).unwrap();
}
