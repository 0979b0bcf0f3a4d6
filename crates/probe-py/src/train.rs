//! `probe.train`: probe's own trainer in-process ([`probe_run::train`]) with the GIL released,
//! an [`Observer`] that hands each measured epoch's rows to a Python callback and checks for
//! Ctrl-C, and the run's tables returned from [`probe_run::RunOutcome::tables`].

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use probe_report::CsvTable;
use probe_run::config::{Config, DeviceChoice};
use probe_run::observer::{EpochEnd, Measured};
use probe_run::rundir::{
    estimate_row, flow_row, stats_row, FLOW_HEADER, INFOPLANE_HEADER, STATS_HEADER,
};
use probe_run::{ConfigSource, Observer, TrainOptions};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::errors::{detached, to_py, value_error};
use crate::tables;

/// How often the trainer looks for Ctrl-C between batches and epochs.
const SIGNAL_EVERY: Duration = Duration::from_millis(20);

/// Follows a run for Python: Ctrl-C (and any other pending signal handler's exception) sets the
/// run's stop flag, so the run ends after the batch it is in with a checkpoint, as `probe train`
/// does on SIGINT (`probe train --resume DIR` continues it); `on_measure` gets each measured
/// epoch's rows.
/// A Python exception is kept and re-raised once the run has stopped cleanly (its run directory
/// keeps everything finished).
struct PyObserver {
    on_measure: Option<Py<PyAny>>,
    error: Option<PyErr>,
    checked: Instant,
    stop: Arc<AtomicBool>,
}

impl PyObserver {
    fn stop(&mut self, e: PyErr) -> probe_run::Error {
        let msg = Python::attach(|py| e.to_string().clone() + &format!(" ({})", e.get_type(py)));
        self.error = Some(e);
        probe_run::Error::Invalid(format!("stopped from Python: {msg}"))
    }
}

/// Rows of `header` as a CSV table.
fn table<const N: usize>(
    header: &[&str],
    rows: impl IntoIterator<Item = [String; N]>,
) -> probe_run::Result<CsvTable> {
    let mut t = CsvTable::new(header);
    for r in rows {
        t.push(r)?;
    }
    Ok(t)
}

/// The rows `on_measure` receives: what this measurement adds to `infoplane.csv` (with the `seed`
/// column of an ensemble), `flow.csv` and `stats.csv`.
fn measured_tables(m: &Measured) -> probe_run::Result<[CsvTable; 3]> {
    let e = Some(m.epoch);
    let infoplane = if m.seeds.len() > 1 {
        let mut header = vec!["seed"];
        header.extend(INFOPLANE_HEADER);
        let mut t = CsvTable::new(&header);
        for (seed, estimates) in m.seeds.iter().zip(m.estimates) {
            for est in estimates {
                let mut row = vec![seed.to_string()];
                row.extend(estimate_row(e, est));
                t.push(row)?;
            }
        }
        t
    } else {
        table(
            &INFOPLANE_HEADER,
            m.estimates.iter().flatten().map(|x| estimate_row(e, x)),
        )?
    };
    Ok([
        infoplane,
        table(&FLOW_HEADER, m.flows.iter().map(|f| flow_row(e, f)))?,
        table(&STATS_HEADER, m.stats.iter().map(|s| stats_row(e, s)))?,
    ])
}

impl PyObserver {
    /// Runs Python's signal handlers (at most every [`SIGNAL_EVERY`]); an exception (Ctrl-C's
    /// `KeyboardInterrupt`) sets the stop flag and is re-raised when the run has stopped.
    fn check_signals(&mut self) {
        if self.checked.elapsed() < SIGNAL_EVERY {
            return;
        }
        self.checked = Instant::now();
        if let Err(e) = Python::attach(|py| py.check_signals()) {
            // The first exception wins (a second Ctrl-C while the checkpoint is written).
            self.error.get_or_insert(e);
            self.stop.store(true, Ordering::SeqCst);
        }
    }
}

impl Observer for PyObserver {
    fn on_batch(&mut self, _epoch: usize, _batches: usize) {
        self.check_signals();
    }

