//! A signal stops a run at the batch, not the epoch (issue 17), in process: a test observer sets
//! the stop flag (what SIGINT/SIGTERM set in the CLI) after k batches of an epoch; the run must
//! stop there with `Error::Interrupted` naming the epoch and the batches, leave a checkpoint of
//! the stopped epoch (format 3, `paused.*`) and no temporary file, and `--resume` must continue
//! that epoch at its next batch so that the run directory ends byte-identical to the run
//! uninterrupted — on every trainer path: the fused CPU MLP, the candle MLP, a CNN with batch
//! norm and dropout (candle, its own random stream), a VIB (noise stream), and seed ensembles on
//! both paths. An epoch that collects gradient statistics ends whole first.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use candle_core::Device;
use probe_run::{Error, Observer, TrainOptions};
use probe_train::checkpoint::Checkpoint;

#[macro_use]
mod common;
use common::{
    assert_mentions, assert_same_dirs, assert_same_files, deep_tishby, dir_files, refused_resume,
    resume_config, resume_opts, small_fashion, small_vib, tmp_dir, toml_opts, train, SMALL_CNN,
    SMALL_CNN_HOOKS,
};

/// Sets the stop flag after `batches` batches of `epoch`, as a signal arriving then would.
struct StopAt {
    epoch: usize,
    batches: usize,
    flag: Arc<AtomicBool>,
    /// Every `(epoch, batches)` the run reported between batches.
    seen: Vec<(usize, usize)>,
}

impl Observer for StopAt {
    fn on_batch(&mut self, epoch: usize, batches: usize) {
        self.seen.push((epoch, batches));
        if (epoch, batches) == (self.epoch, self.batches) {
            self.flag.store(true, SeqCst);
        }
    }
}

fn checkpoint(dir: &Path) -> Checkpoint {
    Checkpoint::read(&dir.join("checkpoint.safetensors"), &Device::Cpu).unwrap()
}

/// Runs `opts` with a stop requested after `batches` batches of `epoch`; returns the error.
fn interrupted(mut opts: TrainOptions, epoch: usize, batches: usize) -> Error {
    let flag = Arc::new(AtomicBool::new(false));
    opts.stop = Some(flag.clone());
    let mut hook = StopAt {
        epoch,
        batches,
        flag,
        seen: Vec::new(),
    };
    let r = probe_run::train(&opts, &mut [&mut hook]);
    assert!(
        hook.seen.contains(&(epoch, batches)),
        "the run never reached batch {batches} of epoch {epoch}: {:?}",
        hook.seen
    );
    match r {
        Ok(o) => panic!("expected a stop; the run ended at epoch {}", o.epoch),
        Err(e) => e,
    }
}

/// Trains `cfg` uninterrupted and stopped after `batches` batches of `epoch` then resumed, and
/// asserts the stop and that both run directories hold the same bytes.
fn stops_at_the_batch_and_resumes_exactly(tag: &str, cfg: &str, epoch: usize, batches: usize) {
    let tmp = tmp_dir(tag);
    let (full, cut) = (tmp.join("full"), tmp.join("cut"));
    train(&toml_opts(cfg, &full));
    let err = interrupted(toml_opts(cfg, &cut), epoch, batches);
    let msg = err.chain();
    match err.root() {
        Error::Interrupted {
            epoch: e,
            batches: b,
            ..
        } => assert_eq!((*e, *b), (epoch - 1, Some(batches)), "{msg}"),
        _ => panic!("expected Interrupted: {msg}"),
    }
    assert_mentions(
        &msg,
        &[
            &format!("interrupted by a signal in epoch {epoch} of"),
            &format!("after {batches} of its batches"),
            &format!("probe train --resume {}", cut.display()),
        ],
    );
    let c = checkpoint(&cut);
    assert_eq!(c.meta("epoch", &cut).unwrap(), (epoch - 1).to_string());
    assert_eq!(c.meta("paused.epoch", &cut).unwrap(), epoch.to_string());
    assert_eq!(c.meta("paused.batches", &cut).unwrap(), batches.to_string());
    let raw = String::from_utf8_lossy(&std::fs::read(cut.join("checkpoint.safetensors")).unwrap())
        .into_owned();
    assert!(raw.contains("\"probe.checkpoint\":\"3\""), "format 3");
    let names: Vec<String> = dir_files(&cut).into_keys().collect();
    assert!(!names.iter().any(|n| n.contains(".tmp.")), "{names:?}");
    // The tables hold the finished epochs only.
    let metrics = std::fs::read_to_string(cut.join("metrics.csv")).unwrap();
    let mut lines = metrics.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "epoch").unwrap();
    let epochs: Vec<usize> = lines
        .map(|l| l.split(',').nth(col).unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        epochs.iter().max().copied().unwrap_or(0),
        epoch - 1,
        "{metrics}"
    );

    let resumed = train(&resume_opts(&cut));
    assert_eq!(resumed.stopped_after, None);
    assert_same_dirs(&full, &cut);
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// The 12-bit run of the resume tests: 5 epochs, measured (with gradients) every 3rd.
fn mlp(extra_train: &str) -> String {
    resume_config(
        &format!("epochs = 5\ncheckpoint_every = 2\n{extra_train}"),
        "",
    )
}

