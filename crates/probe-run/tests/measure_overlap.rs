//! The measurement overlapping training (`fit::overlap`) changes only the timing: a run measured
//! while it trains writes the same files, byte for byte, and tells its observers the same events
//! in the same order as the run measured in the training thread; for an ensemble, a single model
//! with flows and statistics, a run stopped and resumed, runs that fail in a held-back epoch
//! or in a measurement, and a run whose captures come while an earlier measurement is still in
//! flight (two at once). The event logs also show that the overlap happens: the next epoch's
//! batches train before a measurement is delivered.

use std::sync::{Arc, Mutex};

#[macro_use]
mod common;
use common::{assert_same_dirs, deep_tishby, resume_opts, tmp_dir, toml_opts};
use probe_run::error::Result;
use probe_run::fit::{train_with, Overlap};
use probe_run::observer::{EpochEnd, Measured, Observer, Stop};
use probe_run::{Error, RunOutcome, TrainOptions};

/// An ensemble of 3 seeds for 12 epochs, measured every 2nd epoch by binned and KDE, gradient
/// statistics on measured epochs, checkpoints every 5 (so some measurements are delivered at a
/// checkpoint, others after the next epoch trained).
fn ensemble() -> String {
    deep_tishby(
        "overlap-ens",
        "epochs = 12\ncheckpoint_every = 5\nrepeats = 3",
        r#"schedule = "every_k"
every = 2
on = "all"
gradients = true
estimators = [
    { kind = "binned" },
    { kind = "kde", sigma2 = 0.01 },
]
"#,
    )
}

/// A single model measured every epoch with flows and statistics (on by default), binned and
/// adaptive, checkpointed only at its end (a checkpoint waits for the measurement in flight, so
/// with one every epoch nothing could overlap); batches of 512 on 4096 samples, so every epoch
/// has batches to overlap with.
fn single() -> String {
    deep_tishby(
        "overlap-one",
        "epochs = 7\ncheckpoint_every = 7",
        r#"schedule = "every"
on = "all"
estimators = [
    { kind = "binned" },
    { kind = "adaptive", bins = 12 },
]
"#,
    )
}

/// What an observer saw: every event but `on_batch`, and, separately, whether a batch of a
/// later epoch trained while a measurement was not yet delivered.
#[derive(Default)]
struct Log {
    events: Vec<String>,
    /// The latest epoch a batch was trained in.
    batch_epoch: usize,
    /// Epochs whose measurement was delivered only after batches of a later epoch trained.
    overlapped: Vec<usize>,
    /// Epochs whose `on_capture` came only after batches of a later epoch trained: captured
    /// while an earlier measurement was still in flight (two measurements at once).
    deferred: Vec<usize>,
}

/// Records into a shared [`Log`]; fails with an error at `fail_epoch` / `fail_measure`.
struct Recorder {
    log: Arc<Mutex<Log>>,
    fail_epoch: Option<usize>,
    fail_measure: Option<usize>,
}

impl Recorder {
    /// Logs an event that cannot fail.
    fn note(&self, event: String) -> Result<()> {
        self.log.lock().unwrap().events.push(event);
        Ok(())
    }
}

