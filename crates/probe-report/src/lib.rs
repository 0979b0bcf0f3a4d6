//! Run-directory output for probe: atomic file writes, CSV tables and information-plane plots.
//!
//! A run directory holds a fixed set of files ([`atomic::PROBE_OUTPUT_FILES`]):
//! `config.toml`, `metrics.csv`, `infoplane.csv`, `model.safetensors`, `infoplane.png` and
//! `infoplane.svg`. Files are written with [`atomic::write_atomic`], so a reader (or a crash)
//! never sees a half-written file; tables that grow during a run are appended whole rows at a time
//! ([`append::AppendedCsv`]).
//!
//! ```no_run
//! use probe_report::{create_run_dir, fmt_f64, plot_infoplane, CsvTable, InfoPoint, PlaneOptions};
//! use std::path::Path;
//!
//! # fn main() -> probe_report::Result<()> {
//! let dir = Path::new("runs/demo");
//! create_run_dir(dir, false)?;
//! let points = vec![InfoPoint { epoch: 1, layer: "layers.0".into(), i_xt: 8.5, i_ty: 0.6 }];
//! let mut table = CsvTable::new(&["epoch", "layer", "i_xt_bits", "i_ty_bits"]);
//! for p in &points {
//!     table.push([p.epoch.to_string(), p.layer.clone(), fmt_f64(p.i_xt), fmt_f64(p.i_ty)])?;
//! }
//! table.write_atomic(&dir.join("infoplane.csv"))?;
//! plot_infoplane(
//!     &points,
//!     &PlaneOptions::default(),
//!     &dir.join("infoplane.png"),
//!     &dir.join("infoplane.svg"),
//! )?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

pub mod append;
pub mod atomic;
mod colormap;
pub mod csv;
pub mod error;
pub mod lines;
pub mod plot;

pub use append::{AppendedCsv, TableMark};
pub use atomic::{create_run_dir, replace_atomic, write_atomic, PROBE_OUTPUT_FILES};
pub use csv::{fmt_f64, CsvTable};
pub use error::{Error, Result};
pub use lines::{plot_lines, LineOptions, Series};
pub use plot::{plot_infoplane, InfoPoint, PlaneOptions};
