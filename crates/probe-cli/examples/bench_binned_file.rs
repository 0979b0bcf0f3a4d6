//! Times probe's binned I(X;T), I(T;Y) on activations from a safetensors file, for the benchmark
//! harness (`scripts/bench/run.sh`), which times numpy on the very same arrays.
//!
//! ```text
//! cargo run --release -p probe-cli --example bench_binned_file -- FILE RUNS
//! ```
//!
//! `FILE` holds `acts` (F32 `[n, d]`) and `y` (I64 `[n]`); every sample is a distinct input (as in
//! the published benchmarks). Binning: IDNNs' 30 edges on [-1, 1]. One untimed warm-up, then the
//! median of `RUNS` timed calls. Prints one JSON object with the median seconds and the estimates.

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
    let acts = st.tensor("acts")?;
    let labels = st.tensor("y")?;
    let (n, d) = match (acts.dtype(), acts.shape()) {
        (Dtype::F32, &[n, d]) => (n, d),
        (dt, shape) => return Err(format!("acts must be F32 [n, d], got {dt:?} {shape:?}").into()),
    };
    if labels.dtype() != Dtype::I64 || labels.shape() != [n] {
        return Err(format!("y must be I64 [{n}], got {:?}", labels.shape()).into());
    }
    let acts: Vec<f32> = acts
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let y = labels
        .data()
        .chunks_exact(8)
        .map(|b| u32::try_from(i64::from_le_bytes(b.try_into().unwrap_or([0; 8]))))
        .collect::<Result<Vec<u32>, _>>()?;
    let x_ids: Vec<u32> = (0..n as u32).collect();
    let binning = Binning::Fixed {
        lo: -1.0,
        hi: 1.0,
        edges: 30,
    };
    let mut mi = binned_mi(&acts, n, d, &binning, &x_ids, &y)?; // warm-up
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t0 = Instant::now();
        mi = binned_mi(&acts, n, d, &binning, &x_ids, &y)?;
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{{\"side\": \"probe\", \"n\": {n}, \"d\": {d}, \"median_s\": {:.6}, \"i_xt\": {:.15}, \
         \"i_ty\": {:.15}}}",
        times[times.len() / 2],
        mi.i_xt,
        mi.i_ty
    );
    Ok(())
}
