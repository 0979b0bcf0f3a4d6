//! Reading MNIST-format IDX files (raw or gzip-compressed) into [`Dataset`]s.
//!
//! IDX layout: two zero bytes, a type byte (only `0x08`, unsigned byte, is supported), a byte with
//! the number of dimensions, then that many big-endian `u32` sizes, then the data, row-major.
//! Images are `[n, rows, cols]` (3 dimensions), labels `[n]` (1 dimension). A file is treated as
//! gzip when it starts with the magic bytes `0x1f 0x8b`, whatever its name. The file must hold
//! exactly the bytes its header describes: missing or trailing bytes are errors.
//!
//! ```no_run
//! use probe_train::data::{read_idx_images, read_idx_labels};
//! use std::path::Path;
//! let images = read_idx_images(Path::new("datasets/mnist/train-images-idx3-ubyte.gz"))?;
//! let labels = read_idx_labels(Path::new("datasets/mnist/train-labels-idx1-ubyte.gz"))?;
//! assert_eq!(images.pixels.len(), images.n * images.rows * images.cols); // [n, rows*cols], in [0,1]
//! assert_eq!(labels.len(), images.n);
//! # Ok::<(), probe_train::data::DataError>(())
//! ```

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;

use super::{DataError, Dataset};

/// Largest data payload an IDX header may describe: 4 GiB. Full MNIST training images are 47 MB.
pub const MAX_IDX_DATA_BYTES: u64 = 4 << 30;

/// The four file names `load_mnist_dir` looks for, each optionally with a `.gz` suffix:
/// training images, training labels, test images, test labels.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Images read from an IDX file: `pixels` is `[n, rows * cols]`, row-major, each byte / 255.
#[derive(Clone, Debug)]
pub struct IdxImages {
    /// Number of images.
    pub n: usize,
    /// Image height in pixels.
    pub rows: usize,
    /// Image width in pixels.
    pub cols: usize,
    /// Pixel values in `[0, 1]`, `[n, rows * cols]`.
    pub pixels: Vec<f32>,
}

/// The training and test splits of an MNIST-format data set.
#[derive(Clone, Debug)]
pub struct MnistSplits {
    /// The `train-*` files, named `{name}-train`.
    pub train: Dataset,
    /// The `t10k-*` files, named `{name}-test`.
    pub test: Dataset,
}

/// A byte source that remembers whether it is a gzip stream, to blame read errors correctly.
struct IdxReader {
    path: PathBuf,
    gz: bool,
    inner: Box<dyn Read>,
}

impl IdxReader {
    fn open(path: &Path) -> Result<Self, DataError> {
        let io_err = |source| DataError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(io_err)?;
        let mut buf = BufReader::new(file);
        let gz = buf.fill_buf().map_err(io_err)?.starts_with(&[0x1f, 0x8b]);
        let inner: Box<dyn Read> = if gz {
            Box::new(MultiGzDecoder::new(buf))
        } else {
            Box::new(buf)
        };
        Ok(Self {
            path: path.to_path_buf(),
            gz,
            inner,
        })
    }

    fn err(&self, source: io::Error) -> DataError {
        let path = self.path.clone();
        if self.gz {
            DataError::Gzip { path, source }
        } else {
            DataError::Io { path, source }
        }
    }

    /// Reads up to `limit` bytes into `out`; returns how many were read (fewer only at the end).
    fn read_up_to(&mut self, limit: u64, out: &mut Vec<u8>) -> Result<u64, DataError> {
        let mut take = (&mut self.inner).take(limit);
        take.read_to_end(out)
            .map(|k| k as u64)
            .map_err(|e| self.err(e))
    }

    /// Counts (and discards) the bytes left, stopping after `limit`.
    fn count_rest(&mut self, limit: u64) -> Result<u64, DataError> {
        let mut take = (&mut self.inner).take(limit);
        io::copy(&mut take, &mut io::sink()).map_err(|e| self.err(e))
    }
}

/// Reads an unsigned-byte IDX file with `ndim` dimensions; returns its dimensions and data.
fn read_idx_u8(
    path: &Path,
    ndim: usize,
    what: &'static str,
) -> Result<(Vec<usize>, Vec<u8>), DataError> {
    let mut r = IdxReader::open(path)?;
    let p = || path.to_path_buf();

    let mut head = Vec::with_capacity(4);
    let got = r.read_up_to(4, &mut head)? as usize;
    // Check the magic before the length, so that a short non-IDX file is reported as such.
    if got >= 2 && (head[0], head[1]) != (0, 0) {
        return Err(DataError::BadMagic {
            path: p(),
            found: [head[0], head[1]],
        });
    }
    if got < 4 {
        return Err(DataError::TruncatedHeader {
            path: p(),
            expected: 4,
            found: got,
        });
    }
    if head[2] != 0x08 {
        return Err(DataError::UnsupportedType {
            path: p(),
            type_byte: head[2],
        });
    }
    let found_ndim = head[3] as usize;
    if found_ndim != ndim {
        return Err(DataError::WrongRank {
            path: p(),
            what,
            expected: ndim,
            found: found_ndim,
        });
    }

    let mut dims_raw = Vec::with_capacity(4 * ndim);
    let got = r.read_up_to(4 * ndim as u64, &mut dims_raw)? as usize;
    if got < 4 * ndim {
        return Err(DataError::TruncatedHeader {
            path: p(),
            expected: 4 + 4 * ndim,
            found: 4 + got,
        });
    }
    let dims: Vec<u32> = dims_raw
        .chunks_exact(4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let bytes = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(u64::from(d)))
        .unwrap_or(u64::MAX);
    if bytes > MAX_IDX_DATA_BYTES {
        return Err(DataError::TooLarge {
            path: p(),
            dims,
            bytes,
            limit: MAX_IDX_DATA_BYTES,
        });
    }

    // Grow the buffer as data arrives rather than trusting the header with one big allocation;
    // reserve at most 64 MiB up front (full MNIST training images are 47 MB).
    let mut data = Vec::with_capacity(bytes.min(64 << 20) as usize);
    let found = r.read_up_to(bytes, &mut data)?;
    if found < bytes {
        return Err(DataError::Truncated {
            path: p(),
            expected: bytes,
            found,
        });
    }
    let extra = r.count_rest(MAX_IDX_DATA_BYTES)?;
    if extra > 0 {
        return Err(DataError::TrailingBytes {
            path: p(),
            expected: bytes,
            extra,
        });
    }
    // bytes <= 4 GiB, so every dimension fits in usize on 64-bit targets; on 32-bit targets the
    // allocation above would already have failed for anything that does not.
    Ok((dims.into_iter().map(|d| d as usize).collect(), data))
}