impl Observer for Recorder {
    fn on_batch(&mut self, epoch: usize, _batches: usize) {
        let mut l = self.log.lock().unwrap();
        l.batch_epoch = l.batch_epoch.max(epoch);
    }
    fn on_epoch(&mut self, e: &EpochEnd) -> Result<()> {
        let mut l = self.log.lock().unwrap();
        l.events.push(format!(
            "epoch {} {:?} {:?}",
            e.epoch, e.out.train, e.gradients
        ));
        match self.fail_epoch == Some(e.epoch) {
            true => Err(Error::Invalid(format!(
                "observer fails at epoch {}",
                e.epoch
            ))),
            false => Ok(()),
        }
    }
    fn on_capture(
        &mut self,
        epoch: usize,
        layers: &[Vec<(String, candle_core::Tensor)>],
    ) -> Result<()> {
        let mut l = self.log.lock().unwrap();
        l.events.push(format!("capture {epoch} {}", layers.len()));
        if l.batch_epoch > epoch {
            l.deferred.push(epoch);
        }
        Ok(())
    }
    fn on_measure(&mut self, m: &Measured) -> Result<()> {
        let mut l = self.log.lock().unwrap();
        l.events.push(format!(
            "measure {} {:?} {:?} {:?}",
            m.epoch, m.estimates, m.flows, m.stats
        ));
        if l.batch_epoch > m.epoch {
            l.overlapped.push(m.epoch);
        }
        match self.fail_measure == Some(m.epoch) {
            true => Err(Error::Invalid(format!(
                "observer fails on measurement {}",
                m.epoch
            ))),
            false => Ok(()),
        }
    }
    fn on_checkpoint(&mut self, epoch: usize) -> Result<()> {
        self.note(format!("checkpoint {epoch}"))
    }
    fn on_stop(&mut self, stop: Stop) -> Result<()> {
        self.note(format!("stop {stop:?}"))
    }
}

/// Trains `opts` with `overlap`, recording the events; `fail`: (epoch, measurement) at which the
/// recorder fails.
fn run(
    opts: &TrainOptions,
    overlap: Overlap,
    fail: (Option<usize>, Option<usize>),
) -> (std::result::Result<RunOutcome, Error>, Log) {
    let log = Arc::new(Mutex::new(Log::default()));
    let mut rec = Recorder {
        log: Arc::clone(&log),
        fail_epoch: fail.0,
        fail_measure: fail.1,
    };
    let out = train_with(opts, &mut [&mut rec], overlap);
    drop(rec);
    let log = Arc::try_unwrap(log).ok().unwrap().into_inner().unwrap();
    (out, log)
}

/// Runs `cfg` without and with overlap into `tag`/off and `tag`/on; asserts the same files and
/// events; returns both logs (off, on) and both results' error chains.
fn both(
    tag: &str,
    cfg: &str,
    fail: (Option<usize>, Option<usize>),
) -> (Log, Log, [Option<String>; 2]) {
    let tmp = tmp_dir(tag);
    let mut logs = Vec::new();
    let mut errs = Vec::new();
    for (name, overlap) in [("off", Overlap::Off), ("on", Overlap::On)] {
        let dir = tmp.join(name);
        let (r, log) = run(&toml_opts(cfg, &dir), overlap, fail);
        errs.push(
            r.err()
                .map(|e| e.chain().replace(&*dir.to_string_lossy(), "DIR")),
        );
        logs.push(log);
    }
    assert_same_dirs(&tmp.join("off"), &tmp.join("on"));
    let on = logs.pop().unwrap();
    let off = logs.pop().unwrap();
    assert_eq!(off.events, on.events, "the observers' events");
    assert!(
        off.overlapped.is_empty(),
        "without overlap: {:?}",
        off.overlapped
    );
    std::fs::remove_dir_all(&tmp).unwrap();
    let on_err = errs.pop().unwrap();
    (off, on, [errs.pop().unwrap(), on_err])
}

/// [`both`] of a run that succeeds: asserts no error, and that the run with overlap delivered the
/// measurements of the epochs `overlapped` while a later epoch trained; returns both logs.
fn both_succeed(tag: &str, cfg: &str, overlapped: &[usize]) -> (Log, Log) {
    let (off, on, errs) = both(tag, cfg, (None, None));
    assert_eq!(errs, [None, None]);
    assert_eq!(on.overlapped, overlapped, "events: {:#?}", on.events);
    (off, on)
}

/// [`both`] of the ensemble with the recorder failing at `fail`: asserts that both runs fail
/// alike, stopped at `epoch`; returns the log with overlap.
fn both_stop_at(tag: &str, fail: (Option<usize>, Option<usize>), epoch: usize) -> Log {
    let (_, on, errs) = both(tag, &ensemble(), fail);
    let msg = errs[1].as_deref().unwrap();
    assert_eq!(errs[0].as_deref(), Some(msg));
    assert!(
        msg.contains(&format!("run stopped at epoch {epoch}")),
        "{msg}"
    );
    on
}

