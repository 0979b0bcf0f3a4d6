//! `--stop-after` and `--resume` through the real binary: a run stopped after a checkpoint says
//! how to continue, and `probe train --resume DIR` ends byte-identical to the same run
//! uninterrupted; a finished run or a directory without a checkpoint is refused with exit code 1.
//! Crashes between checkpoints, the candle path, ensembles, VIBs and divergence are tested in
//! process in `crates/probe-run/tests/`.

use std::path::Path;

mod common;
use common::{assert_same_files, ok, probe, resume_config, run_error, tmp_dir, RESUME_RESULTS};

/// A 12-bit run: 8 epochs, measured every 3rd, checkpoints every 4th, gradients on.
fn config(dir: &Path) -> String {
    let p = dir.join("run.toml");
    std::fs::write(&p, resume_config("epochs = 8\ncheckpoint_every = 4", "")).unwrap();
    p.to_str().unwrap().to_string()
}

#[test]
fn stop_after_and_resume_through_the_binary() {
    let tmp = tmp_dir("resume");
    let cfg = config(&tmp);
    let full = tmp.join("full");
    let full_s = full.to_str().unwrap();
    ok(&probe(&["train", "--config", &cfg, "--out", full_s, "-q"]));

    let cut = tmp.join("cut");
    let cut_s = cut.to_str().unwrap();
    let o = probe(&[
        "train",
        "--config",
        &cfg,
        "--out",
        cut_s,
        "--stop-after",
        "5",
    ]);
    ok(&o);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(&format!(
            "stopped after epoch 5 of 8 as asked; continue with: probe train --resume {cut_s}"
        )),
        "{err}"
    );
    assert!(cut.join("checkpoint.safetensors").is_file());
    assert!(!cut.join("model.safetensors").exists());
    ok(&probe(&["train", "--resume", cut_s, "-q"]));
    assert_same_files(&full, &cut, &RESUME_RESULTS);
    assert!(
        cut.join("checkpoint.safetensors").is_file(),
        "kept to extend the run"
    );

    // A finished run has nothing to resume; a directory without a checkpoint cannot be resumed.
    let err = run_error(&probe(&["train", "--resume", full_s, "-q"]));
    assert!(err.contains("already finished"), "{err}");
    let err = run_error(&probe(&["train", "--resume", tmp.to_str().unwrap(), "-q"]));
    assert!(
        err.contains("config.toml") || err.contains("checkpoint"),
        "{err}"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
