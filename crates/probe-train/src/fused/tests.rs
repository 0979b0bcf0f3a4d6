//! The fused trainer against candle's autograd and optimiser on the same parameters and data.

use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::kernels::{self, Batch, Buffers};
use super::update::{self, Moments};
use super::FusedMlp;
use crate::model::{Activation, Init, Mlp, MlpSpec, Model};
use crate::optim::{OptimSpec, Optimizer};
use crate::Result;
use probe_simd::Isa;

const ADAM: OptimSpec = OptimSpec::Adam {
    lr: 0.01,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
};

pub(super) fn spec(widths: &[usize], activation: Activation) -> MlpSpec {
    MlpSpec {
        input_dim: widths[0],
        hidden: widths[1..widths.len() - 1].to_vec(),
        classes: widths[widths.len() - 1],
        activation,
        init: Init::Default,
    }
}

/// `n` rows of `d` standard-ish features and labels in `0..classes`.
fn data(n: usize, d: usize, classes: usize, seed: u64) -> (Vec<f32>, Vec<u32>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..n * d).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    let y = (0..n)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    (x, y)
}

fn vars(m: &Mlp) -> Vec<Var> {
    m.named_vars().into_iter().map(|(_, v)| v).collect()
}

/// The MLP of `spec` from `seed`, its Adam optimiser, and a fused trainer for batches of up to
/// `batch` rows loaded from both.
fn fused_adam(spec: &MlpSpec, seed: u64, batch: usize) -> Result<(Mlp, Optimizer, FusedMlp)> {
    let m = Mlp::new(spec, seed, &Device::Cpu)?;
    let opt = Optimizer::new(ADAM, vars(&m))?;
    let mut f = FusedMlp::new(spec, &ADAM, batch)?;
    f.load(&vars(&m), &opt)?;
    Ok((m, opt, f))
}

fn values(v: &Var) -> Result<Vec<f32>> {
    Ok(v.as_tensor().flatten_all()?.to_vec1()?)
}

/// Candle's loss, gradients and correct count for rows `idx`.
fn candle_grads(
    m: &Mlp,
    x: &[f32],
    y: &[u32],
    d: usize,
    idx: &[u32],
) -> Result<(f64, Vec<Vec<f32>>)> {
    let xs: Vec<f32> = idx
        .iter()
        .flat_map(|&i| x[i as usize * d..(i as usize + 1) * d].to_vec())
        .collect();
    let ys: Vec<u32> = idx.iter().map(|&i| y[i as usize]).collect();
    let xt = Tensor::from_vec(xs, (idx.len(), d), &Device::Cpu)?;
    let yt = Tensor::from_vec(ys, idx.len(), &Device::Cpu)?;
    let loss = candle_nn::loss::cross_entropy(&m.forward(&xt, None)?, &yt)?;
    let g = loss.backward()?;
    let mut out = Vec::new();
    for v in vars(m) {
        let gv = g
            .get(v.as_tensor())
            .map(|t| t.flatten_all()?.to_vec1::<f32>());
        out.push(gv.transpose()?.unwrap_or_default());
    }
    Ok((loss.to_scalar::<f32>()? as f64, out))
}

fn max_rel_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    let scale = b
        .iter()
        .flatten()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(1e-6);
    a.iter()
        .flatten()
        .zip(b.iter().flatten())
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

