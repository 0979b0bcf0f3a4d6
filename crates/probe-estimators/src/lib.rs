//! Information estimators for probe: entropies and mutual information, in **bits**.
//!
//! * [`binning`] — how an activation value becomes a bin ([`Binning::Fixed`] as in Shwartz-Ziv &
//!   Tishby's IDNNs code, with out-of-range values clamped; [`Binning::Floor`] as in Saxe et al.;
//!   [`Binning::Adaptive`], equal-mass bins as in Chelombiev et al.).
//! * [`adaptive`] — the adaptive edges of a layer ([`adaptive_edges`]) and the explicit edge-array
//!   rule ([`EdgeBins`]: bin = number of edges `<= x`).
//! * [`binned`] — exact symbol ids for rows of an `[n, d]` matrix ([`binned_symbols`],
//!   [`exact_symbols`]) and the binned information-plane coordinates `I(X;T)`, `I(T;Y)`
//!   ([`binned_mi`], [`binned_mi_tensor`]).
//! * [`counts`] — the entropy terms of a binned estimate ([`BinnedCounts`]) and per-neuron
//!   histograms ([`NeuronHistograms`]): what the CUDA kernels return (feature `cuda`, module
//!   `cuda`), and their CPU reference.
//! * [`discrete`] — plug-in entropy, joint/conditional entropy and mutual information of `u32`
//!   symbol sequences.
//! * [`kde`] — Kolchinsky & Tracey's KDE upper and lower bounds on `I(X;T)` and `I(T;Y)`, computed in
//!   bounded-memory chunks of pairwise distances (candle ops, so they run on any candle device).
//! * [`knn`] — the Kraskov–Stögbauer–Grassberger k-nearest-neighbour estimator for
//!   low-dimensional representations; [`knn_labels`] — Ross's mixed form of it for `I(T;Y)` with
//!   discrete labels.
//! * [`flow`] — layer-to-layer information `I(A_l; A_{l+1})` (binned and KDE) and the bottleneck
//!   (the transition that loses the most).
//! * [`stats`] — per-layer activation statistics: per-neuron entropy, sparsity, saturation, dead
//!   units, mean surprisal.
//! * [`divergence`] — entropy, cross-entropy and KL divergence of discrete distributions and of
//!   diagonal Gaussians, in bits or nats (the VIB's differentiable KL loss is training code: it
//!   lives in `probe-train`).
//!
//! On top of these, what one measurement of a network runs:
//!
//! * [`spec`] — which estimator, with which parameters: [`RawEstimator`] (a config table or flags)
//!   validated into an [`EstimatorSpec`], errors naming the caller's key;
//! * [`layer`] — what a layer's activations are held in ([`Activations`]: a tensor, or host `f32`
//!   rows [`HostRows`] read in place);
//! * [`estimate`] — one layer under one [`NamedEstimator`] ([`estimate_layer`] → [`Estimate`]);
//! * [`extras`] — the flow between consecutive layers with its bottleneck ([`Flow`]) and the
//!   per-layer statistics ([`Stats`]) of a measurement ([`extras_all`]).
//!
//! The binned and kNN estimators run on the CPU; every function validates its input and returns
//! [`Error`] instead of panicking.
//!
//! ```
//! use probe_estimators::{binned_mi, exact_symbols, Binning};
//! // Identity layer on 4 distinct 2-bit inputs: I(X;T) = log2 4 = 2 bits.
//! let x = [0.0f32, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0];
//! let x_ids = exact_symbols(&x, 4, 2).unwrap().ids;
//! let mi = binned_mi(&x, 4, 2, &Binning::Fixed { lo: -1.0, hi: 1.0, edges: 30 }, &x_ids, &[0, 0, 1, 1]).unwrap();
//! assert_eq!(mi.i_xt, 2.0);
//! assert_eq!(mi.i_ty, 1.0);
//! ```

#![warn(missing_docs)]

pub mod adaptive;
mod bin_ids;
pub mod binned;
pub mod binning;
pub mod counts;
#[cfg(feature = "cuda")]
pub mod cuda;
pub mod discrete;
pub mod divergence;
pub mod error;
pub mod estimate;
pub mod extras;
pub mod flow;
pub mod kde;
mod kernel_plan;
mod keys;
pub mod knn;
pub mod knn_labels;
pub mod layer;
mod rows;
mod shape;
pub mod spec;
pub mod stats;
mod tally;
pub mod tensor;
#[cfg(test)]
mod test_values;

pub use adaptive::{adaptive_edges, EdgeBins};
pub use binned::{
    binned_mi, binned_mi_from_symbols, binned_symbols, exact_symbols, BinnedMi, Symbols,
};
pub use binning::{Binner, Binning};
pub use counts::{binned_counts, neuron_histograms, BinnedCounts, NeuronHistograms, TermRun};
pub use discrete::{
    conditional_entropy_bits, entropy_bits, entropy_from_counts, joint_entropy_bits,
    mutual_information_bits,
};
pub use divergence::{kl_diag_gaussian_std_normal_f64, Unit};
pub use error::{Error, Result};
pub use estimate::{estimate_layer, host_rows, Estimate, Samples};
pub use extras::{
    bottleneck_lines, extras_all, flows_with, stats_of_layer, ExtrasSpec, Flow, Stats,
    DEFAULT_SATURATION,
};
pub use flow::{
    binned_flow, binned_flow_from_symbols, binned_flow_tensor, bottleneck, kde_flow,
    kde_joint_entropy, BinnedFlow, KdeFlow,
};
#[doc(hidden)]
pub use kde::reference::kde_mi_reference;
pub use kde::{default_chunk_rows, kde_entropy, kde_mi, kde_mi_chunked, KdeEntropy, KdeMi};
pub use knn::{digamma, ksg_mi};
pub use knn_labels::ksg_mi_labels;
pub use layer::{Activations, HostRows, Layer};
pub use spec::{quoted, EstimatorSpec, NamedEstimator, RawEstimator, KINDS};
pub use stats::{layer_stats, layer_stats_tensor, LayerStats, NeuronEntropy};
pub use tensor::{binned_counts_tensor, binned_mi_tensor, neuron_histograms_tensor};
