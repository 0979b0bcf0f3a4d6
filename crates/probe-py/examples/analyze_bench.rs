//! The Rust side of `scripts/bench/python_overhead.py`: loads an activations / labels pair of
//! safetensors files (untimed), then times `probe_run::analyze::analyze_layers` on them `reps`
//! times and prints each wall time and the process's CPU time (all threads, as Python's
//! `time.process_time()`), in seconds, one pair per line. The layers are given as
//!
//! * `host` (default): `f32` host rows lent to the estimators (`probe_estimators::HostRows`) —
//!   the call `probe.analyze` makes on a C-contiguous float32 array;
//! * `tensor`: candle tensors, as `probe analyze` (the CLI) gives them.
//!
//! `cargo run --release -p probe-py --example analyze_bench -- ACTS LABELS REPS [host|tensor]`

use std::path::Path;
use std::time::Instant;

use probe_estimators::{
    Binning, EstimatorSpec, ExtrasSpec, HostRows, Layer, NamedEstimator, DEFAULT_SATURATION,
};
use probe_run::analyze::analyze_layers;
use probe_run::tensors::{load_activations, load_labels};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (acts, labels, reps, mode) = match args.as_slice() {
        [_, a, l, r] => (a, l, r, "host"),
        [_, a, l, r, m] => (a, l, r, m.as_str()),
        _ => return Err("usage: analyze_bench ACTS LABELS REPS [host|tensor]".into()),
    };
    let acts = load_activations(Path::new(acts))?;
    let y = load_labels(Path::new(labels), None, acts.n)?;
    let est = [NamedEstimator {
        name: "binned".into(),
        spec: EstimatorSpec::Binned(Binning::Fixed {
            lo: -1.0,
            hi: 1.0,
            edges: 30,
        }),
    }];
    let extras = ExtrasSpec::new(true, true, DEFAULT_SATURATION)?;
    // The host rows, made untimed (as numpy holds them before `probe.analyze` is called).
    let host: Vec<(Vec<f32>, Vec<usize>)> = acts
        .layers
        .iter()
        .map(|(_, t)| Ok((t.flatten_all()?.to_vec1::<f32>()?, t.dims().to_vec())))
        .collect::<candle_core::Result<_>>()?;
    let layers: Vec<(String, Layer)> = match mode {
        "host" => acts
            .layers
            .iter()
            .zip(&host)
            .map(|((name, _), (v, shape))| {
                Ok((
                    name.clone(),
                    HostRows::new(v.as_slice(), shape.clone())?.into(),
                ))
            })
            .collect::<probe_estimators::Result<_>>()?,
        "tensor" => acts
            .layers
            .iter()
            .map(|(name, t)| (name.clone(), Layer::Tensor(t.clone())))
            .collect(),
        other => return Err(format!("mode {other:?}: expected host or tensor").into()),
    };
    for _ in 0..reps.parse::<usize>()? {
        let (t, c) = (Instant::now(), cpu_seconds());
        let a = analyze_layers(&layers, &y, None, &est, &extras)?;
        std::hint::black_box(&a);
        println!("{} {}", t.elapsed().as_secs_f64(), cpu_seconds() - c);
    }
    Ok(())
}

/// CPU time of the whole process (every thread), seconds: `CLOCK_PROCESS_CPUTIME_ID`.
fn cpu_seconds() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into `ts`.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}
