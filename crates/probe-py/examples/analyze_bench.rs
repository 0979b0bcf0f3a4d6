//! The Rust side of `scripts/bench/python_overhead.py`: loads an activations / labels pair of
//! safetensors files (untimed), then times `probe_run::analyze::analyze_layers` on them — the call
//! `probe.analyze` makes — `reps` times and prints each wall time and the process's CPU time (all
//! threads, as Python's `time.process_time()`), in seconds, one pair per line.
//!
//! `cargo run --release -p probe-py --example analyze_bench -- ACTS LABELS REPS`

use std::path::Path;
use std::time::Instant;

use probe_estimators::{Binning, EstimatorSpec, ExtrasSpec, NamedEstimator, DEFAULT_SATURATION};
use probe_run::analyze::analyze_layers;
use probe_run::tensors::{load_activations, load_labels};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, acts, labels, reps] = args.as_slice() else {
        return Err("usage: analyze_bench ACTS LABELS REPS".into());
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
    for _ in 0..reps.parse::<usize>()? {
        let (t, c) = (Instant::now(), cpu_seconds());
        let a = analyze_layers(&acts.layers, &y, None, &est, &extras)?;
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
