//! Checkpoints: a model's parameters as safetensors, under their PyTorch-style names
//! (`layers.0.weight`, …), so `safetensors.torch.load_file` reads them directly.
//!
//! [`to_bytes`] serialises in memory; callers write the bytes atomically (see `probe-report`), so
//! an interrupted run never leaves a half-written checkpoint. A [`Checkpoint`] holds a whole
//! training state (weights, optimiser buffers, random-stream positions, results) for `--resume`.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{Device, Tensor, Var};

use crate::model::Model;

pub mod format;
use crate::{Error, Result};

/// A model's whole state: its parameters and its buffers (batch-norm running statistics).
pub fn named_state(model: &dyn Model) -> Vec<(String, Var)> {
    let mut v = model.named_vars();
    v.extend(model.named_buffers());
    v
}

/// The safetensors bytes of `model`'s parameters and buffers ([`named_state`]), with checksums
/// (see [`mod@format`]).
pub fn to_bytes(model: &dyn Model) -> Result<Vec<u8>> {
    let state: Vec<(String, Tensor)> = named_state(model)
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    tensors_to_bytes(&state)
}

/// The safetensors bytes of named tensors (a model file), with checksums (see [`mod@format`]).
pub fn tensors_to_bytes(tensors: &[(String, Tensor)]) -> Result<Vec<u8>> {
    tensors_with_meta_to_bytes(tensors, &BTreeMap::new())
}

/// [`tensors_to_bytes`] with header metadata `meta` (an activations dump's layer order and
/// epoch): byte-stable, as every file probe writes (tensors and metadata in sorted order).
pub fn tensors_with_meta_to_bytes(
    tensors: &[(String, Tensor)],
    meta: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    let entries = tensors
        .iter()
        .map(|(k, t)| entry(k, t))
        .collect::<Result<Vec<_>>>()?;
    format::encode(&entries, meta)
}

/// Loads parameters and buffers saved by `to_bytes` (or a PyTorch `state_dict` with the same
/// names) into `model`; every one must be present with its shape, other tensors are ignored.
/// Checksums, where the file has them, are verified.
pub fn load(model: &dyn Model, path: &Path, device: &Device) -> Result<()> {
    let decoded = read_file(path)?;
    let tensors = decoded
        .entries
        .iter()
        .map(|e| Ok((e.name.clone(), tensor(e, device, path)?)))
        .collect::<Result<Vec<_>>>()?;
    set_vars(&named_state(model), &tensors, path)
}

/// The decoded, verified contents of the safetensors file `path`.
fn read_file(path: &Path) -> Result<format::Decoded> {
    let bytes = std::fs::read(path).map_err(|e| Error::Checkpoint {
        path: path.to_path_buf(),
        message: format!("cannot read it: {e}"),
    })?;
    format::decode(&bytes, path)
}

/// `t` (any device) as a stored entry named `name`.
fn entry(name: &str, t: &Tensor) -> Result<format::Entry> {
    use safetensors::View;
    let t = t.to_device(&Device::Cpu)?;
    Ok(format::Entry {
        name: name.to_string(),
        dtype: format!("{:?}", View::dtype(&t)),
        shape: t.dims().to_vec(),
        data: View::data(&t).into_owned(),
    })
}

/// The tensor stored as `e` in the file `path`, on `device`.
fn tensor(e: &format::Entry, device: &Device, path: &Path) -> Result<Tensor> {
    let err = |message: String| Error::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let dtype: safetensors::Dtype =
        serde_json::from_value(serde_json::Value::from(e.dtype.clone())).map_err(|_| {
            err(format!(
                "tensor `{}` has an unknown dtype {}",
                e.name, e.dtype
            ))
        })?;
    let view = safetensors::tensor::TensorView::new(dtype, e.shape.clone(), &e.data)
        .map_err(|x| err(format!("tensor `{}`: {x}", e.name)))?;
    Ok(candle_core::safetensors::Load::load(&view, device)?)
}

/// The tensor found for the parameter `name` in the checkpoint at `path`, which must be there
/// (`Some`) with the shape of `var`.
fn checked<'a>(name: &str, t: Option<&'a Tensor>, var: &Var, path: &Path) -> Result<&'a Tensor> {
    let t = t.ok_or_else(|| Error::Checkpoint {
        path: path.to_path_buf(),
        message: format!("parameter `{name}` is missing"),
    })?;
    if t.dims() != var.dims() {
        return Err(Error::Checkpoint {
            path: path.to_path_buf(),
            message: format!(
                "parameter `{name}` has shape {:?}, the model expects {:?}",
                t.dims(),
                var.dims()
            ),
        });
    }
    Ok(t)
}

