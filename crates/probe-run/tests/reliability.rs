//! Reliability of resume (issue 17), in process: resume continues exactly what was started or
//! refuses; the changes a user may make are explicit (`epochs`, `lr`) and end where an
//! uninterrupted run with them would; a corrupted checkpoint is refused naming the tensor;
//! checkpoints are byte-stable; a stop flag (what SIGINT/SIGTERM set in the CLI) stops a run
//! with a checkpoint it resumes from exactly. Every refusal leaves the run's files as they were.
//! (Bad values, names and data sets: `reliability_inputs.rs`.)

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use candle_core::Device;
use probe_run::Error;
use probe_train::checkpoint::Checkpoint;

mod common;
use common::{
    assert_mentions, assert_same_files, dir_files, refused_resume, resume_config, resume_opts,
    tmp_dir, toml_opts, train, train_err, train_stopped, RESUME_RESULTS,
};

/// An 8-epoch 12-bit run, measured every 3rd epoch, checkpoints every 4th.
fn config(epochs: usize) -> String {
    resume_config(&format!("epochs = {epochs}\ncheckpoint_every = 4"), "")
}

fn checkpoint(dir: &Path) -> Checkpoint {
    Checkpoint::read(&dir.join("checkpoint.safetensors"), &Device::Cpu).unwrap()
}

/// Trains the 8-epoch run uninterrupted into `full` and asserts that `resumed` holds the same
/// results, byte for byte.
fn assert_ends_as_the_uninterrupted_run(resumed: &Path, full: &Path) {
    train(&toml_opts(&config(8), full));
    assert_same_files(full, resumed, &RESUME_RESULTS);
}

/// A fresh `tmp_dir(tag)` and, in its `cut`, the 8-epoch run stopped after epoch 4 (a
/// checkpoint epoch): `(tmp, cut)`.
fn stopped_after_4(tag: &str) -> (PathBuf, PathBuf) {
    let tmp = tmp_dir(tag);
    let cut = tmp.join("cut");
    train_stopped(&config(8), &cut, 4);
    (tmp, cut)
}

