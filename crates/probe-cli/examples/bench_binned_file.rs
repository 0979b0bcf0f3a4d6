//! Times probe's binned I(X;T), I(T;Y) on activations from a safetensors file, for the benchmark
//! harness (`scripts/bench/run.sh`), which times numpy on the very same arrays.
//!
//! ```text
//! cargo run --release -p probe-cli --example bench_binned_file -- FILE RUNS
//! ```
//!
//! `FILE` holds `y` (I64 `[n]`) and one or more layers: the F32 `[n, d_l]` tensors whose names
//! start with `acts`, in name order; every sample is a distinct input (as in the published
//! benchmarks). Binning: IDNNs' 30 edges on [-1, 1]. One untimed warm-up, then the median of `RUNS`
//! timed passes over all layers. Prints one JSON object with the median seconds of a pass and the
//! estimates per layer.

use std::time::Instant;

use probe_estimators::{binned_mi, Binning};
use safetensors::{Dtype, SafeTensors};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [path, runs] = args.as_slice() else {
        return Err("usage: bench_binned_file FILE RUNS".into());
    };
    let runs: usize = runs.parse()?;
    let bytes = std::fs::read(path)?;
    let st = SafeTensors::deserialize(&bytes)?;
    let labels = st.tensor("y")?;
    let n = labels.shape().first().copied().unwrap_or(0);
    if labels.dtype() != Dtype::I64 || labels.shape() != [n] {
        return Err(format!("y must be I64 [n], got {:?}", labels.shape()).into());
    }
    let mut names: Vec<String> = st
        .names()
        .into_iter()
        .filter(|k| k.starts_with("acts"))
        .map(str::to_string)
        .collect();
    names.sort();
    let mut layers = Vec::new();
    for name in &names {
        let t = st.tensor(name)?;
        let d = match (t.dtype(), t.shape()) {
            (Dtype::F32, &[rows, d]) if rows == n => d,
            (dt, shape) => {
                return Err(format!("{name} must be F32 [{n}, d], got {dt:?} {shape:?}").into())
            }
        };
        let acts: Vec<f32> = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        layers.push((acts, d));
    }
    if layers.is_empty() {
        return Err(format!("{path} holds no F32 tensor named acts*").into());
    }
    let y = labels
        .data()
        .chunks_exact(8)
        .map(|b| u32::try_from(i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))))
        .collect::<Result<Vec<u32>, _>>()?;
    let x_ids: Vec<u32> = (0..n as u32).collect();
    let binning = Binning::DEFAULT_FIXED;
    let pass = || {
        layers
            .iter()
            .map(|(acts, d)| binned_mi(acts, n, *d, &binning, &x_ids, &y))
            .collect::<Result<Vec<_>, _>>()
    };
    let mut mi = pass()?; // warm-up
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        mi = pass()?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let list = |f: &dyn Fn(&probe_estimators::BinnedMi) -> f64| {
        mi.iter()
            .map(|m| format!("{:.15}", f(m)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!(
        "{{\"side\": \"probe\", \"n\": {n}, \"layers\": {}, \"median_s\": {:.6}, \"i_xt\": [{}], \
         \"i_ty\": [{}]}}",
        layers.len(),
        times[times.len() / 2],
        list(&|m| m.i_xt),
        list(&|m| m.i_ty)
    );
    Ok(())
}
