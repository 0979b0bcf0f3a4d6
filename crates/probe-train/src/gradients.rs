//! Gradient signal-to-noise per layer (Shwartz-Ziv & Tishby's "drift" and "diffusion" phases).
//!
//! Over the mini-batches b = 1..B of one epoch, with g_b a layer's gradient (weights and bias
//! together, as one vector), [`GradStats`] reports
//! - `mean_norm` = ‖(1/B) Σ_b g_b‖₂, the norm of the mean gradient (the drift), and
//! - `std_norm`  = ‖σ‖₂ with σ_j² = (1/B) Σ_b (g_b,j − mean_j)², the norm of the element-wise
//!   standard deviation (population form, ddof = 0, as IDNNs' `np.std`) — the diffusion.
//!
//! Every batch counts once, whatever its size (the last batch of an epoch may be smaller). Sums
//! are accumulated in f64 on the model's device; only the norms come back to the host. A layer is
//! the set of parameters whose names share everything before the last `.` (`layers.0.weight` and
//! `layers.0.bias` form `layers.0`). With a leading replica axis (seed ensembles, weights
//! `[N, out, in]`), every replica gets its own norms.

use candle_core::backprop::GradStore;
use candle_core::{DType, Tensor, Var};

use crate::Result;

/// The gradient statistics of one layer (of one replica) over an epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct LayerGrad {
    /// Layer name, e.g. `layers.0`.
    pub layer: String,
    /// Replica index (0 without a replica axis).
    pub replica: usize,
    /// ‖mean gradient‖₂.
    pub mean_norm: f64,
    /// ‖element-wise standard deviation of the gradient‖₂.
    pub std_norm: f64,
    /// Number of mini-batches.
    pub batches: usize,
}

/// Running sums of the gradients of the layers of a model over mini-batches.
#[derive(Debug)]
pub struct GradStats {
    layers: Vec<(String, Vec<Var>)>,
    replicas: Option<usize>,
    sum: Vec<Vec<Option<Tensor>>>,
    sumsq: Vec<Vec<Option<Tensor>>>,
    batches: usize,
}

/// Groups named parameters into layers by the part of the name before its last `.`, keeping the
/// order of first appearance.
pub fn group_layers(vars: &[(String, Var)]) -> Vec<(String, Vec<Var>)> {
    let mut out: Vec<(String, Vec<Var>)> = Vec::new();
    for (name, var) in vars {
        let layer = name.rsplit_once('.').map_or(name.as_str(), |(l, _)| l);
        match out.iter_mut().find(|(l, _)| l == layer) {
            Some((_, v)) => v.push(var.clone()),
            None => out.push((layer.to_string(), vec![var.clone()])),
        }
    }
    out
}

impl GradStats {
    /// Statistics of `vars` grouped into layers by [`group_layers`]. `replicas`: `Some(n)` when
    /// every parameter carries a leading axis of `n` independent replicas.
    pub fn new(vars: &[(String, Var)], replicas: Option<usize>) -> Self {
        let layers = group_layers(vars);
        let empty = |l: &Vec<(String, Vec<Var>)>| -> Vec<Vec<Option<Tensor>>> {
            l.iter().map(|(_, v)| vec![None; v.len()]).collect()
        };
        Self {
            sum: empty(&layers),
            sumsq: empty(&layers),
            layers,
            replicas,
            batches: 0,
        }
    }

    /// Adds one mini-batch's gradients; a parameter without a gradient counts as zero.
    pub fn add(&mut self, grads: &GradStore) -> Result<()> {
        self.add_with(|var| Ok(grads.get(var.as_tensor()).cloned()))
    }

    /// [`add`](Self::add) with the gradient of each parameter from `grad_of` (for trainers that
    /// compute gradients without candle's autograd).
    pub fn add_with(&mut self, grad_of: impl Fn(&Var) -> Result<Option<Tensor>>) -> Result<()> {
        self.batches += 1;
        for (li, (_, vars)) in self.layers.iter().enumerate() {
            for (vi, var) in vars.iter().enumerate() {
                let Some(g) = grad_of(var)? else {
                    continue;
                };
                let g = g.detach().to_dtype(DType::F64)?;
                let g2 = g.sqr()?;
                let s = &mut self.sum[li][vi];
                *s = Some(match s.take() {
                    Some(acc) => (acc + &g)?,
                    None => g,
                });
                let s = &mut self.sumsq[li][vi];
                *s = Some(match s.take() {
                    Some(acc) => (acc + &g2)?,
                    None => g2,
                });
            }
        }
        Ok(())
    }

    /// Number of mini-batches added since the last [`finish`](Self::finish).
    pub fn batches(&self) -> usize {
        self.batches
    }

