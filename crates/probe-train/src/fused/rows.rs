//! The fused MLP's forward pass over a set of rows, for capturing activations: the loops the
//! fused trainer runs ([`super::kernels`]), so the activations probe measures on the fused path
//! are the ones its training computes, without candle's per-operation tensors (on a 4096-sample
//! probe set of the 12-bit network, the candle forward took about a fifth of an every-epoch
//! run).

use candle_core::{DType, Device, Tensor};
use probe_capture::ActivationCache;

use super::kernels::{self, Batch, Buffers};
use super::replicas::host_values;
use super::FusedMlp;
use crate::model::layers::rowwise::softmax_last;
use crate::{Error, Result};

/// Rows per pass of [`FusedMlp::layer_outputs`]: the inner loops run along this many samples.
const ROWS_PER_PASS: usize = 1024;

impl FusedMlp {
    /// The output of every linear layer of the MLP whose parameters are `params` (the values of
    /// its vars in `named_vars` order, as [`load`](Self::load) reads them) for the rows of `x` (`[n, d]`
    /// row-major, `d` the input width): hidden layers after their activation, the last layer's
    /// logits, each `[n, width]` row-major. Each row's values do not depend on the other rows
    /// nor on how many pass at once.
    pub fn layer_outputs(&self, params: &[Tensor], x: &[f32]) -> Result<Vec<Vec<f32>>> {
        let widths = &self.net.widths;
        let d = widths[0];
        if !x.len().is_multiple_of(d) {
            return Err(Error::invalid(
                "train.fused",
                format!("{} input values are not rows of {d}", x.len()),
            ));
        }
        if params.len() != self.params.len() {
            return Err(Error::invalid(
                "train.fused",
                format!(
                    "the model has {} parameters, the fused MLP {}",
                    params.len(),
                    self.params.len()
                ),
            ));
        }
        let params = params
            .iter()
            .zip(&self.params)
            .map(|(t, p)| host_values(t, p.len()))
            .collect::<Result<Vec<_>>>()?;
        let n = x.len() / d;
        let mut outs: Vec<Vec<f32>> = widths[1..].iter().map(|&w| vec![0.0; n * w]).collect();
        let mut bufs = Buffers::new(&self.net, ROWS_PER_PASS.min(n.max(1)));
        let all: Vec<u32> = (0..n as u32).collect();
        for (pass, idx) in all.chunks(bufs.cap()).enumerate() {
            let b = idx.len();
            let batch = Batch { x, y: &[], idx };
            kernels::batch_forward(self.isa, &self.net, &params, &mut bufs, batch);
            let start = pass * bufs.cap();
            for (l, out) in outs.iter_mut().enumerate() {
                let w = widths[l + 1];
                let acts = &bufs.acts(l + 1)[..w * b];
                let rows = &mut out[start * w..(start + b) * w];
                for (o, column) in acts.chunks_exact(b).enumerate() {
                    for (row, &v) in rows.chunks_exact_mut(w).zip(column) {
                        row[o] = v;
                    }
                }
            }
        }
        Ok(outs)
    }

    /// Whether [`hook`](Self::hook) records every hook point `cache` selects: all of the MLP's
    /// but the hidden layers' pre-activations (`layers.{i}.hook_pre`, `i < L`), which the fused
    /// loops overwrite with the activation.
    pub fn can_hook(&self, cache: &ActivationCache) -> bool {
        let last = self.net.layers() - 1;
        (0..last).all(|i| !cache.selects(&format!("layers.{i}.hook_pre")))
    }