#[test]
fn gradients_and_loss_match_candle_autograd() -> Result<()> {
    for act in [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Linear,
    ] {
        // Every layer on the fused loops, then every layer on gemm.
        for (widths, gemm_min) in [
            (&[12, 10, 7, 5, 4, 3, 2][..], usize::MAX),
            (&[13, 33, 17, 3], usize::MAX),
            (&[6, 3], usize::MAX),
            (&[12, 10, 7, 5, 4, 3, 2][..], 0),
            (&[13, 33, 17, 3], 0),
        ] {
            let s = spec(widths, act);
            let (m, _, mut f) = fused_adam(&s, 7, 64)?;
            f.net.gemm_min = gemm_min;
            let (x, y) = data(100, widths[0], *widths.last().unwrap_or(&2), 3);
            // 37 rows: not a multiple of the 16 partial sums.
            let idx: Vec<u32> = (0..37).map(|i| (i * 7 % 100) as u32).collect();
            let (want_loss, want) = candle_grads(&m, &x, &y, widths[0], &idx)?;
            let got = f.step(&x, &y, &idx)?;
            let diff = max_rel_diff(f.grads(), &want);
            assert!(
                diff < 2e-6,
                "{act:?} {widths:?}: gradients differ by {diff}"
            );
            assert!(
                (got.loss - want_loss).abs() < 1e-6 * want_loss.max(1.0),
                "{act:?}: loss {} vs candle {want_loss}",
                got.loss
            );
        }
    }
    Ok(())
}

#[test]
fn evaluation_matches_candle() -> Result<()> {
    let s = spec(&[12, 10, 7, 5, 4, 3, 2], Activation::Tanh);
    let (m, _, mut f) = fused_adam(&s, 1, 50)?;
    let (x, y) = data(123, 12, 2, 9);
    let (loss, correct) = f.evaluate(&x, &y)?;
    let xt = Tensor::from_slice(&x, (123, 12), &Device::Cpu)?;
    let logits = m.forward(&xt, None)?;
    let yt = Tensor::from_slice(&y, 123, &Device::Cpu)?;
    let want = candle_nn::loss::cross_entropy(&logits, &yt)?.to_scalar::<f32>()? as f64;
    assert!(
        (loss / 123.0 - want).abs() < 1e-6,
        "{} vs {want}",
        loss / 123.0
    );
    let pred: Vec<u32> = logits.argmax(1)?.to_vec1()?;
    let want_correct = pred.iter().zip(&y).filter(|(p, l)| p == l).count();
    assert_eq!(correct, want_correct);
    Ok(())
}

#[test]
fn optimiser_updates_are_candles_bit_for_bit() -> Result<()> {
    let sgd = OptimSpec::Sgd {
        lr: 0.05,
        momentum: 0.9,
    };
    let plain = OptimSpec::Sgd {
        lr: 0.05,
        momentum: 0.0,
    };
    for optim in [ADAM, sgd, plain] {
        let s = spec(&[12, 10, 7, 5, 4, 3, 2], Activation::Tanh);
        let m = Mlp::new(&s, 5, &Device::Cpu)?;
        let mut opt = Optimizer::new(optim.clone(), vars(&m))?;
        let mut theta: Vec<Vec<f32>> = vars(&m).iter().map(values).collect::<Result<_>>()?;
        let mut moments = vec![Moments::default(); theta.len()];
        let (x, y) = data(64, 12, 2, 4);
        let idx: Vec<u32> = (0..64).collect();
        for t in 1..=4 {
            // The same gradients (candle's) go to both updates.
            let (_, g) = candle_grads(&m, &x, &y, 12, &idx)?;
            let xt = Tensor::from_slice(&x, (64, 12), &Device::Cpu)?;
            let yt = Tensor::from_slice(&y, 64, &Device::Cpu)?;
            let loss = candle_nn::loss::cross_entropy(&m.forward(&xt, None)?, &yt)?;
            opt.step(&loss.backward()?)?;
            for ((p, gv), ms) in theta.iter_mut().zip(&g).zip(&mut moments) {
                update::apply(&optim, t, p, gv, ms);
            }
            for (p, v) in theta.iter().zip(vars(&m)) {
                assert_eq!(p, &values(&v)?, "{optim:?} step {t}");
            }
        }
    }
    Ok(())
}

