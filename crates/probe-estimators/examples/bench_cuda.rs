//! GPU benchmark of the binned estimators (feature `cuda`; needs a CUDA device):
//!
//! ```sh
//! cargo run --release --features cuda -p probe-estimators --example bench_cuda -- \
//!     [--torch torch.json] [--reps 20] [--sizes 4096x12,60000x1024] [--cpu-max 70000000]
//! ```
//!
//! For each `n × d` (tanh of standard normal values; labels of 10 classes; distinct inputs) and
//! each binning (`binned` 30 edges on [-1, 1]; `floor` width 0.5) it first **validates** the GPU's
//! entropy terms against the CPU reference (exact equality, else it stops), then prints:
//! the quantise + key kernel's time, its achieved read bandwidth and the fraction of the device's
//! peak; the whole estimate's time (keys, counting, terms back on the host); the CPU reference's
//! time and its ratio; and the ratio to PyTorch on the same GPU when `--torch FILE` gives the JSON
//! written by `scripts/gpu/bench_torch.py` (bucketize + unique). Times are means over `--reps`
//! calls, each after an L2 flush, measured with CUDA events. Output: a markdown table.

use std::collections::HashMap;
use std::time::Instant;

use candle_core::{DType, Tensor};
use probe_estimators::cuda::{device_info, open_device, time_binned_counts, time_row_keys};
use probe_estimators::{binned_counts, binned_counts_tensor, Binning};

/// `(seconds quantise, seconds whole)` of PyTorch per `"{n}x{d}/{binning}"`.
fn read_torch(path: &str) -> Result<HashMap<String, (f64, f64)>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--torch {path}: cannot read it: {e}"))?;
    // The file is a flat JSON object {"60000x1024/binned": [0.00012, 0.0042], ...} (see
    // scripts/gpu/bench_torch.py); parsed by hand to keep the example free of dependencies.
    let mut out = HashMap::new();
    for item in text.split(']') {
        let Some((key, vals)) = item.split_once(": [") else {
            continue;
        };
        let key = key.trim_matches(|c: char| c == '{' || c == ',' || c.is_whitespace() || c == '"');
        let v: Vec<f64> = vals
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        if v.len() == 2 {
            out.insert(key.to_string(), (v[0], v[1]));
        }
    }
    Ok(out)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let int = |name: &str, default: usize| -> Result<usize, String> {
        flag(name).map_or(Ok(default), |v| {
            v.parse()
                .map_err(|_| format!("{name} {v:?}: expected a non-negative integer"))
        })
    };
    let reps = int("--reps", 20)?;
    let cpu_max = int("--cpu-max", 70_000_000)?;
    let torch = match flag("--torch") {
        Some(p) => read_torch(&p)?,
        None => HashMap::new(),
    };
    let sizes: Vec<(usize, usize)> = flag("--sizes")
        .unwrap_or_else(|| {
            "4096x12,10000x20,60000x20,10000x1024,60000x1024,100000x1024,250000x1024,60000x4096"
                .into()
        })
        .split(',')
        .map(|s| {
            let bad = || format!("--sizes: {s:?} is not NxD (e.g. --sizes 4096x12,60000x1024)");
            let (n, d) = s.split_once('x').ok_or_else(bad)?;
            Ok((n.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?))
        })
        .collect::<Result<_, String>>()?;

    let dev = open_device(0).map_err(|e| format!("bench_cuda needs a CUDA device: {e}"))?;
    let info = device_info(&dev)?;
    println!(
        "device: {} ({} SMs), peak memory bandwidth {:.0} GB/s (memory clock × bus width)",
        info.name, info.sms, info.peak_gbs
    );
    println!("command: bench_cuda {}\n", args.join(" "));
    println!("| n × d | binning | keys µs | keys GB/s | % peak | whole µs | CPU ms | CPU / GPU | PyTorch / GPU (keys, whole) |");
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (n, d) in sizes {
        let t = Tensor::randn(0f32, 1.0, (n, d), &dev).and_then(|t| t.tanh())?;
        let x: Vec<u32> = (0..n as u32).collect();
        let y: Vec<u32> = (0..n as u32).map(|i| (i * 7919) % 10).collect();
        for (name, b) in [
            ("binned", Binning::DEFAULT_FIXED),
            ("floor", Binning::Floor { width: 0.5 }),
        ] {
            let host: Vec<f32> = t.flatten_all().and_then(|t| t.to_vec1())?;
            let got = binned_counts_tensor(&t, &b, &x, &y)?;
            let t0 = Instant::now();
            let want = binned_counts(&host, n, d, &b, &x, &y)?;
            let cpu_s = t0.elapsed().as_secs_f64();
            if got != want {
                return Err(format!("{n}x{d} {name}: GPU and CPU terms differ").into());
            }
            let cpu_s = if n * d <= cpu_max {
                let t0 = Instant::now();
                binned_counts(&host, n, d, &b, &x, &y)?;
                cpu_s.min(t0.elapsed().as_secs_f64())
            } else {
                cpu_s
            };
            let keys = time_row_keys(&t, &b, reps)?;
            let whole = time_binned_counts(&t, &b, &x, &y, reps)?;
            let gbs = (n * d * DType::F32.size_in_bytes()) as f64 / keys / 1e9;
            let vs_torch = match torch.get(&format!("{n}x{d}/{name}")) {
                Some(&(tk, tw)) => format!("{:.1}×, {:.1}×", tk / keys, tw / whole),
                None => "n/a".into(),
            };
            println!(
                "| {n} × {d} | {name} | {:.1} | {gbs:.0} | {:.0}% | {:.1} | {:.1} | {:.0}× | {vs_torch} |",
                keys * 1e6,
                100.0 * gbs / info.peak_gbs,
                whole * 1e6,
                cpu_s * 1e3,
                cpu_s / whole,
            );
        }
    }
    Ok(())
}
