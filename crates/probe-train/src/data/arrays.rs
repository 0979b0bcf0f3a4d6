//! Data sets from array files: an `.npz` (numpy) or `.safetensors` file holding features and
//! labels under four keys, by default `x_train`, `y_train`, `x_test`, `y_test` ([`ArrayKeys`]).
//!
//! Shapes and types:
//!
//! - features `[N, …]`: any bool, integer or float type, converted to `f32` as stored (no
//!   scaling: `uint8` pixels stay `0..=255`; see [`normalize_channels`](super::normalize_channels)).
//!   Each sample is flattened. `[N, H, W]` is a one-channel image, `[N, C, H, W]` an image of C
//!   channels (`image_shape = Some((H, W))`, `d = C·H·W`, channel-major), which the CNN,
//!   Transformer and RNN read through `model.image`; channels-last `[N, H, W, C]` (TensorFlow,
//!   Keras) is read with [`ArrayLayout::Nhwc`] and transposed to channel-major. `[N]` and `[N, D]`
//!   are plain features; rank 5 and above are flattened without an image shape.
//! - labels `[N]` or `[N, 1]`: an integer (or bool) type, class ids `0..MAX_CLASSES`.
//!   `classes` is one more than the largest label of either split.
//!
//! Validation names the file, the key and the value: a missing key (listing the keys the file
//! has), features and labels of different lengths, train and test samples of different shapes,
//! NaN/±inf features (with sample and feature index), negative or float labels (with index).
//!
//! The test arrays may be left out of the file: [`load_arrays`] then returns `test: None`, which a
//! caller can use with a split of the training arrays. The format is recognised by content: a
//! zip archive is an `.npz`, anything else must parse as safetensors.
//!
//! ```no_run
//! use probe_train::data::{load_arrays, ArrayKeys, ArrayLayout};
//! // numpy: np.savez("data.npz", x_train=x, y_train=y, x_test=xt, y_test=yt), x: [N, 3, 32, 32]
//! let s = load_arrays("data.npz".as_ref(), &ArrayKeys::default(), ArrayLayout::Nchw, "data")?;
//! assert_eq!(s.train.image_shape, Some((32, 32)));
//! assert_eq!(s.train.channels(), 3);
//! # Ok::<(), probe_train::data::DataError>(())
//! ```

use std::path::Path;

use safetensors::{Dtype, SafeTensors};

use super::array::{BadValue, ElemType, RawArray};
use super::npz::Npz;
use super::{DataError, Dataset};

/// The keys of the four arrays, and the config options that set them (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArrayKeys {
    /// Training features.
    pub x_train: String,
    /// Training labels.
    pub y_train: String,
    /// Test features.
    pub x_test: String,
    /// Test labels.
    pub y_test: String,
}

impl Default for ArrayKeys {
    fn default() -> Self {
        Self {
            x_train: "x_train".into(),
            y_train: "y_train".into(),
            x_test: "x_test".into(),
            y_test: "y_test".into(),
        }
    }
}

/// How four-dimensional feature arrays are laid out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ArrayLayout {
    /// `[N, C, H, W]` (PyTorch): channel-major, as probe's models read images.
    #[default]
    Nchw,
    /// `[N, H, W, C]` (TensorFlow, Keras): transposed to `[N, C, H, W]` when loaded.
    Nhwc,
}

/// The training set and, if the file has test arrays, the test set of an array file.
#[derive(Clone, Debug)]
pub struct ArraySplits {
    /// `{name}-train`.
    pub train: Dataset,
    /// `{name}-test`, or `None` when the file holds neither test key.
    pub test: Option<Dataset>,
}

/// An open array file of either format.
enum ArrayFile {
    Npz(Npz),
    Safetensors(Vec<u8>),
}

