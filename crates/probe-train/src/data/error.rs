//! The error type of the data module.
//!
//! Every variant names the file (or, for splits, the data set) it is about, says what was expected
//! and what was found, and where it helps, how to fix it. Underlying I/O and gzip errors are kept as
//! the `source()` so that a caller printing the whole chain (`{:#}` with anyhow) shows them.
//!
//! ```
//! use probe_train::data::{read_idx_labels, DataError};
//! let err = read_idx_labels(std::path::Path::new("/no/such/file")).unwrap_err();
//! assert!(matches!(err, DataError::Io { .. }));
//! assert!(err.to_string().contains("/no/such/file"));
//! ```

use std::path::PathBuf;

/// Anything that can go wrong while loading or splitting a data set.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file being read.
        path: PathBuf,
        /// The operating-system error.
        #[source]
        source: std::io::Error,
    },

    /// The file starts with the gzip magic bytes but does not decompress.
    #[error(
        "file {} starts with the gzip magic bytes 0x1f 0x8b but its compressed stream is corrupt \
         or truncated; the download is probably incomplete, fetch the file again",
        path.display()
    )]
    Gzip {
        /// The compressed file.
        path: PathBuf,
        /// The decompressor's error.
        #[source]
        source: std::io::Error,
    },

    /// The first two bytes are not zero, so this is not an IDX file.
    #[error(
        "file {} is not an IDX file: it should start with two zero bytes, found {:#04x} {:#04x}",
        path.display(), found[0], found[1]
    )]
    BadMagic {
        /// The file.
        path: PathBuf,
        /// The first two bytes found.
        found: [u8; 2],
    },

    /// The IDX type byte is not 0x08 (unsigned byte).
    #[error(
        "file {} has IDX element type {type_byte:#04x}; only unsigned-byte IDX (type 0x08, as \
         used by MNIST and Fashion-MNIST) is supported",
        path.display()
    )]
    UnsupportedType {
        /// The file.
        path: PathBuf,
        /// The type byte found (third byte of the file).
        type_byte: u8,
    },

    /// The IDX file has the wrong number of dimensions for what was asked.
    #[error(
        "file {} has {found} dimensions but {what} files have {expected}; is it the right file?",
        path.display()
    )]
    WrongRank {
        /// The file.
        path: PathBuf,
        /// "image" or "label".
        what: &'static str,
        /// Number of dimensions expected.
        expected: usize,
        /// Number of dimensions in the header.
        found: usize,
    },

    /// The file ends inside its header.
    #[error(
        "file {} is truncated: it ends inside its IDX header ({found} of {expected} header bytes)",
        path.display()
    )]
    TruncatedHeader {
        /// The file.
        path: PathBuf,
        /// Header length implied by the dimension count.
        expected: usize,
        /// Bytes actually present.
        found: usize,
    },

    /// The header promises more data than the file holds.
    #[error(
        "file {} is truncated: header says {expected} bytes of data, found {found}; fetch the \
         file again",
        path.display()
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// Data bytes implied by the header dimensions.
        expected: u64,
        /// Data bytes present.
        found: u64,
    },

    /// The file holds more bytes than its header accounts for.
    #[error(
        "file {} has {extra} trailing bytes after the {expected} bytes of data its header \
         describes; it is corrupt or not an IDX file",
        path.display()
    )]
    TrailingBytes {
        /// The file.
        path: PathBuf,
        /// Data bytes implied by the header dimensions.
        expected: u64,
        /// Bytes found after them.
        extra: u64,
    },

    /// The header implies an implausibly large payload.
    #[error(
        "file {} claims dimensions {dims:?}, i.e. {bytes} bytes of data, over the {limit}-byte \
         limit; the header is corrupt",
        path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Dimensions from the header.
        dims: Vec<u32>,
        /// Product of the dimensions (saturating).
        bytes: u64,
        /// The limit applied.
        limit: u64,
    },

    /// An image file and its label file disagree on the number of items.
    #[error(
        "image file {} holds {n_images} images but label file {} holds {n_labels} labels; the two \
         files must come from the same split",
        images.display(), labels.display()
    )]
    CountMismatch {
        /// The image file.
        images: PathBuf,
        /// Number of images in it.
        n_images: usize,
        /// The label file.
        labels: PathBuf,
        /// Number of labels in it.
        n_labels: usize,
    },

    /// Training and test images have different sizes.
    #[error(
        "training images in {} are {}x{} but test images in {} are {}x{}; both splits must come \
         from the same data set",
        train.display(), train_shape.0, train_shape.1, test.display(), test_shape.0, test_shape.1
    )]
    ShapeMismatch {
        /// The training image file.
        train: PathBuf,
        /// (rows, cols) of the training images.
        train_shape: (usize, usize),
        /// The test image file.
        test: PathBuf,
        /// (rows, cols) of the test images.
        test_shape: (usize, usize),
    },

    /// One or more of the four MNIST-format files are missing from a directory.
    #[error(
        "data set directory {}{} lacks {}; each file may be raw or gzip-compressed (name + .gz). \
         See datasets/README.md for where to get them",
        dir.display(),
        if *dir_exists { "" } else { " (which does not exist)" },
        missing.join(", ")
    )]
    MissingFiles {
        /// The directory searched.
        dir: PathBuf,
        /// Whether the directory exists at all.
        dir_exists: bool,
        /// Every missing file name (without `.gz`).
        missing: Vec<String>,
    },

    /// A train/test split was asked for with an unusable fraction.
    #[error(
        "cannot split data set `{dataset}` ({n} rows) with train fraction {fraction}: {reason}"
    )]
    InvalidSplit {
        /// Name of the data set being split.
        dataset: String,
        /// Number of rows in it.
        n: usize,
        /// The requested fraction.
        fraction: f64,
        /// What is wrong.
        reason: String,
    },
}
