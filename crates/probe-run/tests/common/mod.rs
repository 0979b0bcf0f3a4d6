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

/// Two tests of one body `$check(tag, extra_train)`: `$fused` on the fused CPU path (the default
/// for the 12-bit MLP) with the scratch tag `$tag`, and `$candle` on the candle path
/// (`train.fused = false`) with the tag `$tag-candle`.
#[allow(unused_macros)] // used by the tests that run on both paths
macro_rules! on_both_paths {
    ($check:ident, $tag:literal, $fused:ident, $candle:ident) => {
        #[test]
        fn $fused() {
            $check($tag, "");
        }

        #[test]
        fn $candle() {
            $check(concat!($tag, "-candle"), "fused = false");
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

/// Every file of run directory `dir` (name → bytes), to compare directories byte for byte.
pub fn dir_files(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

/// Trains `cfg` into `dir` as a run killed after epoch `killed` whose last checkpoint is from
/// epoch `ckpt`: the tables already hold the rows up to `killed` (which resume must not
/// duplicate), and `checkpoint.safetensors` is put back to epoch `ckpt`'s bytes.
pub fn crash_after(cfg: &str, dir: &Path, ckpt: usize, killed: usize) {
    let mut opts = toml_opts(cfg, dir);
    opts.stop_after = Some(ckpt);
    train(&opts);
    let saved = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let mut opts = resume_opts(dir);
    opts.stop_after = Some(killed);
    train(&opts);
    std::fs::write(dir.join("checkpoint.safetensors"), saved).unwrap();
}

/// Asserts that run directory `got` holds the same files as `want`, byte for byte.
pub fn assert_same_dirs(want: &Path, got: &Path) {
    let (a, b) = (dir_files(want), dir_files(got));
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "file names"
    );
    for (name, bytes) in &a {
        assert!(
            bytes == &b[name],
            "{name} differs from the uninterrupted run's"
        );
    }
}
