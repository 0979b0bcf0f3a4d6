//! A real SIGTERM during a long epoch (issue 17: cluster schedulers give a grace period shorter
//! than an epoch of a CNN on the CPU): the binary stops after the batch it is in, not at the
//! epoch's end — exit code 143, the message says the epoch and the batches and how to resume, no
//! temporary file is left, the checkpoint records the stopped epoch — and `--resume` completes
//! the run byte-identical to the same run uninterrupted (every file of the run directory).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{
    assert_mentions, assert_same_dirs, dir_files, ok, probe, root, s, tmp_dir, train_quietly,
};

/// A CNN with dropout on 2000 Fashion-MNIST images in batches of 2: 1000 batches per epoch (about
/// a second of CPU each in a test build), three epochs, each measured cheaply on one hook.
const CONFIG: &str = r#"name = "cnn_long"
seed = 4
device = "cpu"
[data]
dataset = "fashion-mnist-subset"
train_limit = 2000
[model]
kind = "cnn"
channels = [2, 4]
fc = [8]
dropout = 0.2
[train]
optimizer = "adam"
lr = 0.003
batch_size = 2
epochs = 3
checkpoint_every = 1
[measure]
schedule = "every"
on = "test"
flow = false
stats = false
hooks = ["fc.0.hook_post"]
[[measure.estimators]]
kind = "adaptive"
bins = 10
"#;

/// Waits until `path` holds a line starting with `prefix`.
fn wait_for_line(path: &Path, prefix: &str) {
    let t = Instant::now();
    while !std::fs::read_to_string(path).is_ok_and(|t| t.lines().any(|l| l.starts_with(prefix))) {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no line {prefix:?} in {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sigterm_during_an_epoch_stops_at_the_batch_and_resume_is_byte_identical() {
    let tmp = tmp_dir("cli-stop-batch");
    let config = tmp.join("cnn_long.toml");
    std::fs::write(&config, CONFIG).unwrap();
    let cut = tmp.join("cut");
    let child = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["train", "--config", s(&config), "-q", "--out", s(&cut)])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start probe");
    // Epoch 1 is trained and measured: the signal arrives while epoch 2 trains (or epoch 3 on a
    // machine slow enough to finish epoch 2 before it; either is inside an epoch).
    wait_for_line(&cut.join("infoplane.csv"), "1,");
    let t = Instant::now();
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let o = child.wait_with_output().unwrap();
    let stopped_in = t.elapsed();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    assert_mentions(
        &err,
        &[
            "interrupted by a signal in epoch ",
            " of 3 after ",
            " of its batches",
            &format!("probe train --resume {}", cut.display()),
        ],
    );
    assert!(!err.contains("panicked"), "{err}");
    let names: Vec<String> = dir_files(&cut).into_keys().collect();
    assert!(!names.iter().any(|n| n.contains(".tmp.")), "{names:?}");
    assert!(
        !names.contains(&"model.safetensors".to_string()),
        "{names:?}"
    );
    let ckpt = std::fs::read(cut.join("checkpoint.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&ckpt).unwrap();
    let meta = meta.metadata().as_ref().unwrap();
    let done: usize = meta["epoch"].parse().unwrap();
    assert!((1..3).contains(&done), "{done}");
    assert_eq!(meta["paused.epoch"], (done + 1).to_string());
    assert!(
        err.contains(&format!("in epoch {} of 3", done + 1)),
        "{err}"
    );
    let batches: usize = meta["paused.batches"].parse().unwrap();
    assert!((1..1000).contains(&batches), "{batches}");
    eprintln!("stopped {stopped_in:?} after SIGTERM, after {batches} of 1000 batches");

    ok(&probe(&["train", "--resume", s(&cut), "-q"]));
    let full = tmp.join("full");
    train_quietly(&config, &full);
    assert_same_dirs(&full, &cut);
    std::fs::remove_dir_all(&tmp).unwrap();
}
