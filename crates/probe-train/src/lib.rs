//! Training: data sets, models with hook points, optimisers, the training loop and checkpoints.
//!
//! Everything runs on a candle [`Device`](candle_core::Device) (CPU, or CUDA with the `cuda`
//! feature). All randomness (initialisation, shuffling) comes from seeded ChaCha streams on the
//! host, so on the CPU the same seed gives bit-identical runs.
#![warn(missing_docs)]

pub mod checkpoint;
pub mod data;
pub mod ensemble;
mod error;
pub mod fused;
pub mod gradients;
pub mod malloc;
pub mod model;
pub mod optim;
pub mod rng;
pub mod threads;
pub mod trainer;
pub mod vib;

pub use error::{Error, Result};
