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

    /// A data set's `path` is a file where a directory of files is expected.
    #[error(
        "data set path {} is a file; expected the directory that holds the data set's files \
         (e.g. train-images-idx3-ubyte.gz …): set `data.path` to its directory",
        path.display()
    )]
    NotADirectory {
        /// The path given.
        path: PathBuf,
    },

    /// A file of a data set holds no samples.
    #[error("{} holds 0 {what}; a data set needs at least one training and one test sample", path.display())]
    EmptyFile {
        /// The file.
        path: PathBuf,
        /// What it should hold (`images`, `labels`).
        what: &'static str,
    },

    /// A label outside the classes of the data set.
    #[error(
        "{} has label {value} at index {index}; expected a class in 0..{classes} ({why}); the file \
         is damaged or is not this data set's labels",
        path.display()
    )]
    LabelOutOfRange {
        /// The label file.
        path: PathBuf,
        /// The label's index in the file.
        index: usize,
        /// The label.
        value: u32,
        /// The number of classes.
        classes: usize,
        /// Where the number of classes comes from.
        why: String,
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

    /// One or more files of a data set stored as a fixed set of files (CIFAR-10) are missing.
    #[error(
        "data set directory {}{} lacks {}; {hint}",
        dir.display(),
        if *dir_exists { "" } else { " (which does not exist)" },
        missing.join(", ")
    )]
    MissingDataFiles {
        /// The directory searched.
        dir: PathBuf,
        /// Whether the directory exists at all.
        dir_exists: bool,
        /// Every missing file name.
        missing: Vec<String>,
        /// Where to get them.
        hint: &'static str,
    },

    /// A CIFAR-10 binary batch is not a whole number of 3073-byte records.
    #[error(
        "file {} is {len} bytes, not a whole number of 3073-byte CIFAR-10 records (1 label byte + \
         3 x 32 x 32 pixels); is it the binary version (cifar-10-binary.tar.gz), complete?",
        path.display()
    )]
    CifarRecordSize {
        /// The batch file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
    },

    /// A label of a CIFAR-10 binary batch is not in `0..=9`.
    #[error(
        "file {} record {record} has label {value}; CIFAR-10 labels are 0..=9 (is it a CIFAR-100 \
         file, whose records have 2 label bytes?)",
        path.display()
    )]
    CifarLabel {
        /// The batch file.
        path: PathBuf,
        /// Index of the record in the file.
        record: usize,
        /// The label byte found.
        value: u8,
    },

    /// An array file is neither a zip archive (`.npz`) nor a safetensors file.
    #[error(
        "file {} is neither an .npz (zip) archive nor a .safetensors file (first bytes {found:02x?}); \
         save the arrays with numpy.savez / numpy.savez_compressed or safetensors' save_file",
        path.display()
    )]
    UnknownArrayFormat {
        /// The file.
        path: PathBuf,
        /// Its first (up to 8) bytes.
        found: Vec<u8>,
    },

    /// An `.npz` file's zip structure is broken or uses what the reader does not support.
    #[error("file {}{}: {reason}", path.display(), member.as_ref().map(|m| format!(", member {m}")).unwrap_or_default())]
    Zip {
        /// The archive.
        path: PathBuf,
        /// The archive member concerned, if any.
        member: Option<String>,
        /// What is wrong.
        reason: String,
    },

    /// An array (an `.npy` member or a safetensors tensor) is malformed or unsupported.
    #[error("array `{key}` in {}: {reason}", path.display())]
    BadArray {
        /// The file.
        path: PathBuf,
        /// The array's key.
        key: String,
        /// What is wrong.
        reason: String,
    },

    /// The file has no array under a key the data set needs.
    #[error(
        "file {} has no array `{key}` (set by `{option}`); it holds: {}",
        path.display(),
        if available.is_empty() { "nothing".to_string() } else { available.join(", ") }
    )]
    MissingKey {
        /// The file.
        path: PathBuf,
        /// The key looked for.
        key: String,
        /// The option that names this key, e.g. `data.keys.x_train`.
        option: &'static str,
        /// The keys the file holds.
        available: Vec<String>,
    },

    /// Features and labels (or train and test features) of an array file do not fit together.
    #[error("file {}: {reason}", path.display())]
    ArrayMismatch {
        /// The file.
        path: PathBuf,
        /// What does not fit, naming both keys and their shapes.
        reason: String,
    },

    /// A feature value is NaN or infinite (or too large for `f32`).
    #[error(
        "array `{key}` in {} has the value {value:?} at sample {sample}, feature {feature}: \
         {reason}; features must be finite f32 values",
        path.display()
    )]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// The array's key.
        key: String,
        /// Sample (first axis) index.
        sample: usize,
        /// Index of the value within the flattened sample.
        feature: usize,
        /// The value as stored, widened to `f64` (a finite value too large for `f32` shows as
        /// itself).
        value: f64,
        /// `not finite` or `too large for f32`.
        reason: &'static str,
    },

    /// A label is negative, too large, or not an integer.
    #[error("array `{key}` in {} has label {value} at index {index}: {reason}", path.display())]
    BadLabel {
        /// The file.
        path: PathBuf,
        /// The array's key.
        key: String,
        /// The label's index.
        index: usize,
        /// The label as stored.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// A data set has no training samples.
    #[error("{what} has no training samples")]
    Empty {
        /// The file or directory, in words.
        what: String,
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