#[test]
fn an_ensemble_measured_while_it_trains_writes_the_same_files() {
    // Measured at 1 (the first epoch always), 2, 4, …, 12; those at 10 and 12 are delivered at
    // their own checkpoint, the others while the next epoch trains.
    let (off, _) = both_succeed("ovl-ens", &ensemble(), &[1, 2, 4, 6, 8]);
    assert_eq!(
        off.events
            .iter()
            .filter(|e| e.starts_with("measure"))
            .count(),
        7
    );
}

#[test]
fn a_single_model_with_flows_and_stats_measured_while_it_trains_writes_the_same_files() {
    both_succeed("ovl-one", &single(), &[1, 2, 3, 4, 5, 6]);
}

#[test]
fn a_capture_while_a_measurement_is_in_flight_is_told_in_the_order_of_a_run_without() {
    // Every epoch measured by KDE with flows (tens of milliseconds or more per measurement)
    // while an epoch trains in a few: epoch 2 is captured while epoch 1's measurement runs, so
    // two are in flight and epoch 2's `on_capture` waits for epoch 1's `on_measure` and the
    // held-back `on_epoch`s. Files and events must still be those of a run without overlap.
    let cfg = deep_tishby(
        "overlap-two",
        "epochs = 4\ncheckpoint_every = 4",
        r#"schedule = "every"
on = "all"
estimators = [{ kind = "kde", sigma2 = 0.01 }]
"#,
    );
    let (_, on, errs) = both("ovl-two", &cfg, (None, None));
    assert_eq!(errs, [None, None]);
    assert_eq!(on.overlapped, [1, 2, 3], "events: {:#?}", on.events);
    assert!(on.deferred.contains(&2), "deferred: {:?}", on.deferred);
}

#[test]
fn an_epoch_that_fails_while_held_back_stops_the_run_there() {
    // Epoch 5's `on_epoch` waits for epoch 4's measurement, then fails: the run stops at 5.
    let on = both_stop_at("ovl-fail-epoch", (Some(5), None), 5);
    assert!(
        on.events.last().unwrap().contains("Error { epoch: 5 }"),
        "{:?}",
        on.events
    );
}

#[test]
fn a_measurement_that_fails_stops_the_run_at_its_epoch() {
    // Epoch 6's measurement is delivered during epoch 7 and fails: the run stops at 6, epoch 7 is
    // never told.
    let on = both_stop_at("ovl-fail-measure", (None, Some(6)), 6);
    assert!(
        !on.events.iter().any(|e| e.starts_with("epoch 7")),
        "{:?}",
        on.events
    );
}

#[test]
fn an_ensemble_stopped_and_resumed_with_overlap_equals_one_run_without() {
    let tmp = tmp_dir("ovl-resume");
    let whole = tmp.join("whole");
    let (r, _) = run(&toml_opts(&ensemble(), &whole), Overlap::Off, (None, None));
    r.unwrap();
    let parts = tmp.join("parts");
    let mut opts = toml_opts(&ensemble(), &parts);
    opts.stop_after = Some(7);
    let (r, on) = run(&opts, Overlap::On, (None, None));
    assert_eq!(r.unwrap().stopped_after, Some(7));
    // Epoch 6's measurement was in flight during epoch 7 and is in the checkpoint of epoch 7.
    assert_eq!(on.overlapped, vec![1, 2, 4, 6], "events: {:#?}", on.events);
    let (r, _) = run(&resume_opts(&parts), Overlap::On, (None, None));
    assert_eq!(r.unwrap().epoch, 12);
    assert_same_dirs(&whole, &parts);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn the_switch_reads_0_and_1_and_names_a_bad_value() {
    assert_eq!(Overlap::parse(None).unwrap(), Overlap::On);
    assert_eq!(Overlap::parse(Some("1")).unwrap(), Overlap::On);
    assert_eq!(Overlap::parse(Some("off")).unwrap(), Overlap::Off);
    let e = Overlap::parse(Some("maybe")).unwrap_err().chain();
    assert!(
        e.contains("PROBE_OVERLAP_MEASURE") && e.contains("maybe"),
        "{e}"
    );
}