impl ArrayFile {
    fn open(path: &Path) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            return Ok(Self::Npz(Npz::from_bytes(path, bytes)?));
        }
        // safetensors: an 8-byte little-endian header length, then a JSON object.
        if bytes.len() >= 9 && bytes[8] == b'{' {
            if let Err(e) = SafeTensors::deserialize(&bytes) {
                return Err(DataError::BadArray {
                    path: path.to_path_buf(),
                    key: "(header)".into(),
                    reason: format!("not a valid safetensors file: {e}"),
                });
            }
            return Ok(Self::Safetensors(bytes));
        }
        Err(DataError::UnknownArrayFormat {
            path: path.to_path_buf(),
            found: bytes[..bytes.len().min(8)].to_vec(),
        })
    }

    fn keys(&self) -> Vec<String> {
        match self {
            Self::Npz(z) => z.keys(),
            Self::Safetensors(b) => {
                let mut names: Vec<String> = SafeTensors::deserialize(b)
                    .map(|st| st.names().into_iter().map(String::from).collect())
                    .unwrap_or_default();
                names.sort();
                names
            }
        }
    }

    fn array(&self, path: &Path, key: &str) -> Result<Option<RawArray>, DataError> {
        match self {
            Self::Npz(z) => z.array(key),
            Self::Safetensors(b) => {
                let bad = |reason: String| DataError::BadArray {
                    path: path.to_path_buf(),
                    key: key.to_string(),
                    reason,
                };
                let st = SafeTensors::deserialize(b)
                    .map_err(|e| bad(format!("not a valid safetensors file: {e}")))?;
                let Ok(view) = st.tensor(key) else {
                    return Ok(None);
                };
                let dtype = match view.dtype() {
                    Dtype::BOOL => ElemType::Bool,
                    Dtype::U8 => ElemType::U8,
                    Dtype::I8 => ElemType::I8,
                    Dtype::U16 => ElemType::U16,
                    Dtype::I16 => ElemType::I16,
                    Dtype::U32 => ElemType::U32,
                    Dtype::I32 => ElemType::I32,
                    Dtype::U64 => ElemType::U64,
                    Dtype::I64 => ElemType::I64,
                    Dtype::F16 => ElemType::F16,
                    Dtype::BF16 => ElemType::BF16,
                    Dtype::F32 => ElemType::F32,
                    Dtype::F64 => ElemType::F64,
                    other => {
                        return Err(bad(format!(
                            "dtype {other:?} is not supported; use a bool, integer, F16, BF16, F32 or F64 tensor"
                        )))
                    }
                };
                Ok(Some(RawArray::new(
                    dtype,
                    view.shape().to_vec(),
                    view.data().to_vec(),
                )))
            }
        }
    }
}

/// Reads one required array, naming the option that set its key when it is missing.
fn required(
    file: &ArrayFile,
    path: &Path,
    key: &str,
    option: &'static str,
) -> Result<RawArray, DataError> {
    file.array(path, key)?.ok_or_else(|| DataError::MissingKey {
        path: path.to_path_buf(),
        key: key.to_string(),
        option,
        available: file.keys(),
    })
}

/// Features converted: values `[n, d]` (channel-major for images), n, d, and the image shape.
type Features = (Vec<f32>, usize, usize, Option<(usize, usize)>);

/// Features `[N, …]` → (values, rows, d, image_shape), transposing NHWC to NCHW.
fn features(
    a: RawArray,
    path: &Path,
    key: &str,
    layout: ArrayLayout,
) -> Result<Features, DataError> {
    let shape = a.shape.clone();
    let Some(&n) = shape.first() else {
        return Err(DataError::BadArray {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason: "it is a scalar; features must be [samples, ...]".into(),
        });
    };
    let d: usize = shape[1..].iter().product();
    if d == 0 {
        return Err(DataError::BadArray {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason: format!("it has shape {shape:?}: samples without values"),
        });
    }
    let x = a.to_features().map_err(|b| non_finite(path, key, d, b))?;
    let (x, image) = match (shape.len(), layout) {
        (3, _) => (x, Some((shape[1], shape[2]))),
        (4, ArrayLayout::Nchw) => (x, Some((shape[2], shape[3]))),
        (4, ArrayLayout::Nhwc) => {
            let (h, w, c) = (shape[1], shape[2], shape[3]);
            let mut t = vec![0.0f32; x.len()];
            for s in 0..n {
                let (src, dst) = (&x[s * d..(s + 1) * d], &mut t[s * d..(s + 1) * d]);
                for p in 0..h * w {
                    for ch in 0..c {
                        dst[ch * h * w + p] = src[p * c + ch];
                    }
                }
            }
            (t, Some((h, w)))
        }
        _ => (x, None),
    };
    Ok((x, n, d, image))
}

fn non_finite(path: &Path, key: &str, d: usize, b: BadValue) -> DataError {
    let d = d.max(1);
    DataError::NonFinite {
        path: path.to_path_buf(),
        key: key.to_string(),
        sample: b.index / d,
        feature: b.index % d,
        value: b.value,
        reason: b.reason,
    }
}