    fn on_epoch(&mut self, _e: &EpochEnd) -> probe_run::Result<()> {
        self.check_signals();
        Ok(())
    }

    fn on_measure(&mut self, m: &Measured) -> probe_run::Result<()> {
        let Some(cb) = &self.on_measure else {
            return Ok(());
        };
        let [infoplane, flow, stats] = measured_tables(m)?;
        let called = Python::attach(|py| -> PyResult<()> {
            py.check_signals()?;
            let d = PyDict::new(py);
            d.set_item("epoch", m.epoch)?;
            d.set_item("infoplane", tables::table(py, &infoplane)?)?;
            d.set_item("flow", tables::table(py, &flow)?)?;
            d.set_item("stats", tables::table(py, &stats)?)?;
            cb.call1(py, (d,))?;
            Ok(())
        });
        called.map_err(|e| self.stop(e))
    }
}

/// A config given as a dict (JSON from the Python wrapper), read as its TOML file would be. There
/// is no text to point into, so an error names the key path instead: `invalid config dict: at
/// `train.lr`: invalid type: string "fast", expected f64`.
fn config_from_json(json: &str, name: &str) -> PyResult<Config> {
    let invalid = |e: &dyn std::fmt::Display| value_error(format!("invalid {name}: {e}"));
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| invalid(&e))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match path.as_str() {
            "." => invalid(&inner),
            _ => value_error(format!("invalid {name}: at `{path}`: {inner}")),
        }
    })
}

/// The native half of `probe.train` (the Python wrapper turns a dict config into TOML-able JSON
/// and the tables into DataFrames). Returns `{"out", "epoch", "stopped_after", "tables"}`.
#[pyfunction]
#[pyo3(signature = (config_path = None, config_json = None, out = None, overwrite = false, epochs = None, seed = None, device = None, stop_after = None, on_measure = None, lr = None))]
#[allow(clippy::too_many_arguments)]
pub fn train<'py>(
    py: Python<'py>,
    config_path: Option<PathBuf>,
    config_json: Option<String>,
    out: Option<PathBuf>,
    overwrite: bool,
    epochs: Option<usize>,
    seed: Option<u64>,
    device: Option<String>,
    stop_after: Option<usize>,
    on_measure: Option<Py<PyAny>>,
    lr: Option<f64>,
) -> PyResult<Bound<'py, PyDict>> {
    let source = match (config_path, config_json) {
        (Some(p), None) => ConfigSource::File(p),
        (None, Some(json)) => {
            let name = "config dict";
            let config = config_from_json(&json, name)?;
            ConfigSource::Value {
                config: Box::new(config),
                name: name.to_string(),
            }
        }
        _ => return Err(value_error("give the config as a path or as a dict")),
    };
    let device = device
        .map(|d| d.parse::<DeviceChoice>())
        .transpose()
        .map_err(|e| value_error(e.to_string()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let opts = TrainOptions {
        config: source,
        out,
        overwrite,
        device,
        epochs,
        seed,
        lr,
        stop_after,
        stop: Some(stop.clone()),
    };
    let mut observer = PyObserver {
        on_measure,
        error: None,
        checked: Instant::now(),
        stop,
    };
    let result = detached(py, || {
        let mut obs: [&mut dyn Observer; 1] = [&mut observer];
        probe_run::train(&opts, &mut obs).map_err(to_py)
    });
    // A Python exception raised in the callback (Ctrl-C included) is what the caller sees.
    let outcome = match (result, observer.error.take()) {
        (Err(_), Some(e)) => return Err(e),
        (r, _) => r?,
    };
    let d = PyDict::new(py);
    d.set_item("out", outcome.out.display().to_string())?;
    d.set_item("epoch", outcome.epoch)?;
    d.set_item("stopped_after", outcome.stopped_after)?;
    let t = PyDict::new(py);
    for (name, table) in &outcome.tables {
        t.set_item(name, tables::table(py, table)?)?;
    }
    d.set_item("tables", t)?;
    Ok(d)
}
