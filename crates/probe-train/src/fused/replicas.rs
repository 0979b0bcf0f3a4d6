//! Moving parameters and optimiser state between candle vars and fused MLPs: one MLP (vars of
//! the parameters' own shapes) or the N replicas of a seed ensemble (vars `[N, …]`, replica r
//! the r-th slice), so each replica of an ensemble is exactly the single run of its seed.

use candle_core::{DType, Tensor, Var};

use super::update::Moments;
use super::FusedMlp;
use crate::optim::{OptimState, Optimizer};
use crate::{Error, Result};

fn invalid(msg: String) -> Error {
    Error::invalid("train.fused", msg)
}

/// Copies replica r's parameters (the r-th slice of every var) and optimiser state into
/// `reps[r]`.
pub(super) fn load(reps: &mut [FusedMlp], vars: &[Var], opt: &Optimizer) -> Result<()> {
    let n = reps.len();
    let sizes: Vec<usize> = match reps.first() {
        Some(r) => r.params.iter().map(Vec::len).collect(),
        None => return Err(invalid("an ensemble of no replicas".into())),
    };
    if vars.len() != sizes.len() {
        return Err(invalid(format!(
            "the model has {} parameters, the fused MLP {}",
            vars.len(),
            sizes.len()
        )));
    }
    for (i, v) in vars.iter().enumerate() {
        let all = host_values(v.as_tensor(), n * sizes[i])?;
        for (rep, part) in reps.iter_mut().zip(all.chunks_exact(sizes[i])) {
            rep.params[i].copy_from_slice(part);
        }
    }
    let state = opt.state();
    for rep in reps.iter_mut() {
        rep.moments = vec![Moments::default(); sizes.len()];
        rep.spec = opt.spec().clone();
        rep.step = state.step;
    }
    for (name, t) in &state.tensors {
        let bad = || invalid(format!("unexpected optimizer buffer `{name}`"));
        let (kind, i) = name
            .split_once('.')
            .and_then(|(k, i)| Some((k, i.parse::<usize>().ok()?)))
            .ok_or_else(bad)?;
        let len = *sizes.get(i).ok_or_else(bad)?;
        let all = host_values(t, n * len)?;
        for (rep, part) in reps.iter_mut().zip(all.chunks_exact(len)) {
            match kind {
                "m" => rep.moments[i].m = part.to_vec(),
                "v" => rep.moments[i].v = part.to_vec(),
                _ => return Err(bad()),
            }
        }
    }
    Ok(())
}

/// Copies every replica's parameters into its slice of `vars` and the optimiser state into
/// `opt` (all replicas have taken the same number of steps).
pub(super) fn store(reps: &[FusedMlp], vars: &[Var], opt: &mut Optimizer) -> Result<()> {
    let Some(first) = reps.first() else {
        return Err(invalid("an ensemble of no replicas".into()));
    };
    for (i, v) in vars.iter().enumerate() {
        let all: Vec<f32> = reps
            .iter()
            .flat_map(|r| r.params[i].iter().copied())
            .collect();
        v.set(&Tensor::from_vec(all, v.shape(), v.device())?)?;
    }
    let mut tensors = Vec::new();
    for kind in ["m", "v"] {
        for (i, var) in vars.iter().enumerate() {
            let pick = |r: &FusedMlp| -> Vec<f32> {
                let s = &r.moments[i];
                if kind == "m" {
                    s.m.clone()
                } else {
                    s.v.clone()
                }
            };
            if pick(first).is_empty() {
                continue;
            }
            let all: Vec<f32> = reps.iter().flat_map(pick).collect();
            tensors.push((
                format!("{kind}.{i}"),
                Tensor::from_vec(all, var.shape(), var.device())?,
            ));
        }
    }
    opt.load_state(&OptimState {
        step: first.step,
        lr: first.spec.lr(),
        tensors,
    })
}

/// The `f32` values of `t`, which must hold `len` of them.
pub(super) fn host_values(t: &Tensor, len: usize) -> Result<Vec<f32>> {
    if t.elem_count() != len {
        return Err(invalid(format!(
            "a tensor of shape {:?} where {len} values belong",
            t.dims()
        )));
    }
    Ok(t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()?)
}
