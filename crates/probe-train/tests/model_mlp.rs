//! The MLP: hook points and their shapes, initialisation statistics, and that every parameter
//! receives a gradient.

use candle_core::{Device, Tensor};
use probe_capture::{ActivationCache, NameFilter};
use probe_train::model::{Activation, Init, Mlp, MlpSpec, Model};

mod common;

fn spec(init: Init, activation: Activation) -> MlpSpec {
    MlpSpec {
        input_dim: 12,
        hidden: vec![10, 7, 5, 4, 3],
        classes: 2,
        activation,
        init,
    }
}

#[test]
fn hook_points_have_the_documented_names_and_shapes() {
    let m = Mlp::new(
        &spec(Init::TruncatedNormal, Activation::Tanh),
        0,
        &Device::Cpu,
    )
    .unwrap();
    let names = m.hook_names();
    assert_eq!(names.len(), 12);
    assert_eq!(names[0], "layers.0.hook_pre");
    assert_eq!(names[11], "layers.5.hook_post");
    let x = Tensor::rand(0f32, 1., (9, 12), &Device::Cpu).unwrap();
    let mut cache = ActivationCache::new(NameFilter::all());
    let logits = m.forward(&x, Some(&mut cache)).unwrap();
    assert_eq!(logits.dims(), &[9, 2]);
    for (i, w) in [10, 7, 5, 4, 3, 2].into_iter().enumerate() {
        for kind in ["hook_pre", "hook_post"] {
            let t = cache.take(&format!("layers.{i}.{kind}")).unwrap().unwrap();
            assert_eq!(t.dims(), &[9, w], "layers.{i}.{kind}");
        }
    }
    // hook_post of a hidden layer is tanh(hook_pre); the output's hook_post is softmax(logits).
    let mut cache = ActivationCache::new(NameFilter::all());
    m.forward(&x, Some(&mut cache)).unwrap();
    let pre = cache.take("layers.0.hook_pre").unwrap().unwrap();
    let post = cache.take("layers.0.hook_post").unwrap().unwrap();
    let diff = (pre.tanh().unwrap() - post)
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap();
    assert!(diff.to_scalar::<f32>().unwrap() < 1e-6);
    let probs = cache.take("layers.5.hook_post").unwrap().unwrap();
    let sums = probs.sum(1).unwrap().to_vec1::<f32>().unwrap();
    assert!(sums.iter().all(|s| (s - 1.0).abs() < 1e-5), "{sums:?}");
}

#[test]
fn initialisations_have_their_stated_statistics() {
    let wide = |init| MlpSpec {
        input_dim: 400,
        hidden: vec![300],
        classes: 10,
        activation: Activation::Relu,
        init,
    };
    // The first layer's weight and bias, flattened.
    let first_layer = |init| {
        let vars = Mlp::new(&wide(init), 1, &Device::Cpu).unwrap().named_vars();
        let w: Vec<f32> = vars[0]
            .1
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let b: Vec<f32> = vars[1].1.as_tensor().to_vec1().unwrap();
        (w, b)
    };
    let (w, b) = first_layer(Init::TruncatedNormal);
    let sigma = 1.0 / 20.0; // 1/√400
    assert!(b.iter().all(|&v| v == 0.0));
    assert!(w.iter().all(|&v| v.abs() <= 2.0 * sigma as f32 + 1e-7));
    // A normal truncated at ±2σ has standard deviation ≈ 0.8796σ.
    let sd = (w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64).sqrt();
    assert!((sd / sigma - 0.8796).abs() < 0.01, "{}", sd / sigma);

    let (w, b) = first_layer(Init::Default);
    // Uniform in ±1/√fan_in: max close to the bound, variance bound²/3.
    assert!(w.iter().chain(&b).all(|&v| v.abs() <= sigma as f32));
    let var = w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64;
    assert!((var / (sigma * sigma / 3.0) - 1.0).abs() < 0.02, "{var}");
    assert!(b.iter().any(|&v| v != 0.0));
}

#[test]
fn every_parameter_gets_the_gradient_finite_differences_confirm() {
    for act in Activation::ALL {
        let m = Mlp::new(&spec(Init::Default, act), 3, &Device::Cpu).unwrap();
        let x = common::inputs(16, 12, -3.0, 3.0);
        let y = Tensor::new(
            &[0u32, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 0, 1, 0],
            &Device::Cpu,
        )
        .unwrap();
        common::check_gradients(&format!("{act:?}"), &m, &x, &y);
    }
}

#[test]
fn invalid_shapes_are_errors() {
    let mut s = spec(Init::Default, Activation::Tanh);
    s.hidden[2] = 0;
    assert!(Mlp::new(&s, 0, &Device::Cpu)
        .unwrap_err()
        .to_string()
        .contains("model.hidden"));
    let mut s = spec(Init::Default, Activation::Tanh);
    s.classes = 1;
    assert!(Mlp::new(&s, 0, &Device::Cpu).is_err());
}