on_both_paths!(
    |tag, extra| stops_at_the_batch_and_resumes_exactly(tag, &mlp(extra), 2, 3),
    "batch-mlp",
    fused_mlp_stops_at_the_batch_and_resumes_exactly,
    candle_mlp_stops_at_the_batch_and_resumes_exactly
);

#[test]
fn a_stop_in_the_first_epoch_resumes_from_no_finished_epoch() {
    // Epoch 1 is measured: without gradient statistics, so that the stop is at the batch.
    let cfg = mlp("").replace("gradients = true", "gradients = false");
    assert!(!cfg.contains("gradients = true"));
    stops_at_the_batch_and_resumes_exactly("batch-first", &cfg, 1, 1);
}

#[test]
fn cnn_with_dropout_and_batch_norm_stops_at_the_batch_and_resumes_exactly() {
    let cfg = small_fashion("cnn", SMALL_CNN, SMALL_CNN_HOOKS, 3);
    stops_at_the_batch_and_resumes_exactly("batch-cnn", &cfg, 2, 2);
}

#[test]
fn vib_stops_at_the_batch_and_resumes_exactly() {
    stops_at_the_batch_and_resumes_exactly("batch-vib", &small_vib(""), 2, 2);
}

/// A 3-seed ensemble of the 12-bit MLP, measured every 2nd epoch (no gradients).
fn ensemble(extra_train: &str) -> String {
    deep_tishby(
        "ens",
        &format!("epochs = 4\ncheckpoint_every = 3\nrepeats = 3\n{extra_train}"),
        r#"schedule = "every_k"
every = 2
on = "all"
[[measure.estimators]]
kind = "binned"
"#,
    )
}

on_both_paths!(
    |tag, extra| stops_at_the_batch_and_resumes_exactly(tag, &ensemble(extra), 2, 4),
    "batch-ens",
    fused_ensemble_stops_at_the_batch_and_resumes_exactly,
    candle_ensemble_stops_at_the_batch_and_resumes_exactly
);

#[test]
fn an_epoch_with_gradient_statistics_ends_whole_before_the_stop() {
    // Epoch 3 is measured with `measure.gradients`, whose statistics need every batch: the stop
    // waits for the epoch's end (a checkpoint at the epoch, as before).
    let tmp = tmp_dir("batch-grads");
    let cut = tmp.join("cut");
    let err = interrupted(toml_opts(&mlp(""), &cut), 3, 2);
    match err.root() {
        Error::Interrupted {
            epoch: 3,
            batches: None,
            ..
        } => {}
        _ => panic!("expected a stop after epoch 3: {}", err.chain()),
    }
    assert!(
        err.chain().contains("after epoch 3 of 5"),
        "{}",
        err.chain()
    );
    let c = checkpoint(&cut);
    assert_eq!(c.meta("epoch", &cut).unwrap(), "3");
    assert!(!c.meta.contains_key("paused.epoch"));
    train(&resume_opts(&cut));
    let full = tmp.join("full");
    train(&toml_opts(&mlp(""), &full));
    assert_same_dirs(&full, &cut);
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// A fresh `tmp_dir(tag)` and, in its `cut`, [`mlp`] stopped after 3 batches of epoch 2:
/// `(tmp, cut)`.
fn mlp_stopped_in_epoch_2(tag: &str) -> (PathBuf, PathBuf) {
    let tmp = tmp_dir(tag);
    let cut = tmp.join("cut");
    interrupted(toml_opts(&mlp(""), &cut), 2, 3);
    (tmp, cut)
}

#[test]
fn more_epochs_extend_a_run_stopped_inside_an_epoch() {
    // `--resume DIR --epochs N` from a checkpoint inside epoch 2: the run continues that epoch
    // and trains to N, as a run of N epochs from the start (training does not depend on the
    // run's length, and the schedule is recomputed for N before any epoch is measured).
    let (tmp, cut) = mlp_stopped_in_epoch_2("batch-extend");
    let mut opts = resume_opts(&cut);
    opts.epochs = Some(7);
    assert_eq!(train(&opts).epoch, 7);
    let long = tmp.join("long");
    train(&toml_opts(
        &mlp("").replace("epochs = 5", "epochs = 7"),
        &long,
    ));
    assert_same_files(
        &long,
        &cut,
        &["metrics.csv", "model.safetensors", "infoplane.csv"],
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_changed_byte_of_the_stopped_epoch_is_refused() {
    // The stopped epoch's metadata is covered by the header's checksum like the rest.
    let (tmp, cut) = mlp_stopped_in_epoch_2("batch-corrupt");
    let p = cut.join("checkpoint.safetensors");
    let good = std::fs::read(&p).unwrap();
    let text = String::from_utf8_lossy(&good).into_owned();
    let at = text.find("\"paused.batches\":\"3\"").unwrap() + 18;
    let mut bad = good.clone();
    bad[at] = b'4';
    std::fs::write(&p, &bad).unwrap();
    let msg = refused_resume(&cut).chain();
    assert!(msg.contains("header is corrupted"), "{msg}");
    std::fs::remove_dir_all(&tmp).unwrap();
}
