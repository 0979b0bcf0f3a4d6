//! Helpers shared by the CLI integration tests: run the `probe` binary from the repository root
//! and make scratch directories.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// Scratch directories, test configs and CSV readers, shared with probe-run's in-process tests.
#[path = "../../../probe-run/tests/common/shared.rs"]
mod shared;
pub use shared::*;

/// The committed fixtures of these tests (numpy references and their inputs).
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Runs `probe ARGS` in the repository root.
pub fn probe(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run probe")
}

/// Runs `probe train` on `configs/tishby_tanh.toml` for one epoch, quietly, into `out`.
pub fn train_one_quiet_epoch(out: &Path) -> Output {
    probe(&[
        "train",
        "--config",
        "configs/tishby_tanh.toml",
        "--epochs",
        "1",
        "--quiet",
        "--out",
        s(out),
    ])
}

/// The arguments of `probe train --config CONFIG --out OUT -q`.
pub fn quiet_train_args<'a>(config: &'a Path, out: &'a Path) -> [&'a str; 6] {
    ["train", "--config", s(config), "--out", s(out), "-q"]
}

/// Runs `probe train --config CONFIG --out OUT -q`, asserting it succeeded.
pub fn train_quietly(config: &Path, out: &Path) {
    ok(&probe(&quiet_train_args(config, out)));
}

/// Asserts the run succeeded, showing its stderr if not.
pub fn ok(o: &Output) {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Asserts `probe` failed as it does on an error of the run (exit code 1, one `error: ` line
/// with the whole chain, no panic) and returns its stderr.
pub fn run_error(o: &Output) -> String {
    let all = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "exit code; stderr:\n{all}");
    // A run that started says where it writes first (also with --quiet).
    let err = match all.strip_prefix("run directory: ") {
        Some(rest) => rest.split_once('\n').map_or("", |(_, e)| e).to_string(),
        None => all,
    };
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    err
}

/// Runs `probe ARGS`, asserting it succeeded; returns its stderr (progress, bottlenecks).
pub fn succeeds(args: &[&str]) -> String {
    let o = probe(args);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "probe {args:?} failed:\n{err}");
    err
}

/// `probe analyze` flags selecting the binned estimator and floor of width 0.5: the two the numpy
/// fixtures (`scripts/make_binned_fixture.py`) hold values for.
pub const BINNED_AND_FLOOR: [&str; 6] = [
    "--estimator",
    "binned",
    "--estimator",
    "floor",
    "--width",
    "0.5",
];

/// Runs `probe analyze --activations ACTS --labels LABELS FLAGS… --out OUT -q`, asserting it
/// succeeded; returns its stderr.
pub fn analyze(acts: &Path, labels: &Path, flags: &[&str], out: &Path) -> String {
    let mut args = vec!["analyze", "--activations", s(acts), "--labels", s(labels)];
    args.extend(flags);
    args.extend(["--out", s(out), "-q"]);
    succeeds(&args)
}

/// Runs `probe ARGS`, asserting it failed without a panic and that stderr mentions every part.
pub fn fails(args: &[&str], parts: &[&str]) {
    let o = probe(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "probe {args:?} should fail");
    assert!(!err.contains("panicked"), "probe {args:?} panicked: {err}");
    for p in parts {
        assert!(
            err.contains(p),
            "error of {args:?} should mention {p:?}:\n{err}"
        );
    }
}
