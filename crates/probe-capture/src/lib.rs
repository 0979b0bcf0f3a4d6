//! Capture: named hook points, the activation cache that records them, the representations that
//! turn a captured tensor into an estimator's rows, and the schedules that decide on which epochs a
//! run measures.
//!
//! A hook point is an identity at a named place in a model (TransformerLens's idea): the model calls
//! [`ActivationCache::hook`] with the name and the tensor, and the cache keeps the tensor — on the
//! model's device, never copied to the host — only if the name passes the cache's [`NameFilter`].
//!
//! ```
//! use probe_capture::{ActivationCache, NameFilter};
//! use candle_core::{Device, Tensor};
//! let filter = NameFilter::new(&["layers.*.hook_post".to_string()]).unwrap();
//! let mut cache = ActivationCache::new(filter);
//! let t = Tensor::zeros((4, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
//! cache.hook("layers.0.hook_pre", &t).unwrap();
//! cache.hook("layers.0.hook_post", &t).unwrap();
//! assert_eq!(cache.names(), vec!["layers.0.hook_post"]);
//! ```
#![warn(missing_docs)]

mod cache;
mod error;
mod filter;
mod represent;
mod schedule;

pub use cache::ActivationCache;
pub use error::{Error, Result};
pub use filter::NameFilter;
pub use represent::{projection, Representation, Representations, REPRESENTATIONS};
pub use schedule::{Planned, Schedule};
