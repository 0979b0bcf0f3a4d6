//! Training and evaluation modes (dropout, batch norm), the trainer switching them, batch-norm
//! state in checkpoints, initialisation, and invalid architectures.

use std::sync::{Arc, Mutex};

use candle_core::{Device, Tensor};
use probe_train::checkpoint;
use probe_train::data::Dataset;
use probe_train::model::layers::dropout::Dropout;
use probe_train::model::{Cnn, CnnSpec, Model, Pooling, Tokens, Transformer, TransformerSpec};
use probe_train::optim::{OptimSpec, Optimizer};
use probe_train::rng::{self, Stream};
use probe_train::trainer::{evaluate, DeviceData, Trainer};

mod common;
use common::specs::{cnn, conv, transformer};

fn spec(batch_norm: bool, dropout: f64) -> CnnSpec {
    CnnSpec {
        batch_norm,
        dropout,
        ..cnn((1, 8, 8), vec![conv(3, 3, 1, 1, 2)], vec![16], 4)
    }
}

fn x() -> Tensor {
    Tensor::rand(0f32, 1., (6, 64), &Device::Cpu).unwrap()
}

fn same(a: &Tensor, b: &Tensor) -> bool {
    a.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        == b.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

#[test]
fn dropout_is_active_only_in_training_mode() {
    let m = Cnn::new(&spec(false, 0.5), 0, &Device::Cpu).unwrap();
    let plain = Cnn::new(&spec(false, 0.0), 0, &Device::Cpu).unwrap();
    let x = x();
    let a = m.forward(&x, None).unwrap(); // models start in training mode, as in PyTorch
    let b = m.forward(&x, None).unwrap();
    assert!(
        !same(&a, &b),
        "two training passes should draw different masks"
    );
    m.set_training(false);
    let e1 = m.forward(&x, None).unwrap();
    let e2 = m.forward(&x, None).unwrap();
    assert!(same(&e1, &e2));
    // Dropout draws from its own stream: the weights equal those of the model without dropout,
    // and evaluation is the identity.
    plain.set_training(false);
    assert!(same(&e1, &plain.forward(&x, None).unwrap()));
}

#[test]
fn dropout_keeps_the_expected_fraction_and_scales_the_rest() {
    let stream = || Arc::new(Mutex::new(rng::stream(4, Stream::Dropout)));
    let d = Dropout::new(0.25, stream()).unwrap();
    let ones = Tensor::ones(40_000, candle_core::DType::F32, &Device::Cpu).unwrap();
    let v: Vec<f32> = d.forward(&ones, true).unwrap().to_vec1().unwrap();
    let kept = v.iter().filter(|&&x| x != 0.0).count() as f64 / v.len() as f64;
    // Binomial(40000, 0.75): σ of the fraction ≈ 0.0022, so 0.01 is 4.6σ.
    assert!((kept - 0.75).abs() < 0.01, "{kept}");
    assert!(v.iter().all(|&x| x == 0.0 || (x - 1.0 / 0.75).abs() < 1e-6));
    assert!(Dropout::new(1.0, stream()).is_err());
}

#[test]
fn batch_norm_updates_running_statistics_only_in_training() {
    let m = Cnn::new(&spec(true, 0.0), 0, &Device::Cpu).unwrap();
    let bufs = m.named_buffers();
    let names: Vec<&str> = bufs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["bns.0.running_mean", "bns.0.running_var"]);
    let rm = || bufs[0].1.as_tensor().to_vec1::<f32>().unwrap();
    assert_eq!(rm(), vec![0.0; 3]);
    let x = x();
    m.forward(&x, None).unwrap();
    let after_train = rm();
    assert!(after_train.iter().any(|&v| v != 0.0));
    m.set_training(false);
    m.forward(&x, None).unwrap();
    assert_eq!(
        rm(),
        after_train,
        "evaluation must not move the running statistics"
    );
}

#[test]
fn the_trainer_trains_in_training_mode_and_leaves_the_model_in_evaluation_mode() {
    let m = Cnn::new(&spec(true, 0.0), 0, &Device::Cpu).unwrap();
    let mut r = rng::stream(9, Stream::Init);
    let n = 40;
    let ds = Dataset {
        name: "random".into(),
        x: (0..n * 64)
            .map(|_| rng::uniform(&mut r, 1.0) as f32)
            .collect(),
        y: (0..n as u32).map(|i| i % 4).collect(),
        n,
        d: 64,
        classes: 4,
        image_shape: Some((8, 8)),
    };
    let data = DeviceData::new(&ds, &Device::Cpu).unwrap();
    let vars = m.named_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt = Optimizer::new(
        OptimSpec::Sgd {
            lr: 0.01,
            momentum: 0.0,
        },
        vars,
    )
    .unwrap();
    let mut t = Trainer::new(16, 0).unwrap();
    t.epoch(1, &m, &mut opt, &data).unwrap();
    let (_, rm) = &m.named_buffers()[0];
    let before = rm.as_tensor().to_vec1::<f32>().unwrap();
    assert!(
        before.iter().any(|&v| v != 0.0),
        "training batches update the statistics"
    );
    // Left in evaluation mode: a forward pass (as capture does) leaves the statistics alone,
    // and so does evaluate.
    m.forward(&data.x, None).unwrap();
    evaluate(&m, &data, 7).unwrap();
    assert_eq!(rm.as_tensor().to_vec1::<f32>().unwrap(), before);
}

