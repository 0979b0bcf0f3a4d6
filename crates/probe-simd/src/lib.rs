//! CPU SIMD helpers shared by probe's estimators (`probe-estimators`: row hashing, the KDE
//! kernel) and its fused trainer (`probe-train`: the small-MLP loops).
//!
//! * [`isa`](mod@isa) — the instruction set hot loops are compiled for, detected once at run
//!   time and capped by the environment variable `PROBE_CPU_ISA` ([`isa()`], [`supported_isas`],
//!   [`Isa`]).
//! * [`isa_dispatch!`] — a hot loop's body compiled for each [`Isa`] and dispatched on it.
//! * [`exp`](mod@exp) — a branch-free `exp` of an `f64` ([`exp()`]) that vectorises and gives
//!   bit-identical results at every instruction set.
//!
//! It is a crate of its own so that the training crate does not depend on the estimators crate
//! (nor the other way round) just to share these few low-level pieces: both depend on this leaf,
//! which depends on nothing.
//!
//! ```
//! let e = probe_simd::exp(1.0);
//! assert!((e - std::f64::consts::E).abs() <= f64::EPSILON * e);
//! assert!(probe_simd::supported_isas().contains(&probe_simd::isa()));
//! ```

#![warn(missing_docs)]

pub mod dispatch;
pub mod exp;
pub mod isa;

pub use exp::exp;
pub use isa::{isa, supported_isas, Isa};