/// Trains `steps` batches of the 12-bit-sized net from seed 11 and returns the parameters.
fn train(isa: Isa, steps: usize) -> Result<Vec<Vec<f32>>> {
    let s = spec(&[12, 10, 7, 5, 4, 3, 2], Activation::Tanh);
    let (_, _, mut f) = fused_adam(&s, 11, 512)?;
    f.isa = isa;
    let (x, y) = data(1000, 12, 2, 2);
    let idx: Vec<u32> = (0..1000).collect();
    for k in 0..steps {
        let start = (k * 300) % 500;
        f.step(&x, &y, &idx[start..start + 500])?;
    }
    Ok(f.params)
}

#[test]
fn every_instruction_set_gives_identical_parameters() -> Result<()> {
    let isas = probe_simd::supported_isas();
    let want = train(isas[0], 30)?;
    for &isa in &isas[1..] {
        assert_eq!(train(isa, 30)?, want, "{isa:?} differs from the baseline");
    }
    Ok(())
}

#[test]
fn training_tracks_the_candle_path() -> Result<()> {
    let s = spec(&[12, 10, 7, 5, 4, 3, 2], Activation::Tanh);
    let m = Mlp::new(&s, 3, &Device::Cpu)?;
    let twin = Mlp::new(&s, 3, &Device::Cpu)?;
    let mut opt = Optimizer::new(ADAM, vars(&m))?;
    let twin_opt = Optimizer::new(ADAM, vars(&twin))?;
    let mut f = FusedMlp::new(&s, &ADAM, 256)?;
    f.load(&vars(&twin), &twin_opt)?;
    let (x, y) = data(512, 12, 2, 6);
    let idx: Vec<u32> = (0..512).collect();
    for k in 0..40 {
        let b = &idx[(k % 2) * 256..(k % 2 + 1) * 256];
        let xs: Vec<f32> = b
            .iter()
            .flat_map(|&i| x[i as usize * 12..][..12].to_vec())
            .collect();
        let ys: Vec<u32> = b.iter().map(|&i| y[i as usize]).collect();
        let xt = Tensor::from_vec(xs, (256, 12), &Device::Cpu)?;
        let yt = Tensor::from_vec(ys, 256, &Device::Cpu)?;
        let loss = candle_nn::loss::cross_entropy(&m.forward(&xt, None)?, &yt)?;
        opt.step(&loss.backward()?)?;
        f.step(&x, &y, b)?;
    }
    let want: Vec<Vec<f32>> = vars(&m).iter().map(values).collect::<Result<_>>()?;
    // 40 Adam steps of lr 0.01 move weights by up to 0.4; rounding differences stay far smaller.
    let diff = f
        .params
        .iter()
        .flatten()
        .zip(want.iter().flatten())
        .fold(0f32, |mx, (a, b)| mx.max((a - b).abs()));
    assert!(diff < 1e-4, "fused and candle parameters differ by {diff}");
    // And back into the model: the stored state is the fused one.
    let mut opt2 = Optimizer::new(ADAM, vars(&twin))?;
    f.store(&vars(&twin), &mut opt2)?;
    assert_eq!(opt2.steps(), 40);
    let stored: Vec<Vec<f32>> = vars(&twin).iter().map(values).collect::<Result<_>>()?;
    assert_eq!(stored, f.params);
    Ok(())
}

#[test]
fn load_after_store_continues_identically() -> Result<()> {
    let s = spec(&[12, 10, 7, 5, 4, 3, 2], Activation::Relu);
    let (x, y) = data(300, 12, 2, 8);
    let idx: Vec<u32> = (0..300).collect();
    let (m, mut opt, mut a) = fused_adam(&s, 4, 100)?;
    let mut b = a.clone();
    for k in 0..6 {
        a.step(&x, &y, &idx[(k % 3) * 100..][..100])?;
    }
    for k in 0..3 {
        b.step(&x, &y, &idx[k * 100..][..100])?;
    }
    // Through the model and optimiser and back, as between epochs.
    b.store(&vars(&m), &mut opt)?;
    let mut c = FusedMlp::new(&s, &ADAM, 100)?;
    c.load(&vars(&m), &opt)?;
    for k in 0..3 {
        c.step(&x, &y, &idx[k * 100..][..100])?;
    }
    assert_eq!(a.params, c.params);
    Ok(())
}