    /// The norms of every layer (of every replica, replicas innermost), and a reset for the next
    /// epoch. With no batch added, both norms are 0.
    pub fn finish(&mut self) -> Result<Vec<LayerGrad>> {
        let b = self.batches.max(1) as f64;
        let n = self.replicas.unwrap_or(1);
        let mut out = Vec::with_capacity(self.layers.len() * n);
        for (li, (layer, _)) in self.layers.iter().enumerate() {
            let mut mean_sq = vec![0f64; n];
            let mut var_sum = vec![0f64; n];
            for (s, s2) in self.sum[li].iter().zip(&self.sumsq[li]) {
                let (Some(s), Some(s2)) = (s, s2) else {
                    continue;
                };
                let mean = (s / b)?;
                // Population variance per element, clamped at 0 against rounding.
                let var = ((s2 / b)? - mean.sqr()?)?.relu()?;
                let (m2, v) = (
                    per_replica_sum(&mean.sqr()?, self.replicas)?,
                    per_replica_sum(&var, self.replicas)?,
                );
                for r in 0..n {
                    mean_sq[r] += m2[r];
                    var_sum[r] += v[r];
                }
            }
            for r in 0..n {
                out.push(LayerGrad {
                    layer: layer.clone(),
                    replica: r,
                    mean_norm: mean_sq[r].sqrt(),
                    std_norm: var_sum[r].sqrt(),
                    batches: self.batches,
                });
            }
        }
        for row in self.sum.iter_mut().chain(self.sumsq.iter_mut()) {
            row.iter_mut().for_each(|t| *t = None);
        }
        self.batches = 0;
        Ok(out)
    }
}

/// Σ over every element (one value), or over every axis but the leading replica axis.
fn per_replica_sum(t: &Tensor, replicas: Option<usize>) -> Result<Vec<f64>> {
    Ok(match replicas {
        None => vec![t.sum_all()?.to_scalar::<f64>()?],
        Some(n) => t.reshape((n, ()))?.sum(1)?.to_vec1::<f64>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn layers_group_by_name_prefix() {
        let v = |x: f32| Var::new(&[x], &Device::Cpu).unwrap();
        let vars = vec![
            ("layers.0.weight".to_string(), v(1.0)),
            ("layers.0.bias".to_string(), v(2.0)),
            ("layers.1.weight".to_string(), v(3.0)),
            ("scale".to_string(), v(4.0)),
        ];
        let g = group_layers(&vars);
        let names: Vec<(&str, usize)> = g.iter().map(|(n, v)| (n.as_str(), v.len())).collect();
        assert_eq!(names, [("layers.0", 2), ("layers.1", 1), ("scale", 1)]);
    }

    /// Gradients chosen by hand: loss_b = a_b·w + c_b·bias + d_b·v, so ∇w = a_b, ∇bias = c_b,
    /// ∇v = d_b, and the norms follow from the definitions (population variance).
    #[test]
    fn norms_match_a_hand_computation() {
        let dev = Device::Cpu;
        let w = Var::new(&[0f32, 0.0], &dev).unwrap();
        let b = Var::new(&[0f32], &dev).unwrap();
        let v = Var::new(&[0f32], &dev).unwrap();
        let vars = vec![
            ("layers.0.weight".to_string(), w.clone()),
            ("layers.0.bias".to_string(), b.clone()),
            ("layers.1.weight".to_string(), v.clone()),
        ];
        let mut st = GradStats::new(&vars, None);
        let a = [[1f32, 2.0], [3.0, -2.0], [5.0, 0.0]];
        let c = [1f32, 1.0, 4.0];
        for (ab, cb) in a.iter().zip(c) {
            let at = Tensor::new(ab, &dev).unwrap();
            let loss = ((w.as_tensor() * &at).unwrap().sum_all().unwrap()
                + (b.as_tensor() * cb as f64).unwrap().sum_all().unwrap()
                + (v.as_tensor() * 2.0).unwrap().sum_all().unwrap())
            .unwrap();
            st.add(&loss.backward().unwrap()).unwrap();
        }
        assert_eq!(st.batches(), 3);
        let out = st.finish().unwrap();
        // layer 0: mean (3, 0 | 2) → √13; variances 8/3, 8/3 | 2 → √(22/3).
        // layer 1: constant gradient 2 → mean 2, std 0.
        let want = [
            ("layers.0", 13f64.sqrt(), (22.0f64 / 3.0).sqrt()),
            ("layers.1", 2.0, 0.0),
        ];
        assert_eq!(out.len(), 2);
        for (g, (name, m, s)) in out.iter().zip(want) {
            assert_eq!((g.layer.as_str(), g.replica, g.batches), (name, 0, 3));
            assert!((g.mean_norm - m).abs() < 1e-12, "{g:?}");
            assert!((g.std_norm - s).abs() < 1e-6, "{g:?}");
        }
        // finish() resets for the next epoch.
        assert_eq!(st.batches(), 0);
    }

    /// With a replica axis each replica gets its own norms.
    #[test]
    fn replicas_get_their_own_norms() {
        let dev = Device::Cpu;
        let w = Var::new(&[[0f32, 0.0], [0.0, 0.0]], &dev).unwrap();
        let vars = vec![("layers.0.weight".to_string(), w.clone())];
        let mut st = GradStats::new(&vars, Some(2));
        for a in [[[1f32, 0.0], [0.0, 1.0]], [[3.0, 0.0], [0.0, -1.0]]] {
            let at = Tensor::new(&a, &dev).unwrap();
            let loss = (w.as_tensor() * &at).unwrap().sum_all().unwrap();
            st.add(&loss.backward().unwrap()).unwrap();
        }
        let out = st.finish().unwrap();
        // replica 0: values (1, 3) and (0, 0): mean (2, 0), std (1, 0).
        // replica 1: values (0, 0) and (1, −1): mean (0, 0), std (0, 1).
        let got: Vec<(usize, f64, f64)> = out
            .iter()
            .map(|g| (g.replica, g.mean_norm, g.std_norm))
            .collect();
        assert_eq!(got, [(0, 2.0, 1.0), (1, 0.0, 1.0)]);
    }
}