/// Everything a run needs to continue: named tensors (weights, optimiser buffers), short text
/// values (epoch, step count, random-stream states) and byte blobs (the result tables so far).
///
/// One safetensors file holds it all: tensors under their names, blobs as `U8` tensors named
/// `blob.{name}`, text values in the header's metadata. Written with one atomic rename, so a
/// checkpoint is always whole.
#[derive(Clone, Debug, Default)]
pub struct Checkpoint {
    /// Tensors by name (any device; stored as they are).
    pub tensors: Vec<(String, Tensor)>,
    /// Short text values by key.
    pub meta: BTreeMap<String, String>,
    /// Byte blobs by name (e.g. serialised result tables).
    pub blobs: BTreeMap<String, Vec<u8>>,
}

/// The metadata key marking a probe checkpoint, and its format version (2: probe's own
/// byte-stable writer with checksums, see [`mod@format`]; 3: the same with metadata under
/// [`PAUSED_PREFIX`], a checkpoint taken inside an epoch, which a reader of format 2 only must
/// refuse rather than resume at the epoch's start). A checkpoint without such metadata is
/// written as format 2, byte for byte what earlier versions wrote.
const FORMAT_KEY: &str = "probe.checkpoint";
const FORMAT_VERSION: &str = "2";
const FORMAT_VERSION_PAUSED: &str = "3";
/// The prefix of the metadata of a checkpoint taken inside an epoch (format 3).
pub const PAUSED_PREFIX: &str = "paused.";
const BLOB_PREFIX: &str = "blob.";

impl Checkpoint {
    /// The safetensors bytes: the same checkpoint always gives the same bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut all = self
            .tensors
            .iter()
            .map(|(name, t)| entry(name, t))
            .collect::<Result<Vec<_>>>()?;
        for (name, bytes) in &self.blobs {
            let name = format!("{BLOB_PREFIX}{name}");
            all.push(format::Entry::new(
                &name,
                "U8",
                vec![bytes.len()],
                bytes.clone(),
            ));
        }
        let mut meta = self.meta.clone();
        let paused = meta.keys().any(|k| k.starts_with(PAUSED_PREFIX));
        let version = match paused {
            true => FORMAT_VERSION_PAUSED,
            false => FORMAT_VERSION,
        };
        meta.insert(FORMAT_KEY.into(), version.into());
        format::encode(&all, &meta)
    }

    /// Reads a checkpoint written by [`Checkpoint::to_bytes`], verifying every checksum (an error
    /// names the file and the tensor that changed); tensors are placed on `device`.
    pub fn read(path: &Path, device: &Device) -> Result<Self> {
        let err = |message: String| Error::Checkpoint {
            path: path.to_path_buf(),
            message,
        };
        let format::Decoded {
            entries,
            mut meta,
            verified,
        } = read_file(path)?;
        let paused = meta.keys().any(|k| k.starts_with(PAUSED_PREFIX));
        match meta.remove(FORMAT_KEY).as_deref() {
            Some(FORMAT_VERSION) if !paused => {}
            Some(FORMAT_VERSION_PAUSED) if paused => {}
            Some(v @ (FORMAT_VERSION | FORMAT_VERSION_PAUSED)) => {
                return Err(err(format!(
                    "the header is corrupted: format {v} {} a stopped epoch (`{PAUSED_PREFIX}*` metadata)",
                    if paused { "with" } else { "without" }
                )))
            }
            Some(v) => {
                return Err(err(format!(
                    "checkpoint format {v} is not supported (this probe reads formats {FORMAT_VERSION} and {FORMAT_VERSION_PAUSED}); resume with the probe version that wrote it"
                )))
            }
            None => {
                return Err(err(
                    "not a probe checkpoint (no `probe.checkpoint` metadata)".into(),
                ))
            }
        }
        if !verified {
            return Err(err(format!(
                "its checksums (`{}`) are missing; the file changed after probe wrote it",
                format::HEADER_CRC_KEY
            )));
        }
        let mut out = Checkpoint {
            meta,
            ..Checkpoint::default()
        };
        for e in entries {
            match e.name.strip_prefix(BLOB_PREFIX) {
                Some(blob) => {
                    out.blobs.insert(blob.to_string(), e.data);
                }
                None => {
                    let t = tensor(&e, device, path)?;
                    out.tensors.push((e.name, t));
                }
            }
        }
        Ok(out)
    }

    /// The tensor `name`, or an error naming the checkpoint file.
    pub fn tensor(&self, name: &str, path: &Path) -> Result<&Tensor> {
        self.tensors
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| Error::Checkpoint {
                path: path.to_path_buf(),
                message: format!("tensor `{name}` is missing"),
            })
    }

    /// The text value `key`, or an error naming the checkpoint file.
    pub fn meta(&self, key: &str, path: &Path) -> Result<&str> {
        self.meta
            .get(key)
            .map(String::as_str)
            .ok_or_else(|| Error::Checkpoint {
                path: path.to_path_buf(),
                message: format!("value `{key}` is missing"),
            })
    }
}

/// Copies `tensors` (by name) into `vars` (by name); every var must be present with its shape.
pub fn set_vars(vars: &[(String, Var)], tensors: &[(String, Tensor)], path: &Path) -> Result<()> {
    for (name, var) in vars {
        let found = tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        let t = checked(name, found, var, path)?;
        var.set(&t.to_device(var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}
