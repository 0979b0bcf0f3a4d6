//! The CPU ops of `model::layers` split their rows over rayon's pool (`layers::par`); results must
//! not depend on the number of threads. Each op's values and the gradients of `Σ out·R` with
//! respect to every input, and a few training steps of a CNN, a Transformer, a GRU and an LSTM
//! (parameters after the steps), are computed in pools of 1, 2 and 3 threads and must be
//! bit-identical. The shapes are large enough to be split (at least 2 × 8 192 elements per op).
//!
//! Agreement of the ops with the compositions they replace is checked in `model_rowwise.rs`,
//! `model_cells.rs`, `model_pool.rs` and `model_finite_diff.rs`.

mod common;

use candle_core::{DType, Device, Tensor, Var};
use probe_train::data::Dataset;
use probe_train::model::layers::bias_relu::bias_relu_cm;
use probe_train::model::layers::cell::{gru_cell, lstm_cell};
use probe_train::model::layers::conv::conv2d;
use probe_train::model::layers::gelu::gelu_erf;
use probe_train::model::layers::linear::linear;
use probe_train::model::layers::norm::layer_norm;
use probe_train::model::layers::pool::pool2d;
use probe_train::model::layers::relu::relu;
use probe_train::model::layers::rowwise::softmax_last;
use probe_train::model::{CellKind, Cnn, Model, PoolType, Pooling, Rnn, Tokens, Transformer};
use probe_train::optim::{OptimSpec, Optimizer};
use probe_train::rng::{self, Stream};
use probe_train::trainer::{DeviceData, Trainer};

fn var(shape: &[usize], seed: u64) -> Var {
    let mut r = rng::stream(seed, Stream::Init);
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng::uniform(&mut r, 1.0) as f32).collect();
    Var::from_tensor(&Tensor::from_vec(v, shape, &Device::Cpu).unwrap()).unwrap()
}

fn bits(t: &Tensor) -> Vec<u32> {
    let v: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
    v.into_iter().map(f32::to_bits).collect()
}

/// The bits of `f(inputs)` (every output) and of the gradients of `Σ outᵢ·Rᵢ` with respect to
/// every input, computed in a rayon pool of `threads` threads.
fn run(
    threads: usize,
    inputs: &[Var],
    f: &(dyn Fn(&[Tensor]) -> Vec<Tensor> + Sync),
) -> Vec<Vec<u32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let ts: Vec<Tensor> = inputs.iter().map(|v| v.as_tensor().clone()).collect();
        let outs = f(&ts);
        let mut loss = Tensor::zeros((), DType::F32, &Device::Cpu).unwrap();
        for (i, o) in outs.iter().enumerate() {
            let r = var(o.dims(), 900 + i as u64);
            loss = (loss + (o * r.as_tensor()).unwrap().sum_all().unwrap()).unwrap();
        }
        let g = loss.backward().unwrap();
        let mut all: Vec<Vec<u32>> = outs.iter().map(bits).collect();
        for v in inputs {
            all.push(bits(
                g.get(v.as_tensor()).expect("every input has a gradient"),
            ));
        }
        all
    })
}

fn same_at_1_2_3_threads(
    what: &str,
    inputs: &[Var],
    f: &(dyn Fn(&[Tensor]) -> Vec<Tensor> + Sync),
) {
    let one = run(1, inputs, f);
    for threads in [2, 3] {
        assert!(
            run(threads, inputs, f) == one,
            "{what}: {threads} threads differ from 1"
        );
    }
}

