//! Checkpoints of `probe train` and `--resume`.
//!
//! Every `train.checkpoint_every` epochs (and at the last epoch, at `--stop-after` and on a
//! signal) the run directory gets `checkpoint.safetensors`, written atomically (temporary file,
//! fsync, rename), so it is always whole, with a CRC-32 over every tensor and its header
//! (`probe_train::checkpoint::format`), verified when it is read. A finished run keeps its last
//! one, so `--resume DIR --epochs N` can extend it; a run that stops on an error keeps its last
//! good one. It holds everything the next epoch depends on:
//! - the resolved config the run was trained with (`config`, the text of `config.toml`): resume
//!   refuses a `config.toml` that differs from it and lists the changed keys ([`verify_config`]);
//!   the changes a user may make are flags (`--epochs`, `--lr`), applied to both sides;
//! - the model's parameters and buffers (batch norm's running statistics) (`model.{name}`) and
//!   the optimiser's moment buffers (`optim.m.{i}`, `optim.v.{i}`), bit for bit;
//! - in the header metadata: the epoch, the optimiser's step count and learning rate, and the
//!   positions of the random streams (`stream.{i}`: one shuffle stream per seed, then a VIB's
//!   noise stream or a CNN's dropout stream);
//! - the observers' state (`state.{key}`): for the run directory's writer, each table's rows,
//!   bytes and hash at that epoch, not the tables. A resumed run cuts each CSV file back to its
//!   mark (the files may already hold rows of epochs after the checkpoint: those epochs are
//!   trained again and their rows are written once) and appends from there;
//! - for a signal that stopped an epoch between two batches (`paused.*`, checkpoint format 3):
//!   that epoch, the batches it finished, its shuffle streams' states from before its order was
//!   drawn and its running loss/accuracy sums (`probe_train::trainer::Paused`). `epoch` is then
//!   the last *finished* epoch, the tables' marks are at its end, and a resumed run continues the
//!   stopped epoch at its next batch.
//!
//! On the CPU a run interrupted after a checkpoint and resumed ends byte-identical to the same run
//! uninterrupted (`tests/cli_resume.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::error::{bail, invalid, Context, Result};
use candle_core::{Device, Var};
use probe_report::write_atomic;
use probe_train::checkpoint::{set_vars, Checkpoint};
use probe_train::optim::{OptimState, Optimizer};
use probe_train::trainer::Paused;

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
    /// The epoch a signal stopped between two batches (epoch `epoch + 1`), to continue.
    pub paused: Option<Paused>,
}

/// The path of the checkpoint of run directory `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(CHECKPOINT_FILE)
}

/// The metadata key of the resolved config (TOML text) a checkpoint was trained with.
const CONFIG_KEY: &str = "config";

/// Writes the checkpoint of `epoch` of the run trained with `cfg` into `dir` atomically.
#[allow(clippy::too_many_arguments)]
pub fn write(
    dir: &Path,
    epoch: usize,
    cfg: &Config,
    vars: &[(String, Var)],
    opt: &Optimizer,
    streams: &[String],
    state: &[(String, String)],
    paused: Option<&Paused>,
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
    c.meta.insert(CONFIG_KEY.into(), cfg.to_toml()?);
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
    if let Some(pz) = paused {
        write_paused(&mut c, pz);
    }
    let p = path(dir);
    write_atomic(&p, &c.to_bytes()?).with_context(|| format!("cannot write {}", p.display()))
}

/// Opens the checkpoint of run directory `dir` (on the CPU), its checksums verified; an error
/// says why a directory cannot be resumed.
pub fn open(dir: &Path) -> Result<Checkpoint> {
    let p = path(dir);
    let finished = dir.join("model.safetensors").is_file()
        || std::fs::read_dir(dir).is_ok_and(|mut d| {
            d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("model-seed")))
        });
    if !p.is_file() && finished {
        bail!(
            "the run in {} already finished (its final weights are written) and has no checkpoint to continue from; nothing to resume",
            dir.display()
        );
    }
    if !p.is_file() {
        bail!(
            "{} has no checkpoint ({CHECKPOINT_FILE}); only runs with `train.checkpoint_every` > 0 that finished at least one checkpoint interval can be resumed",
            dir.display()
        );
    }
    Ok(Checkpoint::read(&p, &Device::Cpu)?)
}

