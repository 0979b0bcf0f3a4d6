//! Classification data sets held in memory: the 12-bit Tishby set, MNIST-format IDX files,
//! CIFAR-10's binary batches, array files (`.npz`, `.safetensors`), train/test splits and
//! per-channel normalisation.
//!
//! A [`Dataset`] is row-major features `x: [n, d]` in `f32` and labels `y: [n]` in `0..classes`.
//! Image data sets are flattened channel-major, `d = channels * rows * cols`, and remember
//! `image_shape = Some((rows, cols))`; [`Dataset::channels`] is `d / (rows * cols)` (1 for MNIST
//! and Fashion-MNIST, 3 for CIFAR-10). IDX and CIFAR-10 pixels are scaled to `[0, 1]`.
//!
//! | module | reads |
//! | --- | --- |
//! | `idx` | MNIST-format IDX files ([`load_mnist_dir`]) |
//! | `cifar` | CIFAR-10 binary batches ([`load_cifar10_dir`]) |
//! | `arrays` | features and labels from an `.npz` or `.safetensors` file ([`load_arrays`]) |
//! | `npz`, `npy`, `array` | the zip and `.npy` formats and the typed arrays they hold |
//! | `normalize` | per-channel mean/std from the training set ([`channel_stats`]) |
//!
//! ```
//! use probe_train::data::{split, tishby12, SplitSpec};
//! let ds = tishby12(); // [4096, 12], 2 classes
//! assert_eq!((ds.n, ds.d, ds.classes), (4096, 12, 2));
//! // IDNNs protocol: the first 80% of the rows (3277) train, the rest test.
//! let (train, test) = split(&ds, &SplitSpec::Ordered { train_fraction: 0.8 }).unwrap();
//! assert_eq!((train.n, test.n), (3277, 819));
//! ```
//!
//! Loading MNIST-format files from a directory (raw or `.gz`):
//!
//! ```no_run
//! use probe_train::data::load_mnist_dir;
//! let splits = load_mnist_dir("datasets/fashion-mnist-subset".as_ref(), "fashion-mnist-subset")?;
//! assert_eq!(splits.train.d, 784);
//! # Ok::<(), probe_train::data::DataError>(())
//! ```

mod array;
mod arrays;
mod cifar;
mod error;
mod idx;
mod normalize;
mod npy;
mod npz;
mod split;
mod tishby;

pub use array::{BadValue, ElemType, RawArray, MAX_CLASSES};
pub use arrays::{load_arrays, ArrayKeys, ArrayLayout, ArraySplits};
pub use cifar::{load_cifar10_dir, CIFAR10_ARCHIVE_DIR, CIFAR10_FILES, CIFAR10_RECORD};
pub use error::DataError;
pub use idx::{
    load_mnist_dir, read_idx_images, read_idx_labels, IdxImages, MnistSplits, MAX_IDX_DATA_BYTES,
    MNIST_FILES,
};
pub use normalize::{channel_stats, normalize_channels, ChannelStats};
pub use npy::parse_npy;
pub use npz::Npz;
pub use split::{split, split_indices, SplitSpec};
pub use tishby::{tishby12, tishby12_label, TISHBY12_BITS};

use std::path::PathBuf;

/// Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST.
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The `datasets/` folder of the source checkout this crate was built from.
///
/// It holds the committed Fashion-MNIST subset (`fashion-mnist-subset/`) and is where MNIST is
/// expected (`mnist/`, or the subset `scripts/get_mnist.sh` builds in `mnist-subset/`). The path is fixed at compile time, so it is only meaningful when running
/// from a source checkout (tests, `cargo run`); installed binaries should take a path instead.
pub fn source_datasets_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets")
}

/// An in-memory classification data set: row-major features `[n, d]` in `f32`, labels in
/// `0..classes`.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// Human-readable name, e.g. `tishby12` or `fashion-mnist-subset-train`.
    pub name: String,
    /// Features, row-major `[n, d]`.
    pub x: Vec<f32>,
    /// Labels `[n]`, each in `0..classes`.
    pub y: Vec<u32>,
    /// Number of rows (examples).
    pub n: usize,
    /// Number of features per row.
    pub d: usize,
    /// Number of classes; labels lie in `0..classes`.
    pub classes: usize,
    /// `(rows, cols)` of each image channel for image data (`d = channels * rows * cols`,
    /// channel-major), `None` otherwise.
    pub image_shape: Option<(usize, usize)>,
}

impl Dataset {
    /// Image channels: `d / (rows * cols)` for image data (1 for MNIST, 3 for CIFAR-10), 1
    /// otherwise.
    pub fn channels(&self) -> usize {
        match self.image_shape {
            Some((h, w)) if h * w > 0 => self.d / (h * w),
            _ => 1,
        }
    }

    /// The features of row `i`, a slice of length `d`.
    ///
    /// # Panics
    /// If `i >= n`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.x[i * self.d..(i + 1) * self.d]
    }

    /// A new data set holding the rows `idx`, in that order (repeats allowed). The name, `d`,
    /// `classes` and `image_shape` are kept.
    ///
    /// # Panics
    /// If any index is `>= n`, like slice indexing; indices come from the program, not from files.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        let mut x = Vec::with_capacity(idx.len() * self.d);
        let mut y = Vec::with_capacity(idx.len());
        for &i in idx {
            x.extend_from_slice(self.row(i));
            y.push(self.y[i]);
        }
        Dataset {
            name: self.name.clone(),
            x,
            y,
            n: idx.len(),
            d: self.d,
            classes: self.classes,
            image_shape: self.image_shape,
        }
    }

    /// Number of rows with each label, `[classes]`. Labels `>= classes` (which a well-formed data
    /// set never has) are not counted.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0usize; self.classes];
        for &label in &self.y {
            if let Some(c) = counts.get_mut(label as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// Plug-in entropy of the empirical label distribution, H(Y) in **bits**. 0 for an empty set.
    ///
    /// For `tishby12()` this is 0.99916 bits, which is also I(X;Y) since y is a function of x.
    pub fn label_entropy_bits(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let n = self.n as f64;
        self.class_counts()
            .into_iter()
            .filter(|&c| c > 0)
            .map(|c| {
                let p = c as f64 / n;
                -p * p.log2()
            })
            .sum()
    }
}