/// Labels `[N]` or `[N, 1]` of an integer type.
fn labels(a: RawArray, path: &Path, key: &str) -> Result<Vec<u32>, DataError> {
    let ok_shape = a.shape.len() == 1 || (a.shape.len() == 2 && a.shape[1] == 1);
    if !ok_shape {
        return Err(DataError::BadArray {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason: format!(
                "labels have shape {:?}; expected [samples] or [samples, 1] of class ids (one-hot labels: save y.argmax(axis=1))",
                a.shape
            ),
        });
    }
    if !a.dtype.is_integer() {
        return Err(DataError::BadArray {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason: format!(
                "labels have dtype {}; expected an integer type of class ids (y.astype(np.int64))",
                a.dtype.name()
            ),
        });
    }
    a.to_labels().map_err(|b| DataError::BadLabel {
        path: path.to_path_buf(),
        key: key.to_string(),
        index: b.index,
        value: b.text,
        reason: b.reason,
    })
}

/// One of the two splits an array file holds.
#[derive(Clone, Copy)]
enum Part {
    /// `x_train`, `y_train`.
    Train,
    /// `x_test`, `y_test`.
    Test,
}

impl Part {
    /// The features' and the labels' array names in `keys`, each with its config key.
    fn keys(self, keys: &ArrayKeys) -> [(&str, &'static str); 2] {
        match self {
            Part::Train => [
                (&keys.x_train, "data.keys.x_train"),
                (&keys.y_train, "data.keys.y_train"),
            ],
            Part::Test => [
                (&keys.x_test, "data.keys.x_test"),
                (&keys.y_test, "data.keys.y_test"),
            ],
        }
    }

    /// The end of the split's data-set name.
    fn suffix(self) -> &'static str {
        match self {
            Part::Train => "train",
            Part::Test => "test",
        }
    }
}

/// The split `part` of `file` (arrays named by `keys`) as the data set `{name}-{part}`
/// (`classes` filled in by the caller), with the shape of one sample.
fn split(
    file: &ArrayFile,
    path: &Path,
    keys: &ArrayKeys,
    part: Part,
    layout: ArrayLayout,
    name: &str,
) -> Result<(Dataset, Vec<usize>), DataError> {
    let [(x_key, x_opt), (y_key, y_opt)] = part.keys(keys);
    let name = format!("{name}-{}", part.suffix());
    let xa = required(file, path, x_key, x_opt)?;
    let sample_shape = xa.shape.get(1..).unwrap_or_default().to_vec();
    let (x, n, d, image_shape) = features(xa, path, x_key, layout)?;
    let y = labels(required(file, path, y_key, y_opt)?, path, y_key)?;
    if y.len() != n {
        return Err(DataError::ArrayMismatch {
            path: path.to_path_buf(),
            reason: format!(
                "`{x_key}` holds {n} samples but `{y_key}` holds {} labels; each sample needs one label",
                y.len()
            ),
        });
    }
    let ds = Dataset {
        name,
        x,
        y,
        n,
        d,
        classes: 0,
        image_shape,
    };
    Ok((ds, sample_shape))
}

/// Loads the data set in the array file `path` (see the module docs); the splits are named
/// `{name}-train` and `{name}-test`.
pub fn load_arrays(
    path: &Path,
    keys: &ArrayKeys,
    layout: ArrayLayout,
    name: &str,
) -> Result<ArraySplits, DataError> {
    let file = ArrayFile::open(path)?;
    let (mut train, train_shape) = split(&file, path, keys, Part::Train, layout, name)?;
    if train.n == 0 {
        return Err(DataError::Empty {
            what: format!("array `{}` in {}", keys.x_train, path.display()),
        });
    }
    let has_x = file.array(path, &keys.x_test)?.is_some();
    let has_y = file.array(path, &keys.y_test)?.is_some();
    let mut test = if has_x || has_y {
        let (test, test_shape) = split(&file, path, keys, Part::Test, layout, name)?;
        if test_shape != train_shape {
            return Err(DataError::ArrayMismatch {
                path: path.to_path_buf(),
                reason: format!(
                    "training samples (`{}`) have shape {train_shape:?} but test samples (`{}`) have shape {test_shape:?}; both must have the same",
                    keys.x_train, keys.x_test
                ),
            });
        }
        Some(test)
    } else {
        None
    };
    let classes = train
        .y
        .iter()
        .chain(test.iter().flat_map(|t| t.y.iter()))
        .max()
        .map_or(0, |&m| m as usize + 1);
    train.classes = classes;
    if let Some(t) = test.as_mut() {
        t.classes = classes;
    }
    Ok(ArraySplits { train, test })
}