    /// Records in `cache` the hook points the MLP's forward (`model::Mlp`) records for the rows
    /// `x` (`[n, d]`, on the CPU), computed by [`layer_outputs`](Self::layer_outputs) with the
    /// parameters `params`: `layers.{i}.hook_post` of the hidden layers, and the output layer's
    /// logits (`hook_pre`) and softmax (`hook_post`, by the same row op as the candle forward).
    /// Hidden pre-activations are not recorded (see [`can_hook`](Self::can_hook)).
    pub fn hook(&self, params: &[Tensor], x: &Tensor, cache: &mut ActivationCache) -> Result<()> {
        let (n, _) = x.dims2()?;
        let x: Vec<f32> = x.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
        let outs = self.layer_outputs(params, &x)?;
        let last = outs.len() - 1;
        for (i, out) in outs.into_iter().enumerate() {
            let names = [
                format!("layers.{i}.hook_pre"),
                format!("layers.{i}.hook_post"),
            ];
            let [pre, post] = [&names[0], &names[1]].map(|name| cache.selects(name));
            if !pre && !post {
                continue;
            }
            let w = self.net.widths[i + 1];
            let t = Tensor::from_vec(out, (n, w), &Device::Cpu)?;
            if i < last {
                cache.hook(&names[1], &t)?;
            } else {
                cache.hook(&names[0], &t)?;
                if post {
                    cache.hook(&names[1], &softmax_last(&t)?)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};
    use probe_capture::{ActivationCache, NameFilter};

    use super::*;
    use crate::fused::tests::spec;
    use crate::model::{Activation, Mlp, MlpSpec, Model};
    use crate::optim::OptimSpec;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `len` values uniform in `[lo, hi)` from `seed`.
    fn uniform_f32(len: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        (0..len).map(|_| rng.random_range(lo..hi)).collect()
    }

    /// A fused MLP for `s` (the optimiser and batch size do not enter the forward pass).
    fn fused(s: &MlpSpec) -> Result<FusedMlp> {
        let sgd = OptimSpec::Sgd {
            lr: 0.1,
            momentum: 0.0,
        };
        FusedMlp::new(s, &sgd, 8)
    }

    fn vars(m: &Mlp) -> Vec<Tensor> {
        m.named_vars()
            .into_iter()
            .map(|(_, v)| v.as_tensor().clone())
            .collect()
    }

    /// The outputs candle's forward hooks for every layer (hidden: `hook_post`; last:
    /// `hook_pre`, the logits), row-major.
    fn candle_outputs(m: &Mlp, x: &[f32], d: usize) -> Result<Vec<Vec<f32>>> {
        let layers = m.named_vars().len() / 2;
        let names: Vec<String> = (0..layers)
            .map(|i| match i + 1 == layers {
                true => format!("layers.{i}.hook_pre"),
                false => format!("layers.{i}.hook_post"),
            })
            .collect();
        let mut cache = ActivationCache::new(NameFilter::new(&names)?);
        let xt = Tensor::from_vec(x.to_vec(), (x.len() / d, d), &Device::Cpu)?;
        m.forward(&xt, Some(&mut cache))?;
        names
            .iter()
            .map(|n| Ok(cache.take(n)?.expect("hooked").flatten_all()?.to_vec1()?))
            .collect()
    }

    /// Every layer's output agrees with candle's forward of the same parameters (to rounding:
    /// the sums run in another order), for each fused activation, small layers and a gemm one.
    #[test]
    fn layer_outputs_match_the_candle_forward() -> Result<()> {
        let nets: [&[usize]; 2] = [&[12, 10, 7, 5, 4, 3, 2], &[40, 600, 30, 3]];
        for widths in nets {
            for act in [
                Activation::Tanh,
                Activation::Relu,
                Activation::Sigmoid,
                Activation::Linear,
            ] {
                let s = spec(widths, act);
                let m = Mlp::new(&s, 5, &Device::Cpu)?;
                let f = fused(&s)?;
                let x = uniform_f32(1500 * widths[0], 3, -2.0, 2.0);
                let got = f.layer_outputs(&vars(&m), &x)?;
                let want = candle_outputs(&m, &x, widths[0])?;
                assert_eq!(got.len(), want.len());
                for (l, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(g.len(), w.len(), "layer {l}");
                    for (a, b) in g.iter().zip(w) {
                        let tol = 1e-5 * (1.0 + b.abs());
                        assert!(
                            (a - b).abs() <= tol,
                            "{act:?} {widths:?} layer {l}: {a} vs {b}"
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// A row's outputs are the same bits whatever rows pass with it (one pass, several, alone)
    /// and at every instruction set.
    #[test]
    fn rows_are_independent_of_their_neighbours_and_the_instruction_set() -> Result<()> {
        let s = spec(&[12, 10, 7, 5, 4, 3, 2], Activation::Tanh);
        let m = Mlp::new(&s, 9, &Device::Cpu)?;
        let mut f = fused(&s)?;
        let n = ROWS_PER_PASS * 2 + 37;
        let x = uniform_f32(n * 12, 4, -1.0, 1.0);
        let all = f.layer_outputs(&vars(&m), &x)?;
        let bits = |v: &[f32]| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>();
        for r in [0, 5, ROWS_PER_PASS - 1, ROWS_PER_PASS, n - 1] {
            let one = f.layer_outputs(&vars(&m), &x[r * 12..(r + 1) * 12])?;
            for (l, (o, a)) in one.iter().zip(&all).enumerate() {
                let w = o.len();
                assert_eq!(bits(o), bits(&a[r * w..(r + 1) * w]), "row {r} layer {l}");
            }
        }
        let tail = f.layer_outputs(&vars(&m), &x[100 * 12..])?;
        for (t, a) in tail.iter().zip(&all) {
            assert_eq!(bits(t), bits(&a[a.len() - t.len()..]));
        }
        for isa in probe_simd::supported_isas() {
            f.isa = isa;
            let other = f.layer_outputs(&vars(&m), &x)?;
            for (o, a) in other.iter().zip(&all) {
                assert_eq!(bits(o), bits(a), "{isa:?}");
            }
        }
        Ok(())
    }

    /// `hook` records what the candle forward records for every hook point but the hidden
    /// pre-activations (the output softmax included), to rounding; `can_hook` refuses a filter
    /// that selects a hidden `hook_pre` and accepts the output layer's.
    #[test]
    fn hook_records_the_candle_forwards_hook_points() -> Result<()> {
        let s = spec(&[6, 5, 4, 3], Activation::Tanh);
        let m = Mlp::new(&s, 2, &Device::Cpu)?;
        let f = fused(&s)?;
        let names = [
            "layers.0.hook_post",
            "layers.1.hook_post",
            "layers.2.hook_pre",
            "layers.2.hook_post",
        ]
        .map(String::from);
        let x = Tensor::from_vec(uniform_f32(300 * 6, 8, -2.0, 2.0), (300, 6), &Device::Cpu)?;
        let (mut got, mut want) = (
            ActivationCache::new(NameFilter::new(&names)?),
            ActivationCache::new(NameFilter::new(&names)?),
        );
        assert!(f.can_hook(&got));
        f.hook(&vars(&m), &x, &mut got)?;
        m.forward(&x, Some(&mut want))?;
        for name in &names {
            let g: Vec<f32> = got.take(name)?.expect(name).flatten_all()?.to_vec1()?;
            let w: Vec<f32> = want.take(name)?.expect(name).flatten_all()?.to_vec1()?;
            assert_eq!(g.len(), w.len(), "{name}");
            for (a, b) in g.iter().zip(&w) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{name}: {a} vs {b}"
                );
            }
        }
        let hidden_pre = ["layers.1.hook_pre".to_string()];
        assert!(!f.can_hook(&ActivationCache::new(NameFilter::new(&hidden_pre)?)));
        Ok(())
    }

    #[test]
    fn bad_inputs_are_errors() -> Result<()> {
        let s = spec(&[3, 4, 2], Activation::Tanh);
        let m = Mlp::new(&s, 1, &Device::Cpu)?;
        let f = fused(&s)?;
        let err = f.layer_outputs(&vars(&m), &[0.0; 7]).unwrap_err();
        assert!(err.to_string().contains("7 input values"), "{err}");
        let err = f.layer_outputs(&vars(&m)[..2], &[0.0; 6]).unwrap_err();
        assert!(err.to_string().contains("2 parameters"), "{err}");
        assert!(f.layer_outputs(&vars(&m), &[])?.iter().all(Vec::is_empty));
        Ok(())
    }
}