#[test]
fn resume_refuses_an_edited_config_and_lists_every_changed_key() {
    let (tmp, cut) = stopped_after_4("rel-edited");
    let file = cut.join("config.toml");
    let original = std::fs::read_to_string(&file).unwrap();
    let edited = original
        .replace("activation = \"tanh\"", "activation = \"relu\"")
        .replace("lr = 0.01", "lr = 0.02");
    assert_ne!(edited, original, "the edit must change the file");
    std::fs::write(&file, &edited).unwrap();
    let err = refused_resume(&cut);
    let msg = err.chain();
    assert_mentions(
        &msg,
        &[
            "config.toml was edited",
            "`model.activation`: \"tanh\" in the checkpoint, \"relu\" in config.toml",
            "`train.lr`: 0.01 in the checkpoint, 0.02 in config.toml",
            "--epochs N",
            "--lr X",
        ],
    );
    assert!(err.is_invalid_input(), "{msg}");

    // Restored, it resumes and ends as the uninterrupted run.
    std::fs::write(&file, &original).unwrap();
    train(&resume_opts(&cut));
    assert_ends_as_the_uninterrupted_run(&cut, &tmp.join("full"));
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn more_epochs_extend_a_finished_run_as_if_it_had_been_that_long() {
    let tmp = tmp_dir("rel-extend");
    let short = tmp.join("short");
    train(&toml_opts(&config(4), &short));
    // Without --epochs a finished run has nothing to resume, and says how to extend it.
    let msg = refused_resume(&short).chain();
    assert!(
        msg.contains("already finished all 4 epochs") && msg.contains("--epochs N (N > 4)"),
        "{msg}"
    );

    let mut opts = resume_opts(&short);
    opts.epochs = Some(8);
    let extended = train(&opts);
    assert_eq!((extended.epoch, extended.stopped_after), (8, None));
    let cfg = std::fs::read_to_string(short.join("config.toml")).unwrap();
    assert!(
        cfg.contains("epochs = 8"),
        "config.toml records the extension:\n{cfg}"
    );

    // Ground truth: the run trained for 8 epochs from the start. Training does not depend on the
    // run's length, so the metrics and weights are the same bytes; the gradient rows too, but
    // for epoch 4, which the 4-epoch run measured as its last.
    let long = tmp.join("long");
    train(&toml_opts(&config(8), &long));
    let read = |dir: &Path, f: &str| std::fs::read(dir.join(f)).unwrap();
    for f in ["metrics.csv", "model.safetensors"] {
        assert!(read(&long, f) == read(&short, f), "{f}");
    }
    let rows = |dir: &Path| -> Vec<String> {
        String::from_utf8(read(dir, "gradients.csv"))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("4,"))
            .map(String::from)
            .collect()
    };
    assert_eq!(rows(&long), rows(&short));
    assert!(rows(&short).len() > 10);
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// The diverging run of `resume.rs`: plain SGD at lr = 1 on a linear network overflows in epoch
/// 9; the checkpoint of epoch 8 is the last good one.
fn diverging() -> String {
    config(12)
        .replace("activation = \"tanh\"", "activation = \"linear\"")
        .replace("init = \"truncated_normal\"", "init = \"default\"")
        .replace("optimizer = \"adam\"", "optimizer = \"sgd\"")
        .replace("lr = 0.01", "lr = 1.0")
        .replace("batch_size = 512", "batch_size = 256")
        .replace("seed = 5", "seed = 1")
}

#[test]
fn a_diverged_run_continues_with_a_lower_learning_rate_as_its_message_advises() {
    let tmp = tmp_dir("rel-lr");
    let out = tmp.join("run");
    let msg = train_err(&toml_opts(&diverging(), &out)).chain();
    assert!(
        msg.contains("diverged at epoch 9") && msg.contains("--lr"),
        "the message says how to continue: {msg}"
    );
    // As it was, resuming diverges again at the same place.
    let again = train_err(&resume_opts(&out)).chain();
    assert!(again.contains("diverged at epoch 9"), "{again}");

    let mut opts = resume_opts(&out);
    opts.lr = Some(0.001);
    let done = train(&opts);
    assert_eq!(done.epoch, 12);
    let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(cfg.contains("lr = 0.001"), "{cfg}");
    // The optimiser ran with the new rate: the final checkpoint says so.
    let c = checkpoint(&out);
    assert_eq!(c.meta("optim.lr", &out).unwrap(), "0.001");
    let m = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(m.lines().count(), 13, "{m}");
    assert!(!m.contains("NaN") && !m.contains("inf"), "{m}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// The byte range of tensor `name`'s data in the safetensors `bytes`.
fn data_range(bytes: &[u8], name: &str) -> std::ops::Range<usize> {
    let (n, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let info = meta.info(name).unwrap();
    let start = 8 + n;
    start + info.data_offsets.0..start + info.data_offsets.1
}

#[test]
fn a_corrupted_checkpoint_is_refused_naming_the_file_and_the_tensor() {
    let (tmp, cut) = stopped_after_4("rel-corrupt");
    let p = cut.join("checkpoint.safetensors");
    let good = std::fs::read(&p).unwrap();
    let name = "model.layers.0.weight";
    let r = data_range(&good, name);
    assert!(r.len() >= 96, "{r:?}");
    // The fault: 64 bytes overwritten inside a weight tensor.
    let mut bad = good.clone();
    bad[r.start + 16..r.start + 80].fill(0x3f);
    std::fs::write(&p, &bad).unwrap();
    let msg = refused_resume(&cut).chain();
    assert_mentions(&msg, &[p.to_str().unwrap(), name, "corrupted"]);
    // One flipped bit of the metadata (the epoch) is caught by the header's checksum.
    let text = String::from_utf8_lossy(&good).into_owned();
    let at = text.find("\"epoch\":\"4\"").unwrap() + 9;
    let mut bad = good.clone();
    bad[at] ^= 0x01;
    std::fs::write(&p, &bad).unwrap();
    let msg = train_err(&resume_opts(&cut)).chain();
    assert!(msg.contains("header is corrupted"), "{msg}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn checkpoints_of_the_same_state_are_the_same_bytes() {
    // The safetensors crate writes `__metadata__` from a HashMap, in a random order per process
    // and per map; probe's writer sorts it. Two runs stopped at the same epoch: same bytes.
    let tmp = tmp_dir("rel-stable");
    let (a, b) = (tmp.join("a"), tmp.join("b"));
    train_stopped(&config(8), &a, 4);
    train_stopped(&config(8), &b, 4);
    let (x, y) = (
        std::fs::read(a.join("checkpoint.safetensors")).unwrap(),
        std::fs::read(b.join("checkpoint.safetensors")).unwrap(),
    );
    assert!(x == y, "checkpoints differ");
    // And it is standard safetensors: the safetensors crate reads every tensor of it.
    let st = safetensors::SafeTensors::deserialize(&x).unwrap();
    assert!(st.tensor("model.layers.0.weight").is_ok());
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_stop_flag_ends_the_run_with_a_checkpoint_it_resumes_from_exactly() {
    let tmp = tmp_dir("rel-signal");
    let cut = tmp.join("cut");
    let mut opts = toml_opts(&config(8), &cut);
    // Set before the first epoch: the run trains epoch 1, then stops (epoch 1 is no checkpoint
    // epoch of the schedule, so the checkpoint is the signal's own).
    opts.stop = Some(Arc::new(AtomicBool::new(true)));
    let err = train_err(&opts);
    assert!(
        matches!(
            err.root(),
            Error::Interrupted {
                epoch: 1,
                epochs: 8,
                ..
            }
        ),
        "{}",
        err.chain()
    );
    let msg = err.chain();
    assert!(
        msg.contains(&format!("probe train --resume {}", cut.display())),
        "{msg}"
    );
    assert_eq!(checkpoint(&cut).meta("epoch", &cut).unwrap(), "1");
    let leftovers: Vec<String> = dir_files(&cut)
        .into_keys()
        .filter(|n| n.contains(".tmp."))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // What a second signal (an immediate exit) may leave: removed when the run is resumed.
    let stale = cut.join(".checkpoint.safetensors.tmp.999.0");
    std::fs::write(&stale, b"half a checkpoint").unwrap();
    train(&resume_opts(&cut));
    assert!(!stale.exists());
    assert_ends_as_the_uninterrupted_run(&cut, &tmp.join("full"));
    std::fs::remove_dir_all(&tmp).unwrap();
}
