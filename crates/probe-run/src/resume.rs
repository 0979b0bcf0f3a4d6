//! Checkpoints of `probe train` and `--resume`.
//!
//! Every `train.checkpoint_every` epochs (and at `--stop-after`) the run directory gets
//! `checkpoint.safetensors`, written atomically (temporary file, fsync, rename), so it is always
//! whole. A run that finishes removes it after writing its final files (the weights are then in
//! `model.safetensors`); a run that stops on an error keeps its last good one. It holds everything the next epoch depends on:
//! - the model's parameters and buffers (batch norm's running statistics) (`model.{name}`) and the
//!   optimiser's moment buffers (`optim.m.{i}`, `optim.v.{i}`), bit for bit;
//! - in the header metadata: the epoch, the optimiser's step count and learning rate, and the
//!   positions of the random streams (`stream.{i}`: one shuffle stream per seed, then a VIB's
//!   noise stream or a CNN's dropout stream);
//! - the result tables as they were after that epoch (`metrics.csv`, `infoplane.csv`, …), as JSON
//!   blobs. A resumed run restarts its tables from these, not from the CSV files, which may already
//!   hold rows of epochs after the checkpoint: those epochs are trained again and their rows are
//!   written once.
//!
//! On the CPU a run interrupted after a checkpoint and resumed ends byte-identical to the same run
//! uninterrupted (`tests/cli_resume.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{bail, invalid, Context, Result};
use candle_core::{Device, Var};
use probe_report::{write_atomic, CsvTable};
use probe_train::checkpoint::{set_vars, Checkpoint};
use probe_train::optim::{OptimState, Optimizer};

/// The checkpoint's file name in the run directory.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";

/// What a checkpoint restores besides parameters and optimiser state.
pub struct Restored {
    /// The last finished epoch; training continues at the next one.
    pub epoch: usize,
    /// The random streams' saved positions (see `probe_train::rng::save_state`), in order.
    pub streams: Vec<String>,
    /// The result tables by file name.
    pub tables: BTreeMap<String, CsvTable>,
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
    tables: &[(&str, &CsvTable)],
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
    for (name, table) in tables {
        let json = serde_json::json!({ "header": table.header(), "rows": table.rows() });
        c.blobs.insert(name.to_string(), serde_json::to_vec(&json)?);
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
    let mut tables = BTreeMap::new();
    for (name, bytes) in &c.blobs {
        let v: serde_json::Value = serde_json::from_slice(bytes)
            .with_context(|| format!("checkpoint {}: table {name} is not JSON", p.display()))?;
        let strings = |v: &serde_json::Value| -> Option<Vec<String>> {
            v.as_array()?
                .iter()
                .map(|s| s.as_str().map(String::from))
                .collect()
        };
        let header = strings(&v["header"])
            .with_context(|| format!("checkpoint {}: table {name} has no header", p.display()))?;
        let refs: Vec<&str> = header.iter().map(String::as_str).collect();
        let mut t = CsvTable::new(&refs);
        for row in v["rows"].as_array().map(Vec::as_slice).unwrap_or_default() {
            let row = strings(row).with_context(|| {
                format!("checkpoint {}: table {name} has a bad row", p.display())
            })?;
            t.push(row)?;
        }
        tables.insert(name.clone(), t);
    }
    Ok(Restored {
        epoch,
        streams,
        tables,
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

impl Restored {
    /// Takes the table `name` (empty `header` table if the checkpoint has none), checking that its
    /// columns are `header`'s.
    pub fn take_table(&mut self, name: &str, header: &[&str]) -> Result<CsvTable> {
        match self.tables.remove(name) {
            None => Ok(CsvTable::new(header)),
            Some(t) if t.header() == header => Ok(t),
            Some(t) => bail!(
                "the checkpoint's {name} has columns {:?}, this probe writes {header:?}; resume with the probe version that started the run",
                t.header()
            ),
        }
    }
}