/// Reads an IDX image file (`[n, rows, cols]`, unsigned bytes, raw or gzip) into `f32` pixels
/// scaled by 1/255, flattened to `[n, rows * cols]`.
pub fn read_idx_images(path: &Path) -> Result<IdxImages, DataError> {
    let (dims, data) = read_idx_u8(path, 3, "image")?;
    Ok(IdxImages {
        n: dims[0],
        rows: dims[1],
        cols: dims[2],
        pixels: data.into_iter().map(|b| f32::from(b) / 255.0).collect(),
    })
}

/// Reads an IDX label file (`[n]`, unsigned bytes, raw or gzip).
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    read_idx_u8(path, 1, "label").map(|(_, data)| data)
}

/// Finds `stem` in `dir`, preferring the raw file over `stem.gz` when both exist (no decompression).
fn find_file(dir: &Path, stem: &str) -> Option<PathBuf> {
    [stem.to_string(), format!("{stem}.gz")]
        .into_iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
}

/// Reads one split (images + labels) into a data set; `classes` is filled in by the caller.
fn load_split(images: &Path, labels: &Path, name: String) -> Result<Dataset, DataError> {
    let img = read_idx_images(images)?;
    let lab = read_idx_labels(labels)?;
    if img.n == 0 {
        return Err(DataError::EmptyFile {
            path: images.to_path_buf(),
            what: "images",
        });
    }
    if img.n != lab.len() {
        return Err(DataError::CountMismatch {
            images: images.to_path_buf(),
            n_images: img.n,
            labels: labels.to_path_buf(),
            n_labels: lab.len(),
        });
    }
    Ok(Dataset {
        name,
        x: img.pixels,
        y: lab.into_iter().map(u32::from).collect(),
        n: img.n,
        d: img.rows * img.cols,
        classes: 0,
        image_shape: Some((img.rows, img.cols)),
    })
}

/// The data sets whose files hold the 10 classes of MNIST or Fashion-MNIST.
const TEN_CLASS_SETS: [&str; 4] = [
    "mnist",
    "mnist-subset",
    "fashion-mnist",
    "fashion-mnist-subset",
];

/// Loads an MNIST-format data set from `dir`: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
/// `t10k-images-idx3-ubyte` and `t10k-labels-idx1-ubyte`, each raw or with `.gz` (the raw file wins
/// if both exist). The splits are named `{name}-train` and `{name}-test`. `classes` is 10 for
/// MNIST and Fashion-MNIST (`name` one of theirs), else one more than the largest training label;
/// a label outside the classes is an error naming its file, index and value, and so is a file
/// with no images.
///
/// If any file is missing, one [`DataError::MissingFiles`] lists all of them.
pub fn load_mnist_dir(dir: &Path, name: &str) -> Result<MnistSplits, DataError> {
    if dir.is_file() {
        return Err(DataError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let mut paths = Vec::with_capacity(MNIST_FILES.len());
    let mut missing = Vec::new();
    for stem in MNIST_FILES {
        match find_file(dir, stem) {
            Some(path) => paths.push(path),
            None => missing.push(stem.to_string()),
        }
    }
    let [train_img, train_lab, test_img, test_lab] = paths.as_slice() else {
        return Err(DataError::MissingFiles {
            dir: dir.to_path_buf(),
            dir_exists: dir.is_dir(),
            missing,
        });
    };

    let mut train = load_split(train_img, train_lab, format!("{name}-train"))?;
    let mut test = load_split(test_img, test_lab, format!("{name}-test"))?;
    if train.image_shape != test.image_shape {
        return Err(DataError::ShapeMismatch {
            train: train_img.clone(),
            train_shape: train.image_shape.unwrap_or_default(),
            test: test_img.clone(),
            test_shape: test.image_shape.unwrap_or_default(),
        });
    }
    let (classes, why) = match TEN_CLASS_SETS.contains(&name) {
        true => (10, format!("{name} has 10 classes")),
        false => {
            let max = train.y.iter().max().map_or(0, |&m| m as usize);
            (max + 1, format!("the largest training label is {max}"))
        }
    };
    for (labels, ds) in [(train_lab, &train), (test_lab, &test)] {
        if let Some(index) = ds.y.iter().position(|&y| y as usize >= classes) {
            return Err(DataError::LabelOutOfRange {
                path: labels.clone(),
                index,
                value: ds.y[index],
                classes,
                why,
            });
        }
    }
    train.classes = classes;
    test.classes = classes;
    Ok(MnistSplits { train, test })
}
