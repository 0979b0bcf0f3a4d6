//! The binned estimators and per-neuron histograms on every device: one test body per estimator,
//! run on the CPU and, with the `cuda` feature, on the first CUDA device (those instances fail when
//! there is no GPU; they never pass silently). Each compares the device's counts exactly with a
//! naive reference computed here from `Binner::bin` (rows grouped in a `HashMap`), and the device's
//! `binned_mi_tensor` bit for bit with the CPU `binned_mi`, on random data, adversarial data (all
//! rows equal, all distinct, values on and next to every edge, NaN, ±inf, huge values) and the
//! activations of a trained network.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor, Var};
use probe_estimators::{
    binned_counts_tensor, binned_mi, binned_mi_tensor, exact_symbols, neuron_histograms_tensor,
    BinnedCounts, Binning, NeuronHistograms, TermRun,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `name_cpu` on the CPU and, with `--features cuda`, `name_cuda` on GPU 0, in modules `cpu`/`cuda`.
macro_rules! on_devices {
    ($($name:ident),* $(,)?) => {
        mod cpu {
            $( #[test] fn $name() { super::$name(&candle_core::Device::Cpu); } )*
        }
        #[cfg(feature = "cuda")]
        mod cuda {
            $( #[test] fn $name() { super::$name(&super::gpu()); } )*
        }
    };
}

on_devices!(
    binned_fixed,
    binned_floor,
    binned_adaptive,
    half_and_double_inputs,
    trained_network_activations,
    histograms_per_neuron,
    bad_input_is_an_error,
);

/// GPU 0 with one stream for every thread (`probe_estimators::cuda::open_device`).
#[cfg(feature = "cuda")]
fn gpu() -> Device {
    probe_estimators::cuda::open_device(0).unwrap_or_else(|e| {
        panic!("the CUDA instances of these tests need a GPU; open_device(0) failed: {e}")
    })
}

/// One data set: `[n, d]` activations, input symbols and labels.
struct Case {
    name: &'static str,
    acts: Vec<f32>,
    n: usize,
    d: usize,
    x: Vec<u32>,
    y: Vec<u32>,
}

fn case(name: &'static str, acts: Vec<f32>, d: usize, x: Vec<u32>, y: Vec<u32>) -> Case {
    let n = acts.len() / d;
    Case {
        name,
        acts,
        n,
        d,
        x,
        y,
    }
}

/// Random, coarse, wide-with-repeats, all equal, all distinct, and adversarial values.
fn cases() -> Vec<Case> {
    let mut r = ChaCha8Rng::seed_from_u64(11);
    let mut uniform =
        |len: usize, a: f32| -> Vec<f32> { (0..len).map(|_| r.random_range(-a..a)).collect() };
    let distinct = |n: usize| (0..n as u32).collect::<Vec<u32>>();
    let classes = |n: usize, k: u32| (0..n as u32).map(|i| (i * 7919) % k * 1_000_003).collect();
    let mut out = vec![case(
        "random",
        uniform(3000 * 12, 1.3),
        12,
        distinct(3000),
        classes(3000, 2),
    )];
    let coarse: Vec<f32> = uniform(3000 * 4, 2.5)
        .iter()
        .map(|v| (v * 2.0).round() * 0.4)
        .collect();
    let groups = (0..3000u32)
        .map(|i| if i % 7 == 0 { i } else { i / 5 })
        .collect();
    out.push(case(
        "coarse, repeated inputs",
        coarse,
        4,
        groups,
        classes(3000, 10),
    ));
    let mut wide = uniform(400 * 300, 1.0);
    wide.copy_within(0..200 * 300, 200 * 300);
    out.push(case(
        "wide, half repeated",
        wide,
        300,
        distinct(400),
        classes(400, 3),
    ));
    out.push(case(
        "all equal",
        vec![0.3; 1000 * 7],
        7,
        distinct(1000),
        classes(1000, 2),
    ));
    let bits =
        (0..2048u32).flat_map(|i| (0..11).map(move |j| if i >> j & 1 == 1 { 0.9 } else { -0.9 }));
    out.push(case(
        "all distinct",
        bits.collect(),
        11,
        distinct(2048),
        classes(2048, 2),
    ));
    let mut special: Vec<f32> = [
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
    ]
    .into_iter()
    .chain([1.0, -1.0, 3e38, -3e38, 1e-45, 2.5e8, -4.3e9, 1e12, 7e18])
    .collect();
    for e in (0..30)
        .map(|i| -1.0 + i as f64 * (2.0 / 29.0))
        .chain((-40..40).map(|i| i as f64 * 0.07))
    {
        let f = e as f32;
        // f and its neighbours one ulp away (bits ± 1 step away from 0 on both sides).
        let step = |f: f32, up: bool| match (f == 0.0, (f > 0.0) == up) {
            (true, _) => {
                if up {
                    1e-45
                } else {
                    -1e-45
                }
            }
            (false, true) => f32::from_bits(f.to_bits() + 1),
            (false, false) => f32::from_bits(f.to_bits() - 1),
        };
        special.extend([f, step(f, true), step(f, false)]);
    }
    let adv: Vec<f32> = (0..2000 * 5)
        .map(|_| special[r.random_range(0..special.len())])
        .collect();
    out.push(case(
        "edges, NaN, inf",
        adv,
        5,
        distinct(2000),
        classes(2000, 3),
    ));
    out
}

/// The naive reference: every row's bins as a `Vec<i64>`, counted in hash maps.
fn naive_counts(acts: &[f32], d: usize, binning: &Binning, x: &[u32], y: &[u32]) -> BinnedCounts {
    let binner = binning.binner_for(acts).unwrap();
    let rows: Vec<Vec<i64>> = acts
        .chunks(d)
        .map(|r| r.iter().map(|&v| binner.bin(v)).collect())
        .collect();
    let n = rows.len() as u64;
    let runs = |labels: Option<&[u32]>| {
        let (mut pairs, mut groups) = (HashMap::new(), HashMap::new());
        for (i, row) in rows.iter().enumerate() {
            let l = labels.map_or(0, |l| l[i]);
            *pairs.entry((row.clone(), l)).or_insert(0u64) += 1;
            *groups.entry(l).or_insert(0u64) += 1;
        }
        let mut terms: HashMap<(u64, u64), u64> = HashMap::new();
        for ((_, l), c) in pairs {
            *terms.entry((c, groups[&l])).or_default() += 1;
        }
        let mut v: Vec<TermRun> = terms
            .into_iter()
            .map(|((count, group), times)| TermRun {
                count,
                group,
                times,
            })
            .collect();
        v.sort_unstable();
        v
    };
    let h_t = runs(None);
    BinnedCounts {
        n,
        distinct: h_t.iter().map(|r| r.times).sum(),
        h_t,
        h_t_given_x: runs(Some(x)),
        h_t_given_y: runs(Some(y)),
    }
}

/// Device counts equal the naive ones, and the device's MI equals the CPU's to the bit.
fn check(dev: &Device, c: &Case, binning: &Binning, t: &Tensor) {
    let host: Vec<f32> = t
        .to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let want = naive_counts(&host, c.d, binning, &c.x, &c.y);
    let got = binned_counts_tensor(t, binning, &c.x, &c.y).unwrap();
    assert_eq!(
        got,
        want,
        "{} under {binning:?} on {dev:?} ({:?})",
        c.name,
        t.dtype()
    );
    let mi = binned_mi_tensor(t, binning, &c.x, &c.y).unwrap();
    let cpu = binned_mi(&host, c.n, c.d, binning, &c.x, &c.y).unwrap();
    assert_eq!(mi, cpu, "{} under {binning:?} on {dev:?}", c.name);
}

fn check_all(dev: &Device, binnings: &[Binning]) {
    for c in cases() {
        let t = Tensor::from_slice(&c.acts, (c.n, c.d), dev).unwrap();
        for b in binnings {
            check(dev, &c, b, &t);
        }
    }
}

fn binned_fixed(dev: &Device) {
    let fixed = |lo, hi, edges| Binning::Fixed { lo, hi, edges };
    check_all(
        dev,
        &[
            fixed(-1.0, 1.0, 30),
            fixed(-0.5, 2.0, 7),
            fixed(-1.0, 1.0, 2),
            fixed(0.1, 0.7, 5000),
        ],
    );
}

fn binned_floor(dev: &Device) {
    check_all(
        dev,
        &[
            Binning::Floor { width: 0.07 },
            Binning::Floor { width: 0.5 },
            Binning::Floor { width: 1e-30 },
        ],
    );
}

fn binned_adaptive(dev: &Device) {
    check_all(
        dev,
        &[
            Binning::Adaptive { bins: 30 },
            Binning::Adaptive { bins: 3 },
        ],
    );
}

fn half_and_double_inputs(dev: &Device) {
    for c in cases()
        .into_iter()
        .filter(|c| c.name != "wide, half repeated")
    {
        let t = Tensor::from_slice(&c.acts, (c.n, c.d), dev).unwrap();
        for dtype in [DType::F16, DType::BF16, DType::F64] {
            let t = t.to_dtype(dtype).unwrap();
            check(dev, &c, &Binning::DEFAULT_FIXED, &t);
            check(dev, &c, &Binning::Floor { width: 0.07 }, &t);
        }
    }
}

/// A 12-16-8-2 tanh network trained on the 12-bit task on `dev` (full-batch gradient descent);
/// returns its two hidden layers' activations on all 4096 inputs, `[4096, 16]` and `[4096, 8]`.
fn trained_layers(dev: &Device) -> (Tensor, Tensor) {
    let x = Tensor::from_vec(common::twelve_bit_inputs(), (4096, 12), dev).unwrap();
    let y = common::twelve_bit_labels();
    let onehot: Vec<f32> = y
        .iter()
        .flat_map(|&l| [(l == 0) as u8 as f32, (l == 1) as u8 as f32])
        .collect();
    let onehot = Tensor::from_vec(onehot, (4096, 2), dev).unwrap();
    let mut r = ChaCha8Rng::seed_from_u64(3);
    let mut param = |rows: usize, cols: usize| {
        let s = 1.0 / (rows as f32).sqrt();
        let v: Vec<f32> = (0..rows * cols).map(|_| r.random_range(-s..s)).collect();
        Var::from_tensor(&Tensor::from_vec(v, (rows, cols), dev).unwrap()).unwrap()
    };
    let params = [
        param(12, 16),
        param(1, 16),
        param(16, 8),
        param(1, 8),
        param(8, 2),
        param(1, 2),
    ];
    // `h · W + b` with the weights `w` and bias `b`.
    let dense = |h: &Tensor, w: &Var, b: &Var| {
        h.matmul(w.as_tensor())
            .unwrap()
            .broadcast_add(b.as_tensor())
            .unwrap()
    };
    let forward = |p: &[Var]| {
        let h1 = dense(&x, &p[0], &p[1]).tanh().unwrap();
        let h2 = dense(&h1, &p[2], &p[3]).tanh().unwrap();
        let logits = dense(&h2, &p[4], &p[5]);
        let lse = logits.exp().unwrap().sum_keepdim(1).unwrap().log().unwrap();
        let logp = logits.broadcast_sub(&lse).unwrap();
        let loss = (logp * &onehot)
            .unwrap()
            .sum_all()
            .unwrap()
            .affine(-1.0 / 4096.0, 0.0)
            .unwrap();
        (h1, h2, loss)
    };
    let first = forward(&params).2.to_scalar::<f32>().unwrap();
    for _ in 0..300 {
        let grads = forward(&params).2.backward().unwrap();
        for p in &params {
            let g = grads
                .get(p.as_tensor())
                .expect("every parameter has a gradient");
            p.set(&(p.as_tensor() - (g * 0.5).unwrap()).unwrap())
                .unwrap();
        }
    }
    let (h1, h2, loss) = forward(&params);
    let last = loss.to_scalar::<f32>().unwrap();
    assert!(
        last < 0.8 * first,
        "training did not train: loss {first} -> {last}"
    );
    (h1, h2)
}

fn trained_network_activations(dev: &Device) {
    let (h1, h2) = trained_layers(dev);
    let x = exact_symbols(&common::twelve_bit_inputs(), 4096, 12)
        .unwrap()
        .ids;
    let y = common::twelve_bit_labels();
    for (name, t) in [("layer 1", h1), ("layer 2", h2)] {
        let c = Case {
            name,
            acts: Vec::new(),
            n: 4096,
            d: t.dim(1).unwrap(),
            x: x.clone(),
            y: y.clone(),
        };
        for b in [
            Binning::DEFAULT_FIXED,
            Binning::Floor { width: 0.07 },
            Binning::Adaptive { bins: 30 },
        ] {
            check(dev, &c, &b, &t);
        }
    }
}

fn naive_histograms(acts: &[f32], d: usize, binning: &Binning) -> NeuronHistograms {
    let binner = binning.binner_for(acts).unwrap();
    let bins = binner.dense_bins().unwrap();
    let mut counts = vec![0u64; d * (bins + 1)];
    for row in acts.chunks(d) {
        for (j, &v) in row.iter().enumerate() {
            let b = binner.bin(v);
            counts[j * (bins + 1) + if b == i64::MIN { bins } else { b as usize }] += 1;
        }
    }
    NeuronHistograms {
        neurons: d,
        bins,
        counts,
    }
}

fn histograms_per_neuron(dev: &Device) {
    // Wide layers and many edges exercise several column tiles and the global-atomics path.
    let binnings = [
        Binning::DEFAULT_FIXED,
        Binning::fixed(-1.0, 1.0, 20_000),
        Binning::Adaptive { bins: 30 },
    ];
    for c in cases() {
        let t = Tensor::from_slice(&c.acts, (c.n, c.d), dev).unwrap();
        for b in &binnings {
            let got = neuron_histograms_tensor(&t, b).unwrap();
            assert_eq!(
                got,
                naive_histograms(&c.acts, c.d, b),
                "{} under {b:?} on {dev:?}",
                c.name
            );
        }
        let err = neuron_histograms_tensor(&t, &Binning::Floor { width: 0.5 }).unwrap_err();
        assert!(err.to_string().contains("bounded bins"), "{err}");
    }
}

fn bad_input_is_an_error(dev: &Device) {
    let t = Tensor::zeros((10, 3), DType::F32, dev).unwrap();
    let b = Binning::DEFAULT_FIXED;
    let ids: Vec<u32> = (0..10).collect();
    let err = binned_counts_tensor(&t, &b, &ids[..9], &ids).unwrap_err();
    assert!(
        err.to_string().contains("x_ids has length 9, expected 10"),
        "{err}"
    );
    let err = binned_mi_tensor(&t, &b, &ids, &ids[..3]).unwrap_err();
    assert!(
        err.to_string().contains("y has length 3, expected 10"),
        "{err}"
    );
    let ints = Tensor::zeros((10, 3), DType::U32, dev).unwrap();
    assert!(binned_counts_tensor(&ints, &b, &ids, &ids).is_err());
    let bad = Binning::fixed(1.0, -1.0, 30);
    assert!(binned_counts_tensor(&t, &bad, &ids, &ids)
        .unwrap_err()
        .to_string()
        .contains("lo < hi"));
}
