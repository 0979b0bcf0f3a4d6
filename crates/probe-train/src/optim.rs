//! Optimisers with PyTorch's update rules, so a researcher's learning rates carry over.
//!
//! - SGD with momentum μ: `b ← μ·b + g` (b = g on the first step), `θ ← θ − lr·b`.
//! - Adam: `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
//!   `θ ← θ − lr·m̂ / (√v̂ + ε)` with `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`.
//!
//! The whole state (step count, learning rate, moment buffers) can be exported with
//! [`Optimizer::state`] and put back with [`Optimizer::load_state`], so a resumed run takes the
//! very same steps.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which optimiser and its hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "optimizer", rename_all = "lowercase")]
pub enum OptimSpec {
    /// Stochastic gradient descent with optional momentum.
    Sgd {
        /// Learning rate.
        lr: f64,
        /// Momentum μ in [0, 1); 0 is plain SGD.
        momentum: f64,
    },
    /// Adam (Kingma & Ba).
    Adam {
        /// Learning rate.
        lr: f64,
        /// β₁.
        beta1: f64,
        /// β₂.
        beta2: f64,
        /// ε, added to √v̂.
        eps: f64,
    },
}

impl OptimSpec {
    /// The learning rate.
    pub fn lr(&self) -> f64 {
        match *self {
            OptimSpec::Sgd { lr, .. } | OptimSpec::Adam { lr, .. } => lr,
        }
    }

    /// Checks every hyper-parameter; the error names the config key.
    pub fn validate(&self) -> Result<()> {
        match *self {
            OptimSpec::Sgd { momentum, .. } => {
                if !(0.0..1.0).contains(&momentum) {
                    return Err(Error::invalid(
                        "train.momentum",
                        format!("{momentum} is out of range; expected 0 ≤ momentum < 1"),
                    ));
                }
            }
            OptimSpec::Adam {
                beta1, beta2, eps, ..
            } => {
                for (key, b) in [("train.beta1", beta1), ("train.beta2", beta2)] {
                    if !(0.0..1.0).contains(&b) {
                        return Err(Error::invalid(
                            key,
                            format!("{b} is out of range; expected 0 ≤ β < 1"),
                        ));
                    }
                }
                if !(eps > 0.0 && eps.is_finite()) {
                    return Err(Error::invalid(
                        "train.eps",
                        format!("{eps}; expected a small positive number such as 1e-8"),
                    ));
                }
            }
        }
        let lr = self.lr();
        if !(lr > 0.0 && lr.is_finite()) {
            return Err(Error::invalid(
                "train.lr",
                format!("{lr}; expected a positive learning rate such as 0.001"),
            ));
        }
        Ok(())
    }
}

/// What [`Optimizer::state`] exports.
#[derive(Clone, Debug)]
pub struct OptimState {
    /// Steps taken.
    pub step: u64,
    /// The current learning rate.
    pub lr: f64,
    /// Moment buffers by name (`m.{i}`, `v.{i}`).
    pub tensors: Vec<(String, Tensor)>,
}

/// An optimiser bound to a model's parameters.
#[derive(Debug)]
pub struct Optimizer {
    spec: OptimSpec,
    vars: Vec<Var>,
    /// Momentum buffers (SGD) or first moments (Adam), one per var, created on the first step.
    m: Vec<Option<Tensor>>,
    /// Second moments (Adam).
    v: Vec<Option<Tensor>>,
    step: u64,
}

impl Optimizer {
    /// An optimiser for `vars` after validating `spec`.
    pub fn new(spec: OptimSpec, vars: Vec<Var>) -> Result<Self> {
        spec.validate()?;
        let n = vars.len();
        Ok(Self {
            spec,
            vars,
            m: vec![None; n],
            v: vec![None; n],
            step: 0,
        })
    }

    /// The optimiser and its hyper-parameters (the learning rate as last set).
    pub fn spec(&self) -> &OptimSpec {
        &self.spec
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.spec.lr()
    }

    /// Changes the learning rate (schedules such as Alemi et al.'s ×0.97 every 2 epochs).
    pub fn set_lr(&mut self, new: f64) -> Result<()> {
        if !(new > 0.0 && new.is_finite()) {
            return Err(Error::invalid(
                "train.lr",
                format!("{new}; a learning rate must be positive and finite"),
            ));
        }
        match &mut self.spec {
            OptimSpec::Sgd { lr, .. } | OptimSpec::Adam { lr, .. } => *lr = new,
        }
        Ok(())
    }

