//! Checkpoints of `probe train` and `--resume`.
//!
//! Every `train.checkpoint_every` epochs (and at `--stop-after`) the run directory gets
//! `checkpoint.safetensors`, written atomically (temporary file, fsync, rename), so it is always
//! whole. A run that finishes removes it after writing its final files (the weights are then in
//! `model.safetensors`); a run that stops on an error keeps its last good one. It holds everything the next epoch depends on:
//! - the model's parameters (`model.{name}`) and the optimiser's moment buffers (`optim.m.{i}`,
//!   `optim.v.{i}`), bit for bit;
//! - in the header metadata: the epoch, the optimiser's step count and learning rate, and the
//!   positions of the random streams (`stream.{i}`, one shuffle stream per seed);
//! - the observers' state (`state.{key}`): for the run directory's writer, each table's rows,
//!   bytes and hash at that epoch, not the tables. A resumed run cuts each CSV file back to its
//!   mark (the files may already hold rows of epochs after the checkpoint: those epochs are
//!   trained again and their rows are written once) and appends from there.
//!
//! On the CPU a run interrupted after a checkpoint and resumed ends byte-identical to the same run
//! uninterrupted (`tests/cli_resume.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{bail, invalid, Context, Result};
use candle_core::{Device, Var};
use probe_report::write_atomic;
use probe_train::checkpoint::{set_vars, Checkpoint};
use probe_train::optim::{OptimState, Optimizer};

/// The checkpoint's file name in the run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// The prefix of the observers' state in the checkpoint's metadata.
const STATE_PREFIX: &str = "state.";

/// What a checkpoint restores besides parameters and optimiser state.
pub struct Restored {
    /// The last finished epoch; training continues at the next one.
    pub epoch: usize,
    /// The random streams' saved positions (see `probe_train::rng::save_state`), in order.
    pub streams: Vec<String>,
    /// The observers' state ([`crate::Observer::checkpoint_state`]) by key; each observer takes
    /// its own entries.
    pub state: BTreeMap<String, String>,
}

/// The path of the checkpoint of run directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}

/// Writes the checkpoint of `epoch` into `dir` atomically.
pub fn write(
    dir: &Path,
    epoch: usize,
    vars: &[(String, Var)],
    opt: &Optimizer,
    streams: &[String],
    state: &[(String, String)],
) -> Result<()> {
    let mut c = Checkpoint::default();
    for (name, v) in vars {
        c.tensors
            .push((format!("model.{name}"), v.as_tensor().clone()));
    }
    let st = opt.state();
    for (name, t) in st.tensors {
        c.tensors.push((format!("optim.{name}"), t));
    }
    c.meta.insert("epoch".into(), epoch.to_string());
    c.meta.insert("optim.step".into(), st.step.to_string());
    // `{:?}` of an f64 prints the shortest text that parses back to the same value.
    c.meta.insert("optim.lr".into(), format!("{:?}", st.lr));
    c.meta.insert("streams".into(), streams.len().to_string());
    for (i, s) in streams.iter().enumerate() {
        c.meta.insert(format!("stream.{i}"), s.clone());
    }
    for (key, value) in state {
        c.meta.insert(format!("{STATE_PREFIX}{key}"), value.clone());
    }
    let p = path(dir);
    write_atomic(&p, &c.to_bytes()?).with_context(|| format!("cannot write {}", p.display()))
}

/// Reads the checkpoint of run directory `dir`, puts its parameters into `vars` and its optimiser
/// state into `opt`, and returns the rest.
pub fn read(
    dir: &Path,
    vars: &[(String, Var)],
    opt: &mut Optimizer,
    device: &Device,
) -> Result<Restored> {
    let p = path(dir);
    let finished = dir.join("model.safetensors").is_file()
        || std::fs::read_dir(dir).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("model-seed")))
        });
    if !p.is_file() && finished {
        bail!(
            "the run in {} already finished (its final weights are written); nothing to resume",
            dir.display()
        );
    }
    if !p.is_file() {
        bail!(
            "{} has no checkpoint ({CHECKPOINT_FILE}); only runs with `train.checkpoint_every` > 0 that finished at least one checkpoint interval can be resumed",
            dir.display()
        );
    }
    let c = Checkpoint::read(&p, device)?;
    let bad =
        |what: &str, v: &str| invalid!("checkpoint {}: bad `{what}` value {v:?}", p.display());
    let model: Vec<(String, candle_core::Tensor)> = c
        .tensors
        .iter()
        .filter_map(|(n, t)| n.strip_prefix("model.").map(|n| (n.to_string(), t.clone())))
        .collect();
    set_vars(vars, &model, &p)?;
    let epoch_s = c.meta("epoch", &p)?;
    let epoch: usize = epoch_s.parse().map_err(|_| bad("epoch", epoch_s))?;
    let step_s = c.meta("optim.step", &p)?;
    let lr_s = c.meta("optim.lr", &p)?;
    let state = OptimState {
        step: step_s.parse().map_err(|_| bad("optim.step", step_s))?,
        lr: lr_s.parse().map_err(|_| bad("optim.lr", lr_s))?,
        tensors: c
            .tensors
            .iter()
            .filter_map(|(n, t)| n.strip_prefix("optim.").map(|n| (n.to_string(), t.clone())))
            .collect(),
    };
    opt.load_state(&state)
        .with_context(|| format!("checkpoint {}", p.display()))?;
    let n_s = c.meta("streams", &p)?;
    let n: usize = n_s.parse().map_err(|_| bad("streams", n_s))?;
    let streams = (0..n)
        .map(|i| Ok(c.meta(&format!("stream.{i}"), &p)?.to_string()))
        .collect::<Result<Vec<_>>>()?;
    let state = c
        .meta
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(STATE_PREFIX)?.to_string(), v.clone())))
        .collect();
    Ok(Restored {
        epoch,
        streams,
        state,
    })
}

/// Removes the checkpoint of run directory `dir` (a finished run no longer needs it).
pub fn remove(dir: &Path) -> Result<()> {
    let p = path(dir);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", p.display())),
    }
}
