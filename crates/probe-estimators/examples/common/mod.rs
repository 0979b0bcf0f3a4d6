//! Seeded synthetic data shared by the estimator benchmarks (`bench_estimators`, `bench_kde`,
//! `bench_kde_knn`), so that they time the same inputs, and the reading of a run directory's
//! dumped activations (`bench_kde_dump`, `bench_measure_dump`).
#![allow(dead_code)] // each example uses its own subset

use std::path::{Path, PathBuf};

use candle_core::{safetensors, DType, Device};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The labels of a run directory (`labels.safetensors`, tensor `labels`).
pub fn dump_labels(dir: &Path) -> Result<Vec<u32>, Box<dyn std::error::Error>> {
    let labels = safetensors::load(dir.join("labels.safetensors"), &Device::Cpu)?;
    let y = labels
        .get("labels")
        .ok_or("labels.safetensors has no `labels`")?;
    Ok(y.to_dtype(DType::U32)?.to_vec1()?)
}

/// The `activations-epoch{E}.safetensors` files of a run directory, in epoch order.
pub fn dump_files(dir: &Path) -> Result<Vec<(usize, PathBuf)>, Box<dyn std::error::Error>> {
    let mut epochs: Vec<(usize, PathBuf)> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let e = name
                .strip_prefix("activations-epoch")?
                .strip_suffix(".safetensors")?;
            Some((e.parse().ok()?, p))
        })
        .collect();
    epochs.sort();
    Ok(epochs)
}

/// A standard normal draw (Box–Muller, cosine branch) from two uniforms of `rng`.
pub fn gaussian(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// `n` labels of 10 classes and `n × d` activations `tanh(0.02·g + 0.02·y)` (row-major, `g`
/// standard normal), drawn from `rng` in that order: spread so that neither KDE bound saturates.
pub fn tanh_layer(rng: &mut ChaCha8Rng, n: usize, d: usize) -> (Vec<u32>, Vec<f32>) {
    let y: Vec<u32> = (0..n).map(|_| rng.random_range(0..10)).collect();
    let acts: Vec<f32> = (0..n * d)
        .map(|e| (0.02 * gaussian(rng) + 0.02 * y[e / d] as f64).tanh() as f32)
        .collect();
    (y, acts)
}
