//! Checkpoints: a model's parameters as safetensors, under their PyTorch-style names
//! (`layers.0.weight`, …), so `safetensors.torch.load_file` reads them directly.
//!
//! [`to_bytes`] serialises in memory; callers write the bytes atomically (see `probe-report`), so
//! an interrupted run never leaves a half-written checkpoint.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use crate::model::Model;
use crate::{Error, Result};

/// The safetensors bytes of `model`'s parameters.
pub fn to_bytes(model: &dyn Model) -> Result<Vec<u8>> {
    let tensors: Vec<(String, Tensor)> = model
        .named_vars()
        .into_iter()
        .map(|(k, v)| (k, v.as_tensor().clone()))
        .collect();
    safetensors::serialize(tensors, None).map_err(|e| Error::Checkpoint {
        path: "<memory>".into(),
        message: e.to_string(),
    })
}

/// Loads parameters saved by `to_bytes` into `model`; every parameter must be present with its shape.
pub fn load(model: &dyn Model, path: &Path, device: &Device) -> Result<()> {
    let tensors: HashMap<String, Tensor> =
        candle_core::safetensors::load(path, device).map_err(|e| Error::Checkpoint {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    for (name, var) in model.named_vars() {
        let t = tensors.get(&name).ok_or_else(|| Error::Checkpoint {
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
        var.set(&t.to_dtype(var.dtype())?)?;
    }
    Ok(())
}
