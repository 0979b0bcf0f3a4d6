//! Helpers shared by the tests of probe-run (in process) and of probe-cli (through the binary),
//! which check the same runs and the same tables from both sides: scratch directories, the TOML
//! of the small 12-bit runs they train, readers of the CSV files probe writes, and byte-for-byte
//! comparisons of run directories.
//!
//! Plain `std` only, so that probe-cli's `tests/common/mod.rs` can include this file by path.
#![allow(dead_code)] // each test binary uses its own subset

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// The repository root (`configs/` and `datasets/` live there).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A committed config, e.g. `tishby_tanh.toml`.
pub fn config_file(name: &str) -> PathBuf {
    root().join("configs").join(name)
}

/// The tishby_tanh config with `from` replaced by `to` (which must occur).
pub fn variant(from: &str, to: &str) -> String {
    let base = std::fs::read_to_string(config_file("tishby_tanh.toml")).unwrap();
    assert!(base.contains(from), "config has no {from:?}");
    base.replacen(from, to, 1)
}

/// A fresh, empty scratch directory for the test `name` (unique per crate and test process).
pub fn tmp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "{}-test-{}-{name}",
        env!("CARGO_PKG_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Asserts that `err` (an error chain) mentions each of `parts`.
pub fn assert_mentions(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "error should mention {p:?}:\n{err}");
    }
}

/// `p` as `&str` (test paths are UTF-8).
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A short run of the 12-bit task: 300 shuffled training samples through a 12-8-5-2 tanh network
/// (Adam, lr 0.01, batches of 64) for `epochs` epochs, measured every epoch on the training set.
/// `measure` is appended to the `[measure]` table: more keys, then `[[measure.estimators]]`.
pub fn small_tishby(name: &str, epochs: usize, measure: &str) -> String {
    format!(
        r#"name = "{name}"
[data]
dataset = "tishby12"
split = "shuffled"
train_limit = 300
[model]
widths = [12, 8, 5, 2]
activation = "tanh"
[train]
optimizer = "adam"
lr = 0.01
batch_size = 64
epochs = {epochs}
[measure]
schedule = "every"
on = "train"
{measure}"#
    )
}

/// The run whose `flow.csv` and `stats.csv` are checked in process (probe-run's `flow_stats.rs`)
/// and reproduced by `probe analyze` from its epoch-3 dump (probe-cli's `cli_flow_stats.rs`):
/// [`small_tishby`] for 3 epochs with adaptive, kde and knn, saturation threshold 0.9.
pub fn flow_config() -> String {
    small_tishby(
        "flow",
        3,
        r#"dump_activations = [3]
saturation = 0.9
estimators = [
    { kind = "adaptive", bins = 12 },
    { kind = "kde", sigma2 = 0.01 },
    { kind = "knn" },
]
"#,
    )
}

/// The 12-bit task in its fixed order through the paper's 12-10-7-5-4-3-2 tanh network
/// (truncated-normal init, Adam, lr 0.01, batches of 512), seed 5 on the CPU. `train` is appended
/// to the `[train]` table (epochs, checkpoints, …) and `measure` to `[measure]`.
pub fn deep_tishby(name: &str, train: &str, measure: &str) -> String {
    format!(
        r#"name = "{name}"
seed = 5
device = "cpu"
[data]
dataset = "tishby12"
split = "ordered"
[model]
widths = [12, 10, 7, 5, 4, 3, 2]
activation = "tanh"
init = "truncated_normal"
[train]
optimizer = "adam"
lr = 0.01
batch_size = 512
{train}
[measure]
{measure}"#
    )
}

/// The run that is stopped and resumed (in process in probe-run's `resume.rs`, through the binary
/// in probe-cli's `cli_resume.rs`): [`deep_tishby`] with `train` appended to `[train]`, measured
/// every 3rd epoch on all samples with gradients, by the binned estimator and `estimators`
/// (more `[[measure.estimators]]` tables).
pub fn resume_config(train: &str, estimators: &str) -> String {
    deep_tishby(
        "resume",
        train,
        &format!(
            r#"schedule = "every_k"
every = 3
on = "all"
gradients = true
[[measure.estimators]]
kind = "binned"
{estimators}"#
        ),
    )
}

/// The files of a [`resume_config`] run that a stopped-and-resumed run must reproduce byte for
/// byte.
pub const RESUME_RESULTS: [&str; 6] = [
    "metrics.csv",
    "infoplane.csv",
    "flow.csv",
    "stats.csv",
    "gradients.csv",
    "model.safetensors",
];

/// Columns of `infoplane.csv` and of `probe analyze`'s `analysis.csv`, spelled out here so that
/// a change of the schema fails the tests.
pub const INFOPLANE_HEADER: &str = "epoch,layer,estimator,i_xt,i_ty,i_xt_lower,i_ty_lower,sigma2";

/// Header + rows of a CSV written by probe (no quoted fields in these files).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = lines(path).into_iter();
    let header = lines.next().unwrap().split(',').map(String::from).collect();
    let rows = lines
        .map(|l| l.split(',').map(String::from).collect())
        .collect();
    (header, rows)
}

/// Rows of a CSV written by probe, as maps from column name to field.
pub fn read_csv_maps(path: &Path) -> Vec<HashMap<String, String>> {
    let (header, rows) = read_csv(path);
    rows.into_iter()
        .map(|r| header.iter().cloned().zip(r).collect())
        .collect()
}

/// The lines of a text file.
pub fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .lines()
        .map(String::from)
        .collect()
}

/// A CSV field that must be a number.
pub fn num(field: &str) -> f64 {
    field
        .parse()
        .unwrap_or_else(|e| panic!("{field:?} is not a number: {e}"))
}

/// Every file of run directory `dir` (name → bytes), to compare directories byte for byte.
pub fn dir_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
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

/// Asserts that run directory `got` holds the same files as `want` (the same run uninterrupted),
/// byte for byte.
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

/// Asserts that each of the files `names` is the same in run directories `a` and `b`, byte for
/// byte.
pub fn assert_same_files(a: &Path, b: &Path, names: &[&str]) {
    for f in names {
        let (x, y) = (
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
        );
        assert!(
            x == y,
            "{f} differs between {} and {}",
            a.display(),
            b.display()
        );
    }
}
