//! Per-channel standardisation: `x ← (x − mean_c) / std_c`, with the mean and standard deviation
//! of each channel taken from the training set and applied to every split.
//!
//! Channels: for image data (`image_shape = Some((h, w))`) a channel is one of the
//! `d / (h·w)` planes of `h·w` consecutive values of a row (CIFAR-10: R, G, B; MNIST: one); for
//! other data every feature is its own channel (per-feature standardisation). Statistics are
//! accumulated in `f64`; `std` is the population standard deviation (divisor N, as numpy's
//! `x.std()`). A channel with `std == 0` (constant in the training set) is only centred.
//!
//! ```
//! use probe_train::data::{channel_stats, normalize_channels, Dataset};
//! let mut ds = Dataset { name: "toy".into(), x: vec![1.0, 10.0, 3.0, 30.0], y: vec![0, 1],
//!                        n: 2, d: 2, classes: 2, image_shape: None };
//! let stats = channel_stats(&ds);
//! assert_eq!((stats.mean.clone(), stats.std.clone()), (vec![2.0, 20.0], vec![1.0, 10.0]));
//! normalize_channels(&mut ds, &stats);
//! assert_eq!(ds.x, vec![-1.0, -1.0, 1.0, 1.0]);
//! ```

use super::Dataset;

/// Mean and standard deviation of each channel (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelStats {
    /// Mean per channel.
    pub mean: Vec<f64>,
    /// Population standard deviation per channel (0 for a constant channel).
    pub std: Vec<f64>,
}

/// (channels, values per channel) of a row of `ds`.
fn layout(ds: &Dataset) -> (usize, usize) {
    match ds.image_shape {
        Some((h, w)) if h * w > 0 && ds.d.is_multiple_of(h * w) => (ds.d / (h * w), h * w),
        _ => (ds.d, 1),
    }
}

/// The per-channel statistics of `ds` (normally the training set).
pub fn channel_stats(ds: &Dataset) -> ChannelStats {
    let (c, plane) = layout(ds);
    let mut sum = vec![0.0f64; c];
    for i in 0..ds.n {
        for (ch, vals) in ds.row(i).chunks_exact(plane).enumerate() {
            sum[ch] += vals.iter().map(|&v| f64::from(v)).sum::<f64>();
        }
    }
    let count = (ds.n * plane).max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / count).collect();
    // Second pass about the mean: no cancellation for large offsets (raw 0..255 pixels).
    let mut sq = vec![0.0f64; c];
    for i in 0..ds.n {
        for (ch, vals) in ds.row(i).chunks_exact(plane).enumerate() {
            sq[ch] += vals
                .iter()
                .map(|&v| (f64::from(v) - mean[ch]).powi(2))
                .sum::<f64>();
        }
    }
    let std = sq.iter().map(|s| (s / count).sqrt()).collect();
    ChannelStats { mean, std }
}

/// Standardises `ds` in place with `stats` (from the training set, also for the test set).
///
/// # Panics
/// If `stats` has another number of channels than `ds` (statistics of another data set).
pub fn normalize_channels(ds: &mut Dataset, stats: &ChannelStats) {
    let (c, plane) = layout(ds);
    assert_eq!(
        stats.mean.len(),
        c,
        "channel statistics of another data set"
    );
    let d = ds.d;
    for row in ds.x.chunks_exact_mut(d.max(1)) {
        for (ch, vals) in row.chunks_exact_mut(plane).enumerate() {
            let m = stats.mean[ch];
            let s = if stats.std[ch] > 0.0 {
                stats.std[ch]
            } else {
                1.0
            };
            for v in vals {
                *v = ((f64::from(*v) - m) / s) as f32;
            }
        }
    }
}
