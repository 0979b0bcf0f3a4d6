//! Long runs that survive, in process: a run stopped after a checkpoint and continued from it
//! ends byte-identical (every CSV and the weights) to the same run uninterrupted, also when the
//! CSVs already hold epochs after the checkpoint (a crash between checkpoints); a diverging run
//! stops with an error naming epoch, batch and loss, and keeps its last good checkpoint and
//! results. (`probe train --resume` itself is checked end to end in probe-cli's tests.)

use std::path::Path;

use candle_core::Device;
use probe_train::checkpoint::Checkpoint;

#[macro_use]
mod common;
use common::{
    assert_same_files, assert_tables_match_files, crash_after, resume_config, resume_opts, tmp_dir,
    toml_opts, train, train_err, train_stopped, RESUME_RESULTS,
};

/// A 12-bit run short enough for a debug build: 12 epochs, measured every 3rd, checkpoints every
/// 4th, gradients on, binned and adaptive estimators (flow and stats on by default).
fn config(extra_train: &str) -> String {
    resume_config(
        &format!("epochs = 12\ncheckpoint_every = 4\n{extra_train}"),
        "[[measure.estimators]]\nkind = \"adaptive\"\nbins = 12\n",
    )
}

fn checkpoint_epoch(dir: &Path) -> String {
    let p = dir.join("checkpoint.safetensors");
    let c = Checkpoint::read(&p, &Device::Cpu).unwrap();
    c.meta("epoch", &p).unwrap().to_string()
}

on_both_paths!(
    resume_round_trip,
    "equal",
    resumed_run_is_byte_identical_to_an_uninterrupted_one,
    resumed_run_is_byte_identical_on_the_candle_path_too
);

/// Uninterrupted, stopped-and-resumed and crashed-and-resumed runs of the config with
/// `extra_train` give the same files.
fn resume_round_trip(tag: &str, extra_train: &str) {
    let tmp = tmp_dir(tag);
    let cfg = config(extra_train);
    let full = tmp.join("full");
    let outcome = train(&toml_opts(&cfg, &full));
    assert_tables_match_files(&outcome);
    let rows = std::fs::read_to_string(full.join("metrics.csv")).unwrap();
    assert_eq!(rows.lines().count(), 13, "header + 12 epochs");
    let grads = std::fs::read_to_string(full.join("gradients.csv")).unwrap();
    // Measured epochs 1, 3, 6, 9, 12 (every 3rd plus the first) × 6 layers.
    assert_eq!(grads.lines().count(), 1 + 5 * 6, "{grads}");

    // Stopped cleanly after epoch 6, then resumed.
    let cut = tmp.join("cut");
    train_stopped(&cfg, &cut, 6);
    assert_eq!(checkpoint_epoch(&cut), "6");
    assert!(!cut.join("model.safetensors").exists());
    let resumed = train(&resume_opts(&cut));
    assert_eq!((resumed.epoch, resumed.stopped_after), (12, None));
    assert_same_files(&full, &cut, &RESUME_RESULTS);
    // The resumed run returns the whole run's tables, not only the epochs it trained.
    assert_tables_match_files(&resumed);
    assert_eq!(
        resumed.tables["metrics.csv"].to_string(),
        outcome.tables["metrics.csv"].to_string()
    );

    // A crash at epoch 7 whose last checkpoint is epoch 4: the CSVs already hold epochs 5-7,
    // which the resumed run trains again and must not duplicate.
    let crash = tmp.join("crash");
    crash_after(&cfg, &crash, 4, 7);
    let m = std::fs::read_to_string(crash.join("metrics.csv")).unwrap();
    assert_eq!(m.lines().count(), 8, "epochs 1-7 on disk before the crash");
    assert_eq!(checkpoint_epoch(&crash), "4");
    train(&resume_opts(&crash));
    assert_same_files(&full, &crash, &RESUME_RESULTS);

    // A finished run has nothing to resume, and resume refuses a directory without checkpoint.
    let err = train_err(&resume_opts(&full));
    assert!(err.chain().contains("already finished"), "{}", err.chain());
    assert_eq!(
        checkpoint_epoch(&full),
        "12",
        "a finished run keeps its last checkpoint"
    );
    train_err(&resume_opts(&tmp));
    std::fs::remove_dir_all(&tmp).unwrap();
}

on_both_paths!(
    diverging_run,
    "nan",
    diverging_run_stops_with_epoch_batch_and_loss_and_keeps_its_checkpoint,
    diverging_run_stops_the_same_way_on_the_candle_path
);

fn diverging_run(tag: &str, extra_train: &str) {
    let tmp = tmp_dir(tag);
    // A linear network under plain SGD at lr = 1 grows geometrically and overflows in epoch 9
    // (deterministic on the CPU: seed 1); checkpoints every 4 epochs leave epoch 8 the last good.
    let text = config(extra_train)
        .replace("activation = \"tanh\"", "activation = \"linear\"")
        .replace("init = \"truncated_normal\"", "init = \"default\"")
        .replace("optimizer = \"adam\"", "optimizer = \"sgd\"")
        .replace("lr = 0.01", "lr = 1.0")
        .replace("batch_size = 512", "batch_size = 256")
        .replace("seed = 5", "seed = 1");
    let out = tmp.join("run");
    let err = train_err(&toml_opts(&text, &out)).chain();
    assert!(
        err.contains("diverged at epoch 9, batch ")
            && err.contains("lower the learning rate")
            && err.contains("last good checkpoint (epoch 8)"),
        "{err}"
    );
    assert_eq!(checkpoint_epoch(&out), "8");
    let p = out.join("checkpoint.safetensors");
    let c = Checkpoint::read(&p, &Device::Cpu).unwrap();
    for (name, t) in &c.tensors {
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{name} is not finite");
    }
    // Every finished epoch's results are kept: metrics of epochs 1-8, measurements of 1, 3, 6.
    let m = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(m.lines().count(), 9, "{m}");
    let ip = std::fs::read_to_string(out.join("infoplane.csv")).unwrap();
    let epochs: std::collections::BTreeSet<&str> = ip
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(epochs.into_iter().collect::<Vec<_>>(), ["1", "3", "6"]);
    std::fs::remove_dir_all(&tmp).unwrap();
}
