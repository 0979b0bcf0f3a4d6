//! Time of `kde_mi` per layer and of `kde_joint_entropy` per pair of consecutive layers (the
//! flow's joint passes), with the fraction of pairs within the cutoff, on the activations a real
//! run dumped: where the KDE time of a `tishby_tanh` run goes, per layer and per epoch range.
//!
//! ```text
//! # a run directory with `measure.dump_activations = "measured"` (tishby_tanh.toml plus that key)
//! cargo run --release -p probe-estimators --example bench_kde_dump -- RUN_DIR [SIGMA2] [EVERY]
//! ```
//!
//! Reads `RUN_DIR/labels.safetensors` and every `RUN_DIR/activations-epoch{E}.safetensors` (every
//! `EVERY`-th epoch file in epoch order, default 1), runs `kde_mi` at `SIGMA2` (default 1e-3) on
//! each layer once, and prints per layer: calls, total seconds, distinct rows (mean fraction of
//! N), the fraction of pairs within the fast path's cutoff, for the epochs below and above 100. Times are wall seconds of one thread
//! count (`RAYON_NUM_THREADS`), noisy on a shared machine.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{safetensors, Device, Tensor};
use probe_estimators::{kde_joint_entropy, kde_mi};

mod common;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Default)]
struct Acc {
    calls: usize,
    secs: f64,
    distinct: f64,
    near: f64,
}

/// Fraction of the ordered pairs of the rows (`[n, d]`) within the fast path's cutoff radius
/// (squared distance `≤ 8σ²·(ln n + 30)`), by a plain double loop.
fn near_fraction(rows: &[Vec<f32>], sigma2: f64) -> f64 {
    let n = rows.len();
    let r2 = 8.0 * sigma2 * ((n as f64).ln() + 30.0);
    let mut near = 0usize;
    for a in rows {
        for b in rows {
            let d2: f64 = a
                .iter()
                .zip(b)
                .map(|(&u, &v)| (u as f64 - v as f64).powi(2))
                .sum();
            near += usize::from(d2 <= r2);
        }
    }
    near as f64 / (n * n) as f64
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: bench_kde_dump RUN_DIR [SIGMA2] [EVERY]")?;
    let sigma2: f64 = args.next().map_or(Ok(1e-3), |s| s.parse())?;
    let every: usize = args.next().map_or(Ok(1), |s| s.parse())?;
    let dir = Path::new(&dir);
    let y = common::dump_labels(dir)?;
    let epochs = common::dump_files(dir)?;
    let mut acc: BTreeMap<(String, bool), Acc> = BTreeMap::new();
    let start = Instant::now();
    let mut kde_secs = 0.0;
    for (epoch, path) in epochs.iter().step_by(every.max(1)) {
        let layers: BTreeMap<String, Tensor> =
            safetensors::load(path, &Device::Cpu)?.into_iter().collect();
        // The flow's joint passes of consecutive layers (as `flow = true` runs them).
        for ((from, a), (to, b)) in layers.iter().zip(layers.iter().skip(1)) {
            let t0 = Instant::now();
            kde_joint_entropy(a, b, sigma2)?;
            let secs = t0.elapsed().as_secs_f64();
            kde_secs += secs;
            let j = acc
                .entry((format!("joint {from} + {to}"), *epoch >= 100))
                .or_default();
            j.calls += 1;
            j.secs += secs;
            j.distinct = f64::NAN;
            j.near = f64::NAN;
        }
        for (layer, t) in layers {
            let rows: Vec<Vec<f32>> = t.to_vec2::<f32>()?;
            let n = rows.len();
            let bits: Vec<Vec<u32>> = rows
                .iter()
                .map(|r| r.iter().map(|v| v.to_bits()).collect())
                .collect();
            let distinct = bits.iter().collect::<std::collections::BTreeSet<_>>().len();
            let t0 = Instant::now();
            kde_mi(&t, &y, sigma2)?;
            let secs = t0.elapsed().as_secs_f64();
            kde_secs += secs;
            let a = acc.entry((layer, *epoch >= 100)).or_default();
            a.calls += 1;
            a.secs += secs;
            a.distinct += distinct as f64 / n as f64;
            a.near += near_fraction(&rows, sigma2);
        }
    }
    println!(
        "sigma2={sigma2:e}, every {every} epoch file(s), {} files",
        epochs.len()
    );
    println!("layer | epochs | calls | seconds | ms/call | distinct rows / N | pairs within the cutoff / N²");
    for ((layer, late), a) in &acc {
        println!(
            "{layer} | {} | {} | {:.3} | {:.2} | {:.3} | {:.3}",
            if *late { ">= 100" } else { "< 100" },
            a.calls,
            a.secs,
            1e3 * a.secs / a.calls as f64,
            a.distinct / a.calls as f64,
            a.near / a.calls as f64
        );
    }
    println!(
        "total {:.3} s, of which KDE calls {kde_secs:.3} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
