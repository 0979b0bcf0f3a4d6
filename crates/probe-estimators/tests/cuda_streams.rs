//! The stream rule on a GPU (feature `cuda`; these tests fail, loudly, without one): layers
//! produced by candle ops on one thread and estimated by rayon workers with **no host copy in
//! between** must give exactly the CPU's counts.
//!
//! Why: candle's `Device::new_cuda` launches into cudarc's per-thread default stream, so a rayon
//! worker's kernels are not ordered after the capturing thread's `Tensor::cat`; they can read a
//! layer before it is written and return wrong counts without any error. Each round here first
//! queues tens of milliseconds of matrix products, then the forward pass of a 12-layer network in 4
//! batches whose outputs are concatenated per layer (as capture does), and hands the layers to
//! rayon at once: on a device whose streams are not ordered, the estimates would read layers long
//! before they exist. Only after every estimate has returned are the layers copied to the host for
//! the CPU reference (`binned_counts`, `neuron_histograms`), compared for exact equality.
//!
//! `smoke_one_estimate` is the tiny first check `scripts/gpu/run.sh` runs before everything else.
#![cfg(feature = "cuda")]

use candle_core::{Device, Tensor};
use probe_estimators::cuda::open_device;
use probe_estimators::{
    binned_counts, binned_counts_tensor, neuron_histograms, neuron_histograms_tensor, BinnedCounts,
    Binning, NeuronHistograms,
};
use rayon::prelude::*;

/// Widths of the network: wide layers keep the GPU busy, narrow ones give counts with many
/// repeated rows (wide tanh rows are all distinct, which an unwritten layer could also be).
const WIDTHS: [usize; 13] = [64, 512, 512, 256, 128, 64, 32, 16, 8, 6, 4, 3, 2];
const BATCH: usize = 4096;
const BATCHES: usize = 4;

fn binnings() -> [Binning; 2] {
    [Binning::DEFAULT_FIXED, Binning::Floor { width: 0.5 }]
}

/// The GPU's results for one layer: counts per binning, and the histograms of the first one.
type Estimates = (Vec<BinnedCounts>, NeuronHistograms);

fn estimate(t: &Tensor, x: &[u32], y: &[u32]) -> Estimates {
    let counts = binnings()
        .iter()
        .map(|b| binned_counts_tensor(t, b, x, y).expect("binned counts on the GPU"))
        .collect();
    let hist = neuron_histograms_tensor(t, &binnings()[0]).expect("histograms on the GPU");
    (counts, hist)
}

/// The layers of one forward pass on `dev`, queued behind tens of milliseconds of other work, each the
/// concatenation of its `BATCHES` batch outputs; nothing is copied to the host.
fn produce_layers(dev: &Device, round: u64) -> Vec<Tensor> {
    let big = Tensor::rand(-1f32, 1.0, (8192, 8192), dev).expect("random matrix");
    let mut busy = big.clone();
    for _ in 0..4 {
        busy = busy
            .matmul(&big)
            .expect("matmul")
            .affine(1e-4, 0.0)
            .expect("scale");
    }
    // The busy work feeds into nothing but must run before the layers: one stream orders it.
    drop(busy);
    let weights: Vec<(Tensor, Tensor)> = WIDTHS
        .windows(2)
        .map(|w| {
            let s = 2.0 / (w[0] as f32).sqrt();
            let wt = Tensor::rand(-s, s, (w[0], w[1]), dev).expect("weights");
            let b = Tensor::rand(-0.1f32, 0.1, (1, w[1]), dev).expect("bias");
            (wt, b)
        })
        .collect();
    let mut pieces: Vec<Vec<Tensor>> = vec![Vec::new(); weights.len()];
    for batch in 0..BATCHES {
        let lo = -1.0 - (round as f32 + batch as f32) * 0.01;
        let mut h = Tensor::rand(lo, 1.0, (BATCH, WIDTHS[0]), dev).expect("inputs");
        for (l, (w, b)) in weights.iter().enumerate() {
            h = h
                .matmul(w)
                .and_then(|z| z.broadcast_add(b))
                .and_then(|z| z.tanh())
                .expect("forward");
            pieces[l].push(h.clone());
        }
    }
    pieces
        .iter()
        .map(|p| Tensor::cat(p, 0).expect("capture: cat of the batches"))
        .collect()
}

/// Produce on this thread, estimate every layer on rayon workers at once, then compare each with
/// the CPU on a host copy made afterwards.
fn layers_estimated_on_other_threads_equal_the_cpu(dev: &Device) {
    let n = BATCH * BATCHES;
    let x: Vec<u32> = (0..n as u32).collect();
    let y: Vec<u32> = (0..n as u32).map(|i| i % 10).collect();
    for round in 0..3 {
        let layers = produce_layers(dev, round);
        let main = std::thread::current().id();
        let got: Vec<(Estimates, bool)> = layers
            .par_iter()
            .map(|t| (estimate(t, &x, &y), std::thread::current().id() != main))
            .collect();
        assert!(
            got.iter().any(|(_, other)| *other),
            "no layer was estimated on a rayon worker: the test would prove nothing"
        );
        for (l, (t, ((counts, hist), _))) in layers.iter().zip(&got).enumerate() {
            let d = t.dim(1).unwrap();
            let host: Vec<f32> = t.flatten_all().unwrap().to_vec1().unwrap();
            for (b, got) in binnings().iter().zip(counts) {
                let want = binned_counts(&host, n, d, b, &x, &y).unwrap();
                assert_eq!(got, &want, "round {round}, layer {l} (d = {d}), {b:?}");
            }
            let want = neuron_histograms(&host, n, d, &binnings()[0]).unwrap();
            assert_eq!(
                hist, &want,
                "round {round}, layer {l} (d = {d}): histograms"
            );
        }
    }
}

#[test]
fn open_device_orders_capture_before_rayon_estimates() {
    let dev = open_device(0).expect("open_device(0) needs a CUDA GPU");
    layers_estimated_on_other_threads_equal_the_cpu(&dev);
}

/// A device of candle's own `Device::new_cuda` (one stream per thread) must be correct too: the
/// estimators synchronise the device before reading a tensor of such a device.
#[test]
fn per_thread_stream_device_is_synchronised_first() {
    let dev = Device::new_cuda(0).expect("Device::new_cuda(0) needs a CUDA GPU");
    layers_estimated_on_other_threads_equal_the_cpu(&dev);
}

/// `open_device` returns one device per ordinal (one stream), not a new one per call.
#[test]
fn open_device_is_one_device_per_ordinal() {
    let a = open_device(0).expect("open_device(0) needs a CUDA GPU");
    let b = open_device(0).unwrap();
    assert!(
        a.same_device(&b),
        "two calls gave two devices: {a:?}, {b:?}"
    );
}

/// The smallest end-to-end use of the kernels: load, launch, copy back, equal to the CPU.
#[test]
fn smoke_one_estimate() {
    let dev = open_device(0).expect("open_device(0) needs a CUDA GPU");
    let v = [
        0.1f32, -0.5, 0.9, 0.1, -0.5, 0.9, 0.7, 0.2, -0.9, 0.0, 0.0, 0.0,
    ];
    let t = Tensor::from_slice(&v, (4, 3), &dev).expect("upload");
    let (x, y) = ([0u32, 1, 2, 3], [0u32, 0, 1, 1]);
    let b = &binnings()[0];
    let got = binned_counts_tensor(&t, b, &x, &y).expect("the first kernels on the GPU");
    assert_eq!(got, binned_counts(&v, 4, 3, b, &x, &y).unwrap());
    assert_eq!(got.distinct, 3);
}