    /// Step count, learning rate and the moment buffers (`m.{i}`, `v.{i}` for the i-th var, only
    /// those that exist yet), for a checkpoint.
    pub fn state(&self) -> OptimState {
        let mut tensors = Vec::new();
        for (kind, bufs) in [("m", &self.m), ("v", &self.v)] {
            for (i, b) in bufs.iter().enumerate() {
                if let Some(t) = b {
                    tensors.push((format!("{kind}.{i}"), t.clone()));
                }
            }
        }
        OptimState {
            step: self.step,
            lr: self.lr(),
            tensors,
        }
    }

    /// Restores a [`state`](Self::state) taken from an optimiser over vars of the same shapes.
    pub fn load_state(&mut self, state: &OptimState) -> Result<()> {
        let bad = |m: String| Error::invalid("checkpoint optimizer state", m);
        let mut m = vec![None; self.vars.len()];
        let mut v = vec![None; self.vars.len()];
        for (name, t) in &state.tensors {
            let (kind, i) = name
                .split_once('.')
                .and_then(|(k, i)| Some((k, i.parse::<usize>().ok()?)))
                .ok_or_else(|| bad(format!("unexpected buffer name `{name}`")))?;
            let var = self.vars.get(i).ok_or_else(|| {
                bad(format!(
                    "buffer `{name}` has no parameter: the model has {}",
                    self.vars.len()
                ))
            })?;
            if t.dims() != var.dims() {
                return Err(bad(format!(
                    "buffer `{name}` has shape {:?}, its parameter {:?}",
                    t.dims(),
                    var.dims()
                )));
            }
            let slot = match kind {
                "m" => &mut m[i],
                "v" => &mut v[i],
                _ => return Err(bad(format!("unexpected buffer name `{name}`"))),
            };
            *slot = Some(t.to_device(var.device())?.to_dtype(var.dtype())?);
        }
        self.set_lr(state.lr)?;
        self.m = m;
        self.v = v;
        self.step = state.step;
        Ok(())
    }

