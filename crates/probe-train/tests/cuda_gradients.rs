//! On the GPU (feature `cuda`; these tests fail without a CUDA device, they never pass silently):
//! every parameter of the MLP, the CNN, the Transformer and the LSTM receives a gradient, and it
//! equals the CPU's gradient of the same network on the same batch (weights are drawn on the host,
//! so both devices start from the same ones).
//! Guards against ops whose CUDA path drops gradients (candle's fused layer_norm / rms_norm /
//! softmax_last_dim have no backward).
#![cfg(feature = "cuda")]

use candle_core::{DType, Device, Tensor};
use probe_train::model::{
    Activation, CellKind, Cnn, CnnSpec, Init, Mlp, MlpSpec, Model, Pooling, Rnn, Tokens,
    Transformer,
};

mod common;
use common::specs::{self, conv};

fn gpu() -> Device {
    Device::new_cuda(0)
        .unwrap_or_else(|e| panic!("this test needs a GPU; Device::new_cuda(0) failed: {e}"))
}

/// Gradients of the mean cross-entropy of the MLP on a fixed batch, by parameter name.
fn gradients(act: Activation, dev: &Device) -> Vec<(String, Vec<f32>)> {
    let spec = MlpSpec {
        input_dim: 12,
        hidden: vec![10, 7, 5, 4, 3],
        classes: 2,
        activation: act,
        init: Init::Default,
    };
    let m = Mlp::new(&spec, 3, dev).unwrap();
    let x: Vec<f32> = (0..16 * 12)
        .map(|i| ((i * 37 % 23) as f32 / 11.0) - 1.0)
        .collect();
    let x = Tensor::from_vec(x, (16, 12), dev).unwrap();
    let y = Tensor::new(&[0u32, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0], dev).unwrap();
    ce_gradients(&m, &x, &y, &format!("{act:?} on {dev:?}"))
}

/// Gradients of the mean cross-entropy of `m` on `(x, y)`, by parameter name, as host `f32`;
/// `what` names the case in a panic.
fn ce_gradients(m: &dyn Model, x: &Tensor, y: &Tensor, what: &str) -> Vec<(String, Vec<f32>)> {
    let loss = candle_nn::loss::cross_entropy(&m.forward(x, None).unwrap(), y).unwrap();
    let grads = loss.backward().unwrap();
    m.named_vars()
        .into_iter()
        .map(|(name, v)| {
            let g = grads
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("{what}: no gradient for {name}"));
            let g = g.to_dtype(DType::F32).unwrap().flatten_all().unwrap();
            (name, g.to_vec1::<f32>().unwrap())
        })
        .collect()
}

#[test]
fn every_mlp_parameter_gets_the_cpu_gradient_on_the_gpu() {
    let dev = gpu();
    for act in Activation::ALL {
        let on_gpu = gradients(act, &dev);
        let on_cpu = gradients(act, &Device::Cpu);
        assert_gpu_matches_cpu(&on_gpu, &on_cpu, &format!("{act:?}"));
    }
}

/// Asserts that every GPU gradient is non-zero and equal to the CPU's: f32 sums in another
/// order agree to a few ulps of the gradient's scale (its largest magnitude).
fn assert_gpu_matches_cpu(
    on_gpu: &[(String, Vec<f32>)],
    on_cpu: &[(String, Vec<f32>)],
    what: &str,
) {
    assert_eq!(on_gpu.len(), on_cpu.len());
    for ((name, g), (_, c)) in on_gpu.iter().zip(on_cpu) {
        let norm = g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        assert!(norm > 0.0, "{what}: zero gradient for {name} on the GPU");
        let scale = c.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let worst = g
            .iter()
            .zip(c)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(
            worst <= 1e-4 * scale,
            "{what}: {name} differs from the CPU gradient by {worst:e} (scale {scale:e})"
        );
    }
}

/// Gradients of the mean cross-entropy of `m` on a fixed batch of `d` features and 3 classes.
fn model_gradients(m: &dyn Model, d: usize, dev: &Device) -> Vec<(String, Vec<f32>)> {
    m.set_training(true);
    let x: Vec<f32> = (0..6 * d).map(|i| (i * 37 % 23) as f32 / 23.0).collect();
    let x = Tensor::from_vec(x, (6, d), dev).unwrap();
    let y = Tensor::new(&[0u32, 1, 2, 2, 1, 0], dev).unwrap();
    ce_gradients(m, &x, &y, &format!("{dev:?}"))
}

/// The CNN (candle's conv2d and pooling on the GPU, probe's im2col on the CPU, batch norm),
/// the Transformer (probe's own softmax and layer norm) and the LSTM: every parameter gets a
/// non-zero gradient on the GPU, equal to the CPU's up to f32 summation order.
#[test]
fn image_models_get_the_cpu_gradients_on_the_gpu() {
    let dev = gpu();
    let cnn = |dev: &Device| -> Box<dyn Model> {
        let convs = vec![conv(4, 3, 1, 1, 2), conv(6, 3, 1, 1, 2)];
        let spec = CnnSpec {
            batch_norm: true,
            ..specs::cnn((1, 8, 8), convs, vec![7], 3)
        };
        Box::new(Cnn::new(&spec, 1, dev).unwrap())
    };
    let vit = |dev: &Device| -> Box<dyn Model> {
        let spec = specs::transformer((1, 8, 8), Tokens::Patch(4), [8, 2, 2, 16], Pooling::Cls, 3);
        Box::new(Transformer::new(&spec, 2, dev).unwrap())
    };
    let lstm = |dev: &Device| -> Box<dyn Model> {
        Box::new(Rnn::new(&specs::rnn((1, 8, 8), CellKind::Lstm, 6, 2, 3), 3, dev).unwrap())
    };
    type Build = fn(&Device) -> Box<dyn Model>;
    for (what, build) in [("cnn", cnn as Build), ("vit", vit), ("lstm", lstm)] {
        let on_gpu = model_gradients(&*build(&dev), 64, &dev);
        let on_cpu = model_gradients(&*build(&Device::Cpu), 64, &Device::Cpu);
        assert_gpu_matches_cpu(&on_gpu, &on_cpu, what);
    }
}