/// Removes the temporary files of atomic writes (`.{name}.tmp.{pid}.{n}`) that a process killed
/// while writing left in run directory `dir` (a second Ctrl-C, kill -9); the files they were
/// to replace are whole. Called when a run is resumed.
pub fn remove_temporary_files(dir: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for e in entries {
        let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp.") && e.path().is_file() {
            std::fs::remove_file(e.path())
                .with_context(|| format!("cannot remove {}", e.path().display()))?;
        }
    }
    Ok(())
}

/// Whether a finished run in `dir` trained with `seeds` holds its final files: the weights
/// (`model.safetensors`, or `model-seed{S}.safetensors` per seed of an ensemble) and the main
/// figure (`infoplane.png`, `infoplane.svg`). Other figures `probe plot DIR` redraws.
pub fn final_files_written(dir: &Path, seeds: &[u64]) -> bool {
    use crate::rundir::{model_seed_file, MODEL_FILE};
    let weights: Vec<String> = match seeds {
        [_] => vec![MODEL_FILE.to_string()],
        _ => seeds.iter().map(|&s| model_seed_file(s)).collect(),
    };
    let figures = ["infoplane.png", "infoplane.svg"];
    let all = weights
        .iter()
        .map(String::as_str)
        .chain(figures)
        .all(|f| dir.join(f).is_file());
    all
}

/// The epoch checkpoint `c` of run directory `dir` was written after.
pub fn epoch(c: &Checkpoint, dir: &Path) -> Result<usize> {
    let p = path(dir);
    let s = c.meta("epoch", &p)?;
    s.parse()
        .map_err(|_| invalid!("checkpoint {}: bad `epoch` value {s:?}", p.display()))
}

/// Checks that `file` (the run's `config.toml`) is the config checkpoint `c` of run directory
/// `dir` was trained with, after `flags` (the explicit changes: `--epochs`, `--lr`, `--device`)
/// are applied to both. Any other difference is an error listing each changed key with its two
/// values.
pub fn verify_config(
    c: &Checkpoint,
    dir: &Path,
    file: &Config,
    flags: impl Fn(&mut Config),
) -> Result<()> {
    let p = path(dir);
    let text = c.meta(CONFIG_KEY, &p)?;
    let mut saved = Config::from_toml(text, &format!("config in checkpoint {}", p.display()))?;
    let mut now = file.clone();
    flags(&mut saved);
    flags(&mut now);
    let (saved, now) = (flat(&saved)?, flat(&now)?);
    let keys: std::collections::BTreeSet<&String> = saved.keys().chain(now.keys()).collect();
    let absent = "(absent)".to_string();
    let changed: Vec<String> = keys
        .into_iter()
        // The device is a choice of each invocation (`--device`), not of the model.
        .filter(|k| k.as_str() != "device")
        .filter(|k| saved.get(*k) != now.get(*k))
        .map(|k| {
            format!(
                "`{k}`: {} in the checkpoint, {} in config.toml",
                saved.get(k).unwrap_or(&absent),
                now.get(k).unwrap_or(&absent)
            )
        })
        .collect();
    if !changed.is_empty() {
        bail!(
            "{} was edited after the checkpoint {} was written, so resuming would continue a different run: {}. Restore these values, or start a new run with the changed config (probe train --config FILE); to train more epochs give --epochs N, to change the learning rate --lr X",
            dir.join(crate::rundir::CONFIG_FILE).display(),
            p.display(),
            changed.join("; ")
        );
    }
    Ok(())
}

