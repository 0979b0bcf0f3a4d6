//! probe's tables (what its CSV files hold) as Python dicts of column lists: the count columns
//! ([`INT_COLUMNS`]: `epoch`, `seed`, `samples`, …) are `int` when every cell is filled; any other
//! column whose non-empty cells are numbers is `float` (empty cells NaN; `NaN`, `inf` as written,
//! `12` as `12.0`); the name columns ([`TEXT_COLUMNS`]) and the rest `str` (empty cells `None`). Floats are parsed from probe's shortest round-trip
//! formatting, so they equal the computed `f64` bit for bit.

use probe_report::CsvTable;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// The columns of probe's tables that hold counts (integers), whatever their values.
pub const INT_COLUMNS: &[&str] = &[
    "epoch",
    "seed",
    "seeds",
    "samples",
    "neurons",
    "dead_units",
    "bottleneck",
    "batches",
];

/// The columns of probe's tables that hold names, `str` whatever they look like (a torch
/// `nn.Sequential`'s layers are named `"0"`, `"1"`, …).
pub const TEXT_COLUMNS: &[&str] = &["layer", "layer_from", "layer_to", "estimator"];

/// One column's cells as a Python list.
fn column<'py>(py: Python<'py>, name: &str, cells: &[&str]) -> PyResult<Bound<'py, PyList>> {
    if TEXT_COLUMNS.contains(&name) {
        return PyList::new(py, cells.iter().map(|c| (!c.is_empty()).then_some(*c)));
    }
    if INT_COLUMNS.contains(&name) {
        let ints: Result<Vec<i64>, _> = cells.iter().map(|c| c.parse::<i64>()).collect();
        if let Ok(v) = ints {
            return PyList::new(py, v);
        }
    }
    let floats: Option<Vec<f64>> = cells
        .iter()
        .map(|c| {
            if c.is_empty() {
                Some(f64::NAN)
            } else {
                c.parse::<f64>().ok()
            }
        })
        .collect();
    if let Some(v) = floats {
        return PyList::new(py, v);
    }
    PyList::new(py, cells.iter().map(|c| (!c.is_empty()).then_some(*c)))
}

/// `header` and `rows` as `{column: [values…]}`, columns in order.
pub fn to_dict<'py>(
    py: Python<'py>,
    header: &[String],
    rows: &[Vec<String>],
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (j, name) in header.iter().enumerate() {
        let cells: Vec<&str> = rows
            .iter()
            .map(|r| r.get(j).map(String::as_str).unwrap_or(""))
            .collect();
        d.set_item(name, column(py, name, &cells)?)?;
    }
    Ok(d)
}

/// A [`CsvTable`] as `{column: [values…]}`.
pub fn table<'py>(py: Python<'py>, t: &CsvTable) -> PyResult<Bound<'py, PyDict>> {
    to_dict(py, t.header(), t.rows())
}