#[test]
fn bad_batches_are_errors() -> Result<()> {
    let s = spec(&[3, 4, 2], Activation::Tanh);
    let (_, _, mut f) = fused_adam(&s, 1, 4)?;
    let x = vec![0.5f32; 15];
    let ok = [0u32, 1, 0, 1, 1];
    let msg = |r: Result<super::StepResult>| r.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(msg(f.step(&x, &ok, &[0, 9])).contains("row 9"));
    assert!(msg(f.step(&x, &[0, 5, 0, 0, 0], &[1])).contains("label 5"));
    assert!(msg(f.step(&x, &ok, &[0, 1, 2, 3, 4])).contains("1 to 4"));
    assert!(msg(f.step(&x[..14], &ok, &[0])).contains("14 features"));
    let gelu = spec(&[3, 4, 2], Activation::Gelu);
    assert!(FusedMlp::unsupported(&gelu, &Device::Cpu).is_some());
    assert!(FusedMlp::new(&gelu, &ADAM, 4).is_err());
    Ok(())
}

#[test]
fn a_batch_gradient_is_the_mean_of_single_sample_gradients() -> Result<()> {
    // Counting identity: the batch loss is the mean of per-sample losses, so its gradient is the
    // mean of the per-sample gradients.
    let s = spec(&[5, 6, 3], Activation::Sigmoid);
    let (_, _, f) = fused_adam(&s, 2, 8)?;
    let (x, y) = data(8, 5, 3, 1);
    let net = super::kernels::Net {
        widths: vec![5, 6, 3],
        act: super::kernels::Act::Sigmoid,
        gemm_min: usize::MAX,
    };
    let mut bufs = Buffers::new(&net, 8);
    let mut whole = f.grads.clone();
    let idx: Vec<u32> = (0..8).collect();
    let isa = probe_simd::isa();
    kernels::batch_grads(
        isa,
        &net,
        &f.params,
        &mut bufs,
        &mut whole,
        Batch {
            x: &x,
            y: &y,
            idx: &idx,
        },
    );
    let mut mean: Vec<Vec<f64>> = whole.iter().map(|g| vec![0.0; g.len()]).collect();
    let mut one = f.grads.clone();
    for i in 0..8u32 {
        kernels::batch_grads(
            isa,
            &net,
            &f.params,
            &mut bufs,
            &mut one,
            Batch {
                x: &x,
                y: &y,
                idx: &[i],
            },
        );
        for (acc, g) in mean.iter_mut().zip(&one) {
            for (a, v) in acc.iter_mut().zip(g) {
                *a += *v as f64 / 8.0;
            }
        }
    }
    for (w, m) in whole.iter().flatten().zip(mean.iter().flatten()) {
        assert!((*w as f64 - m).abs() < 1e-6, "{w} vs {m}");
    }
    Ok(())
}

#[test]
fn gemm_layers_give_the_same_parameters_on_any_thread_count() -> Result<()> {
    // 40 · 600 = 24 000 multiply-adds per sample: the first two layers take the gemm path.
    let s = spec(&[40, 600, 30, 3], Activation::Relu);
    let (x, y) = data(300, 40, 3, 12);
    let idx: Vec<u32> = (0..300).collect();
    let run = |threads: usize| -> Result<Vec<Vec<f32>>> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| crate::Error::invalid("threads", e.to_string()))?;
        pool.install(|| {
            let (_, _, mut f) = fused_adam(&s, 2, 100)?;
            for k in 0..6 {
                f.step(&x, &y, &idx[(k % 3) * 100..][..100])?;
            }
            Ok(f.params)
        })
    };
    let one = run(1)?;
    assert_eq!(run(2)?, one);
    assert_eq!(run(3)?, one);
    Ok(())
}