#[test]
fn the_cpu_ops_give_the_same_bits_at_1_2_and_3_threads() {
    let x = var(&[300, 130], 1);
    same_at_1_2_3_threads("relu", std::slice::from_ref(&x), &|t| {
        vec![relu(&t[0]).unwrap()]
    });
    same_at_1_2_3_threads("softmax", std::slice::from_ref(&x), &|t| {
        vec![softmax_last(&t[0]).unwrap()]
    });
    same_at_1_2_3_threads("gelu", std::slice::from_ref(&x), &|t| {
        vec![gelu_erf(&t[0]).unwrap()]
    });
    let (g, b) = (var(&[130], 2), var(&[130], 3));
    same_at_1_2_3_threads("layer norm", &[x.clone(), g, b], &|t| {
        vec![layer_norm(&t[0], &t[1], &t[2], 1e-5).unwrap()]
    });
    let (w, bias) = (var(&[70, 130], 4), var(&[70], 5));
    same_at_1_2_3_threads("linear + bias", &[x, w, bias], &|t| {
        vec![linear(&t[0], &t[1], Some(&t[2])).unwrap()]
    });
    let (gx, gh, h) = (var(&[200, 192], 6), var(&[200, 192], 7), var(&[200, 64], 8));
    same_at_1_2_3_threads("gru cell", &[gx, gh, h], &|t| {
        vec![gru_cell(&t[0], &t[1], &t[2]).unwrap()]
    });
    let (gates, c) = (var(&[200, 256], 9), var(&[200, 64], 10));
    same_at_1_2_3_threads("lstm cell", &[gates, c], &|t| {
        let (h, c) = lstm_cell(&t[0], &t[1]).unwrap();
        vec![h, c]
    });
    let (img, w) = (var(&[40, 3, 16, 16], 11), var(&[8, 3, 3, 3], 12));
    same_at_1_2_3_threads("conv + max pool", &[img.clone(), w], &|t| {
        vec![pool2d(&conv2d(&t[0], &t[1], 1, 1).unwrap(), 2, PoolType::Max).unwrap()]
    });
    let (y, b) = (var(&[16, 8, 14, 14], 13), var(&[16], 14));
    same_at_1_2_3_threads("bias + relu", &[y, b], &|t| {
        vec![bias_relu_cm(&t[0], &t[1]).unwrap()]
    });
    same_at_1_2_3_threads("avg pool", &[img], &|t| {
        vec![pool2d(&t[0], 2, PoolType::Avg).unwrap()]
    });
}

/// Parameters (bits) after 3 Adam steps of batch 64 on random 28×28 images, in a pool of
/// `threads` threads.
fn train(threads: usize, make: &(dyn Fn() -> Box<dyn Model> + Sync)) -> Vec<Vec<u32>> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    pool.install(|| {
        let m = make();
        let n = 192;
        let mut r = rng::stream(77, Stream::Init);
        let ds = Dataset {
            name: "random".into(),
            x: (0..n * 784)
                .map(|_| rng::uniform(&mut r, 1.0) as f32)
                .collect(),
            y: (0..n as u32).map(|i| i % 10).collect(),
            n,
            d: 784,
            classes: 10,
            image_shape: Some((28, 28)),
        };
        let data = DeviceData::new(&ds, &Device::Cpu).unwrap();
        let vars: Vec<Var> = m.named_vars().into_iter().map(|(_, v)| v).collect();
        let adam = OptimSpec::Adam {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        let mut opt = Optimizer::new(adam, vars.clone()).unwrap();
        Trainer::new(64, 0)
            .unwrap()
            .epoch(1, &*m, &mut opt, &data)
            .unwrap();
        vars.iter().map(|v| bits(v.as_tensor())).collect()
    })
}

#[test]
fn training_gives_the_same_parameters_at_1_2_and_3_threads() {
    let dev = &Device::Cpu;
    type Make = Box<dyn Fn() -> Box<dyn Model> + Sync>;
    let conv = |c| common::specs::conv(c, 3, 1, 1, 2);
    let models: Vec<(&str, Make)> = vec![
        (
            "cnn",
            Box::new(move || {
                let s = common::specs::cnn((1, 28, 28), vec![conv(8), conv(16)], vec![32], 10);
                Box::new(Cnn::new(&s, 0, dev).unwrap())
            }),
        ),
        (
            "transformer",
            Box::new(move || {
                let s = common::specs::transformer(
                    (1, 28, 28),
                    Tokens::Patch(7),
                    [32, 4, 1, 64],
                    Pooling::Cls,
                    10,
                );
                Box::new(Transformer::new(&s, 0, dev).unwrap())
            }),
        ),
        (
            "gru",
            Box::new(move || {
                let s = common::specs::rnn((1, 28, 28), CellKind::Gru, 64, 1, 10);
                Box::new(Rnn::new(&s, 0, dev).unwrap())
            }),
        ),
        (
            "lstm",
            Box::new(move || {
                let s = common::specs::rnn((1, 28, 28), CellKind::Lstm, 64, 1, 10);
                Box::new(Rnn::new(&s, 0, dev).unwrap())
            }),
        ),
    ];
    for (name, make) in &models {
        let one = train(1, make.as_ref());
        for threads in [2, 3] {
            assert!(
                train(threads, make.as_ref()) == one,
                "{name}: {threads} threads differ from 1"
            );
        }
    }
}
