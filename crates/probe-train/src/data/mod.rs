//! Classification data sets held in memory: the 12-bit Tishby set, MNIST-format IDX files, and
//! train/test splits.
//!
//! A [`Dataset`] is row-major features `x: [n, d]` in `f32` and labels `y: [n]` in `0..classes`.
//! Image data sets (MNIST, Fashion-MNIST) are flattened to `d = rows * cols` with pixel values
//! scaled to `[0, 1]` and remember `image_shape = Some((rows, cols))`.
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

mod error;
mod idx;
mod split;
mod tishby;

pub use error::DataError;
pub use idx::{
    load_mnist_dir, read_idx_images, read_idx_labels, IdxImages, MnistSplits, MAX_IDX_DATA_BYTES,
    MNIST_FILES,
};
pub use split::{split, split_indices, SplitSpec};
pub use tishby::{tishby12, tishby12_label, TISHBY12_BITS};

use std::path::PathBuf;

/// Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST.
pub const FASHION_MNIST_DEBIAN_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// The `datasets/` folder of the source checkout this crate was built from.
///
/// It holds the committed Fashion-MNIST subset (`fashion-mnist-subset/`) and is where MNIST is
/// expected (`mnist/`). The path is fixed at compile time, so it is only meaningful when running
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
    /// `(rows, cols)` of each image for image data (`rows * cols == d`), `None` otherwise.
    pub image_shape: Option<(usize, usize)>,
}

impl Dataset {
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