#[test]
fn checkpoints_hold_batch_norm_statistics() {
    let m = Cnn::new(&spec(true, 0.0), 0, &Device::Cpu).unwrap();
    let x = x();
    m.forward(&x, None).unwrap(); // move the running statistics
    m.set_training(false);
    let want = m.forward(&x, None).unwrap();
    let path = std::env::temp_dir().join(format!("probe-bn-{}.safetensors", std::process::id()));
    std::fs::write(&path, checkpoint::to_bytes(&m).unwrap()).unwrap();
    let fresh = Cnn::new(&spec(true, 0.0), 5, &Device::Cpu).unwrap();
    checkpoint::load(&fresh, &path, &Device::Cpu).unwrap();
    std::fs::remove_file(&path).unwrap();
    fresh.set_training(false);
    assert!(same(&want, &fresh.forward(&x, None).unwrap()));
}

#[test]
fn convolution_weights_follow_pytorch_default_initialisation() {
    let mut s = spec(false, 0.0);
    s.convs[0].channels = 64;
    s.convs[0].kernel = 5;
    s.convs[0].padding = 2;
    s.image = (4, 8, 8);
    let m = Cnn::new(&s, 3, &Device::Cpu).unwrap();
    let (name, w) = &m.named_vars()[0];
    assert_eq!(name, "convs.0.weight");
    assert_eq!(w.dims(), &[64, 4, 5, 5]);
    let v: Vec<f32> = w.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
    let bound = 1.0 / (4.0f64 * 25.0).sqrt(); // fan_in = C·k·k = 100
    assert!(v.iter().all(|&x| (x as f64).abs() <= bound));
    let var = v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / v.len() as f64;
    assert!((var / (bound * bound / 3.0) - 1.0).abs() < 0.05, "{var}");
    // Same seed, same weights; another seed, others.
    let again = Cnn::new(&s, 3, &Device::Cpu).unwrap();
    assert!(same(w.as_tensor(), again.named_vars()[0].1.as_tensor()));
    let other = Cnn::new(&s, 4, &Device::Cpu).unwrap();
    assert!(!same(w.as_tensor(), other.named_vars()[0].1.as_tensor()));
}

#[test]
fn invalid_architectures_name_their_key() {
    let err = |r: Result<Cnn, probe_train::Error>| r.unwrap_err().to_string();
    let mut s = spec(false, 0.0);
    s.convs[0].kernel = 11;
    s.convs[0].padding = 0;
    assert!(err(Cnn::new(&s, 0, &Device::Cpu)).contains("model.kernel"));
    let mut s = spec(false, 0.0);
    s.convs[0].pool = 9;
    assert!(err(Cnn::new(&s, 0, &Device::Cpu)).contains("model.pool"));
    assert!(err(Cnn::new(&spec(false, 1.5), 0, &Device::Cpu)).contains("model.dropout"));
    let t = transformer(
        (1, 28, 28),
        Tokens::Patch(5),
        [16, 4, 1, 32],
        Pooling::Cls,
        10,
    );
    let e = Transformer::new(&t, 0, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.patch") && e.contains("28×28"), "{e}");
    let t = TransformerSpec {
        tokens: Tokens::Patch(7),
        heads: 5,
        ..t
    };
    let e = Transformer::new(&t, 0, &Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("model.heads"), "{e}");
}

/// Regression: a parameter's gradient is computed from the step's tracked activations, so it
/// carries the backward graph; optimiser buffers built from it kept every step's whole graph
/// alive (≈ 58 MB per step on the Fashion-MNIST CNN: 23 GB and an OOM kill within two epochs).
/// The moment buffers must hold values only.
#[test]
fn optimizer_buffers_do_not_keep_the_graph() {
    let m = Cnn::new(&spec(true, 0.0), 0, &Device::Cpu).unwrap();
    let y = Tensor::new(&[0u32, 1, 2, 3, 0, 1], &Device::Cpu).unwrap();
    let adam = OptimSpec::Adam {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let sgd = OptimSpec::Sgd {
        lr: 1e-2,
        momentum: 0.9,
    };
    for spec in [adam, sgd] {
        let vars = m.named_vars().into_iter().map(|(_, v)| v).collect();
        let mut opt = Optimizer::new(spec.clone(), vars).unwrap();
        let mut tracked = 0;
        for _ in 0..2 {
            let logits = m.forward(&x(), None).unwrap();
            let g = candle_nn::loss::cross_entropy(&logits, &y)
                .unwrap()
                .backward()
                .unwrap();
            // The premise: some raw gradients do carry the graph.
            tracked += m
                .named_vars()
                .iter()
                .filter(|(_, v)| g.get(v.as_tensor()).is_some_and(|t| t.track_op()))
                .count();
            opt.step(&g).unwrap();
        }
        assert!(tracked > 0, "{spec:?}: no gradient carried a graph");
        let state = opt.state();
        assert!(!state.tensors.is_empty());
        for (name, t) in &state.tensors {
            assert!(!t.track_op(), "{spec:?}: buffer {name} keeps the graph");
        }
    }
}
