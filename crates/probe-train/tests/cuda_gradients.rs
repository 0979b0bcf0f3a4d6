//! On the GPU (feature `cuda`; these tests fail without a CUDA device, they never pass silently):
//! every MLP parameter receives a gradient, and it equals the CPU's gradient of the same network
//! on the same batch (weights are drawn on the host, so both devices start from the same ones).
//! Guards against ops whose CUDA path drops gradients (candle's fused layer_norm / rms_norm /
//! softmax_last_dim have no backward).
#![cfg(feature = "cuda")]

use candle_core::{DType, Device, Tensor};
use probe_train::model::{Activation, Init, Mlp, MlpSpec, Model};

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
    let loss = candle_nn::loss::cross_entropy(&m.forward(&x, None).unwrap(), &y).unwrap();
    let grads = loss.backward().unwrap();
    m.named_vars()
        .into_iter()
        .map(|(name, v)| {
            let g = grads
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("{act:?} on {dev:?}: no gradient for {name}"));
            let g = g.to_dtype(DType::F32).unwrap().flatten_all().unwrap();
            (name, g.to_vec1::<f32>().unwrap())
        })
        .collect()
}

#[test]
fn every_mlp_parameter_gets_the_cpu_gradient_on_the_gpu() {
    let dev = gpu();
    for act in [
        Activation::Tanh,
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Gelu,
        Activation::Linear,
    ] {
        let on_gpu = gradients(act, &dev);
        let on_cpu = gradients(act, &Device::Cpu);
        assert_eq!(on_gpu.len(), on_cpu.len());
        for ((name, g), (_, c)) in on_gpu.iter().zip(&on_cpu) {
            let norm = g.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
            assert!(norm > 0.0, "{act:?}: zero gradient for {name} on the GPU");
            // f32 sums in another order: agree to a few ulps of the gradient's scale.
            let scale = c.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            let worst = g
                .iter()
                .zip(c)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-4 * scale,
                "{act:?}: {name} differs from the CPU gradient by {worst:e} (scale {scale:e})"
            );
        }
    }
}