/// `cfg` as dotted keys (`model.activation`, `measure.estimators[0].kind`) and TOML values.
fn flat(cfg: &Config) -> Result<BTreeMap<String, String>> {
    fn walk(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
        match v {
            toml::Value::Table(t) => {
                for (k, v) in t {
                    let key = match prefix {
                        "" => k.clone(),
                        _ => format!("{prefix}.{k}"),
                    };
                    walk(&key, v, out);
                }
            }
            toml::Value::Array(a) if a.iter().all(toml::Value::is_table) && !a.is_empty() => {
                for (i, v) in a.iter().enumerate() {
                    walk(&format!("{prefix}[{i}]"), v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.to_string());
            }
        }
    }
    let value = toml::Value::try_from(cfg)?;
    let mut out = BTreeMap::new();
    walk("", &value, &mut out);
    Ok(out)
}

/// Restores checkpoint `c` of run directory `dir`: its parameters into `vars`, its optimiser
/// state into `opt`; returns the rest.
pub fn restore(
    c: &Checkpoint,
    dir: &Path,
    vars: &[(String, Var)],
    opt: &mut Optimizer,
) -> Result<Restored> {
    let p = path(dir);
    let bad =
        |what: &str, v: &str| invalid!("checkpoint {}: bad `{what}` value {v:?}", p.display());
    let model: Vec<(String, candle_core::Tensor)> = c
        .tensors
        .iter()
        .filter_map(|(n, t)| n.strip_prefix("model.").map(|n| (n.to_string(), t.clone())))
        .collect();
    set_vars(vars, &model, &p)?;
    let epoch = epoch(c, dir)?;
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
    let paused = read_paused(c, &p)?;
    if let Some(pz) = &paused {
        if pz.epoch != epoch + 1 {
            bail!(
                "checkpoint {}: its stopped epoch ({}) does not follow its last finished epoch ({epoch})",
                p.display(),
                pz.epoch
            );
        }
    }
    Ok(Restored {
        epoch,
        streams,
        state,
        paused,
    })
}

/// Metadata keys of a stopped epoch (under `probe_train::checkpoint::PAUSED_PREFIX`).
const PAUSED_EPOCH: &str = "paused.epoch";
const PAUSED_BATCHES: &str = "paused.batches";
const PAUSED_SHUFFLES: &str = "paused.shuffles";
const PAUSED_SUMS: &str = "paused.sums";

/// Adds stopped epoch `pz` to checkpoint `c` (making it format 3).
fn write_paused(c: &mut Checkpoint, pz: &Paused) {
    let m = &mut c.meta;
    m.insert(PAUSED_EPOCH.into(), pz.epoch.to_string());
    m.insert(PAUSED_BATCHES.into(), pz.batches.to_string());
    m.insert(PAUSED_SHUFFLES.into(), pz.shuffles.len().to_string());
    for (i, s) in pz.shuffles.iter().enumerate() {
        m.insert(format!("paused.shuffle.{i}"), s.clone());
    }
    m.insert(PAUSED_SUMS.into(), pz.sums.len().to_string());
    for (i, v) in pz.sums.iter().enumerate() {
        // `{:?}` of an f64 prints the shortest text that parses back to the same value.
        m.insert(format!("paused.sum.{i}"), format!("{v:?}"));
    }
}

/// The stopped epoch of checkpoint `c` (at `p`), if it holds one.
fn read_paused(c: &Checkpoint, p: &Path) -> Result<Option<Paused>> {
    if !c.meta.contains_key(PAUSED_EPOCH) {
        return Ok(None);
    }
    let bad =
        |what: &str, v: &str| invalid!("checkpoint {}: bad `{what}` value {v:?}", p.display());
    let num = |key: &str| -> Result<usize> {
        let v = c.meta(key, p)?;
        v.parse().map_err(|_| bad(key, v))
    };
    // Counts from the file bound the loops below by the metadata actually present.
    let count = |key: &str| -> Result<usize> {
        let n = num(key)?;
        if n > c.meta.len() {
            return Err(bad(key, c.meta(key, p)?));
        }
        Ok(n)
    };
    let shuffles = (0..count(PAUSED_SHUFFLES)?)
        .map(|i| Ok(c.meta(&format!("paused.shuffle.{i}"), p)?.to_string()))
        .collect::<Result<Vec<_>>>()?;
    let sums = (0..count(PAUSED_SUMS)?)
        .map(|i| {
            let key = format!("paused.sum.{i}");
            let v = c.meta(&key, p)?;
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| bad(&key, v))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(Paused {
        epoch: num(PAUSED_EPOCH)?,
        batches: num(PAUSED_BATCHES)?,
        shuffles,
        sums,
    }))
}