    /// Applies one update from `grads`; parameters without a gradient are left as they are.
    pub fn step(&mut self, grads: &GradStore) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        for (i, var) in self.vars.iter().enumerate() {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            // A gradient can carry the backward graph (it is computed from the step's tracked
            // activations); the moment buffers would then chain every step's whole graph.
            let g = &g.detach();
            match self.spec {
                OptimSpec::Sgd { lr, momentum } => {
                    let dir = if momentum > 0.0 {
                        let buf = match &self.m[i] {
                            Some(b) => ((b * momentum)? + g)?,
                            None => g.clone(),
                        };
                        self.m[i] = Some(buf.clone());
                        buf
                    } else {
                        g.clone()
                    };
                    var.set(&var.as_tensor().sub(&(dir * lr)?)?)?;
                }
                OptimSpec::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                } => {
                    let m = match &self.m[i] {
                        Some(m) => ((m * beta1)? + (g * (1.0 - beta1))?)?,
                        None => (g * (1.0 - beta1))?,
                    };
                    let g2 = g.sqr()?;
                    let v = match &self.v[i] {
                        Some(v) => ((v * beta2)? + (g2 * (1.0 - beta2))?)?,
                        None => (g2 * (1.0 - beta2))?,
                    };
                    let c1 = 1.0 - beta1.powi(t);
                    let c2 = 1.0 - beta2.powi(t);
                    let denom = ((&v / c2)?.sqrt()? + eps)?;
                    let update = ((&m / c1)? / denom)?;
                    var.set(&var.as_tensor().sub(&(update * lr)?)?)?;
                    self.m[i] = Some(m);
                    self.v[i] = Some(v);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The starting point θ = [0, 1] of every test.
    fn theta() -> Var {
        Var::from_tensor(&Tensor::new(&[0f32, 1.0], &Device::Cpu).unwrap()).unwrap()
    }

    /// One step of `opt` on f(θ) = Σ (θ − 3)², θ being `var`.
    fn step(opt: &mut Optimizer, var: &Var) {
        let loss = (var.as_tensor() - 3.0)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        opt.step(&loss.backward().unwrap()).unwrap();
    }

    /// Adam at learning rate `lr` with β₁ = 0.9, `beta2` (usually 0.999) and ε = 1e-8.
    fn adam(lr: f64, beta2: f64) -> OptimSpec {
        OptimSpec::Adam {
            lr,
            beta1: 0.9,
            beta2,
            eps: 1e-8,
        }
    }

    /// Minimises f(θ) = Σ (θ − 3)² from [`theta`] and compares with the update rules worked by
    /// hand.
    fn run(spec: OptimSpec, steps: usize) -> Vec<f32> {
        let var = theta();
        let mut opt = Optimizer::new(spec, vec![var.clone()]).unwrap();
        for _ in 0..steps {
            step(&mut opt, &var);
        }
        var.as_tensor().to_vec1().unwrap()
    }

    #[test]
    fn sgd_with_momentum_matches_hand_computation() {
        // g = 2(θ−3). θ=0: g=−6, b=−6, θ=0.6. g=−4.8, b=0.9·(−6)−4.8=−10.2, θ=0.6+1.02=1.62.
        let th = run(
            OptimSpec::Sgd {
                lr: 0.1,
                momentum: 0.9,
            },
            2,
        );
        assert!((th[0] - 1.62).abs() < 1e-6, "{th:?}");
        // Plain SGD: θ=1: g=−4 → 1.4; g=−3.2 → 1.72.
        let th = run(
            OptimSpec::Sgd {
                lr: 0.1,
                momentum: 0.0,
            },
            2,
        );
        assert!((th[1] - 1.72).abs() < 1e-6, "{th:?}");
    }

    #[test]
    fn adam_first_step_moves_by_lr() {
        // With bias correction the first Adam step is −lr·g/(|g|+ε) ≈ lr·sign(−g).
        let spec = adam(0.01, 0.999);
        let th = run(spec.clone(), 1);
        assert!(
            (th[0] - 0.01).abs() < 1e-6 && (th[1] - 1.01).abs() < 1e-6,
            "{th:?}"
        );
        // Second step: g=2(0.01−3)=−5.98; m=0.9·(−0.6)+0.1·(−5.98)=−1.138, m̂=−1.138/0.19;
        // v=0.999·0.036+0.001·35.7604=0.0717244, v̂=v/0.001999; θ=0.01+0.01·m̂/√v̂.
        let th = run(spec, 2);
        let m_hat = -1.138f64 / 0.19;
        let v_hat = (0.999 * 0.036 + 0.001 * 35.7604) / (1.0 - 0.999f64.powi(2));
        let want = 0.01 - 0.01 * m_hat / (v_hat.sqrt() + 1e-8);
        assert!((th[0] as f64 - want).abs() < 1e-6, "{th:?} vs {want}");
    }

    #[test]
    fn restored_state_takes_the_same_steps() {
        let spec = adam(0.05, 0.999);
        let (a, b) = (theta(), theta());
        let mut oa = Optimizer::new(spec.clone(), vec![a.clone()]).unwrap();
        for _ in 0..3 {
            step(&mut oa, &a);
        }
        oa.set_lr(0.02).unwrap();
        b.set(a.as_tensor()).unwrap();
        let mut ob = Optimizer::new(spec, vec![b.clone()]).unwrap();
        ob.load_state(&oa.state()).unwrap();
        assert_eq!((ob.steps(), ob.lr()), (3, 0.02));
        for _ in 0..4 {
            step(&mut oa, &a);
            step(&mut ob, &b);
        }
        let (va, vb): (Vec<f32>, Vec<f32>) = (
            a.as_tensor().to_vec1().unwrap(),
            b.as_tensor().to_vec1().unwrap(),
        );
        assert_eq!(
            va.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
            vb.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        );
        // A buffer of the wrong shape is refused.
        let mut st = oa.state();
        st.tensors[0].1 = Tensor::zeros(3, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(ob.load_state(&st).is_err());
    }

    #[test]
    fn invalid_hyper_parameters_name_their_key() {
        let sgd = |lr, momentum| OptimSpec::Sgd { lr, momentum };
        for (spec, key) in [
            (sgd(-1.0, 0.0), "train.lr"),
            (sgd(0.1, 1.5), "train.momentum"),
            (adam(0.1, 1.0), "train.beta2"),
        ] {
            let e = spec.validate().unwrap_err();
            assert!(e.to_string().contains(key), "{e}");
        }
    }
}
