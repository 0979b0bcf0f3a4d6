//! Where the time of one binned measurement goes (the information plane, the flows and the
//! per-neuron statistics of every layer, as a `schedule = "every"` run computes them each epoch),
//! on the activations a real run dumped, one thread.
//!
//! ```text
//! # a run directory with `measure.dump_activations = "measured"` (tishby_tanh.toml plus that key)
//! cargo run --release -p probe-estimators --example bench_measure_dump -- RUN_DIR [REPEATS]
//! ```
//!
//! Reads `RUN_DIR/labels.safetensors` and every `RUN_DIR/activations-epoch{E}.safetensors`, then
//! measures each epoch's layers `REPEATS` times (default 5) with the binned estimator of
//! `tishby_tanh.toml` (30 edges on [-1, 1]) and prints the seconds per part (symbols, plane,
//! flows, statistics) and per measured epoch. `I(X;T)` is taken over the distinct inputs (every
//! sample its own input symbol, as on the 12-bit data set).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use candle_core::{safetensors, Device, Tensor};
use probe_estimators::{
    binned_mi_from_symbols, binned_symbols, flows_with, stats_of_layer, Binning, EstimatorSpec,
    HostRows, NamedEstimator,
};

mod common;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// One layer's activations: `(n, d, [n, d] row-major values)`.
type HostLayer = (usize, usize, Vec<f32>);

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: bench_measure_dump RUN_DIR [REPEATS]")?;
    let repeats: usize = args.next().map_or(Ok(5), |s| s.parse())?;
    let dir = Path::new(&dir);
    let y = common::dump_labels(dir)?;
    let x_ids: Vec<u32> = (0..y.len() as u32).collect();
    // Each dumped epoch's layers, in epoch order.
    let mut epochs: Vec<Vec<HostLayer>> = Vec::new();
    for (_, path) in common::dump_files(dir)? {
        let layers: BTreeMap<String, Tensor> = safetensors::load(&path, &Device::Cpu)?
            .into_iter()
            .collect();
        let mut host = Vec::new();
        for t in layers.values() {
            let (n, d) = t.dims2()?;
            host.push((n, d, t.flatten_all()?.to_vec1::<f32>()?));
        }
        epochs.push(host);
    }
    let binning = Binning::Fixed {
        lo: -1.0,
        hi: 1.0,
        edges: 30,
    };
    let estimators = [NamedEstimator {
        name: "binned".into(),
        spec: EstimatorSpec::Binned(binning.clone()),
    }];
    let mut secs = [0.0f64; 4];
    let mut sink = 0.0;
    for _ in 0..repeats {
        for layers in &epochs {
            // The flows read only the layers' names here (their symbols are given).
            let named = layers
                .iter()
                .enumerate()
                .map(|(l, (n, d, v))| {
                    Ok((format!("layers.{l}"), HostRows::new(&v[..], vec![*n, *d])?))
                })
                .collect::<Result<Vec<_>, probe_estimators::Error>>()?;
            let t0 = Instant::now();
            let symbols = layers
                .iter()
                .map(|(n, d, v)| binned_symbols(v, *n, *d, &binning))
                .collect::<Result<Vec<_>, _>>()?;
            let t1 = Instant::now();
            for s in &symbols {
                sink += binned_mi_from_symbols(s, &x_ids, &y)?.i_ty;
            }
            let t2 = Instant::now();
            let mut ids: Vec<Vec<u32>> = symbols.into_iter().map(|s| s.ids).collect();
            let flows = flows_with(&named, &estimators, &[], |_, _| {
                Ok(std::mem::take(&mut ids))
            })?;
            sink += flows.iter().map(|f| f.i_bits).sum::<f64>();
            let t3 = Instant::now();
            for (l, (n, d, v)) in layers.iter().enumerate() {
                let name = format!("layers.{l}");
                sink += stats_of_layer(&name, v, *n, *d, &estimators, 0.99)?.len() as f64;
            }
            let t4 = Instant::now();
            for (s, (a, b)) in secs
                .iter_mut()
                .zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)])
            {
                *s += (b - a).as_secs_f64();
            }
        }
    }
    let measured = (repeats * epochs.len()) as f64;
    let total: f64 = secs.iter().sum();
    println!(
        "{} epoch files x {repeats}; per measured epoch (ms): symbols {:.3}, plane {:.3}, flows {:.3}, stats {:.3}, total {:.3} (checksum {sink:.6})",
        epochs.len(),
        1e3 * secs[0] / measured,
        1e3 * secs[1] / measured,
        1e3 * secs[2] / measured,
        1e3 * secs[3] / measured,
        1e3 * total / measured
    );
    Ok(())
}
