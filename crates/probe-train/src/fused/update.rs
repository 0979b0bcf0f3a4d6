//! The optimiser updates of the fused trainer, written operation for operation as
//! [`Optimizer::step`](crate::optim::Optimizer::step) performs them on candle tensors (each
//! `tensor * c` is candle's affine `x·c + 0` in `f32`, each `tensor / c` an affine by `1/c`), so
//! from the same gradients both give bit-identical parameters and moments.

use crate::optim::OptimSpec;

/// One parameter's update state: the first moment or momentum buffer `m` and Adam's second
/// moment `v`, both empty until the first step.
#[derive(Clone, Debug, Default)]
pub(super) struct Moments {
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

/// `x · c` as candle's affine computes it.
#[inline(always)]
fn scale(x: f32, c: f32) -> f32 {
    x * c + 0.0
}

/// Applies step `t` (1-based) of `spec` (with its learning rate) to `theta` from gradient `g`.
pub(super) fn apply(spec: &OptimSpec, t: u64, theta: &mut [f32], g: &[f32], s: &mut Moments) {
    let lr_f = spec.lr() as f32;
    match *spec {
        OptimSpec::Sgd { momentum, .. } => {
            if momentum > 0.0 {
                let mu = momentum as f32;
                if s.m.is_empty() {
                    s.m = g.to_vec();
                } else {
                    for (b, &gv) in s.m.iter_mut().zip(g) {
                        *b = scale(*b, mu) + gv;
                    }
                }
                for (p, &d) in theta.iter_mut().zip(&s.m) {
                    *p -= scale(d, lr_f);
                }
            } else {
                for (p, &d) in theta.iter_mut().zip(g) {
                    *p -= scale(d, lr_f);
                }
            }
        }
        OptimSpec::Adam {
            beta1, beta2, eps, ..
        } => {
            let (b1, b2) = (beta1 as f32, beta2 as f32);
            let (omb1, omb2) = ((1.0 - beta1) as f32, (1.0 - beta2) as f32);
            let c1 = 1.0 - beta1.powi(t as i32);
            let c2 = 1.0 - beta2.powi(t as i32);
            let (inv_c1, inv_c2) = ((1.0 / c1) as f32, (1.0 / c2) as f32);
            let eps = eps as f32;
            if s.m.is_empty() {
                s.m = g.iter().map(|&gv| scale(gv, omb1)).collect();
                s.v = g.iter().map(|&gv| scale(gv * gv, omb2)).collect();
            } else {
                for ((m, v), &gv) in s.m.iter_mut().zip(s.v.iter_mut()).zip(g) {
                    *m = scale(*m, b1) + scale(gv, omb1);
                    *v = scale(*v, b2) + scale(gv * gv, omb2);
                }
            }
            for ((p, &m), &v) in theta.iter_mut().zip(&s.m).zip(&s.v) {
                let denom = scale(v, inv_c2).sqrt() * 1.0 + eps;
                let update = scale(m, inv_c1) / denom;
                *p -= scale(update, lr_f);
            }
        }
    }
}
