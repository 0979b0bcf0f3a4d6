//! An n-dimensional array as read from a file (`.npy` member of an `.npz`, or a safetensors
//! tensor), before it becomes features or labels.
//!
//! [`RawArray`] holds the element type, the shape and the elements as **little-endian bytes in C
//! (row-major) order**: the readers byte-swap big-endian `.npy` data and reorder Fortran-order
//! arrays, so conversion never has to. Conversions check every value and name the index of the
//! first bad one:
//!
//! - [`RawArray::to_features`]: any integer, boolean or float type to `f32` (integers exactly up to
//!   2^24, `f64` rounded); NaN, ±inf and finite values too large for `f32` are errors.
//! - [`RawArray::to_labels`]: integer types only; each label must lie in `0..MAX_CLASSES`.
//!
//! ```
//! use probe_train::data::{ElemType, RawArray};
//! let a = RawArray::new(ElemType::I16, vec![3], [1i16, -2, 3].iter().flat_map(|v| v.to_le_bytes()).collect());
//! assert_eq!(a.to_features().unwrap(), vec![1.0, -2.0, 3.0]);
//! assert!(a.to_labels().is_err()); // -2 at index 1
//! ```

use half::{bf16, f16};

/// Largest number of classes a label file may imply (labels lie in `0..MAX_CLASSES`). A label
/// beyond it is far more likely a wrong array (features saved as labels) than a real class.
pub const MAX_CLASSES: usize = 1 << 16;

/// The element types the array readers accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    /// `bool` (one byte, 0 or 1).
    Bool,
    /// `u8`.
    U8,
    /// `i8`.
    I8,
    /// `u16`.
    U16,
    /// `i16`.
    I16,
    /// `u32`.
    U32,
    /// `i32`.
    I32,
    /// `u64`.
    U64,
    /// `i64`.
    I64,
    /// IEEE half precision.
    F16,
    /// bfloat16.
    BF16,
    /// `f32`.
    F32,
    /// `f64`.
    F64,
}

impl ElemType {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            ElemType::Bool | ElemType::U8 | ElemType::I8 => 1,
            ElemType::U16 | ElemType::I16 | ElemType::F16 | ElemType::BF16 => 2,
            ElemType::U32 | ElemType::I32 | ElemType::F32 => 4,
            ElemType::U64 | ElemType::I64 | ElemType::F64 => 8,
        }
    }

    /// Whether the type holds integers (booleans count: 0 and 1).
    pub fn is_integer(self) -> bool {
        !matches!(
            self,
            ElemType::F16 | ElemType::BF16 | ElemType::F32 | ElemType::F64
        )
    }

    /// numpy's name of the type, for messages.
    pub fn name(self) -> &'static str {
        match self {
            ElemType::Bool => "bool",
            ElemType::U8 => "uint8",
            ElemType::I8 => "int8",
            ElemType::U16 => "uint16",
            ElemType::I16 => "int16",
            ElemType::U32 => "uint32",
            ElemType::I32 => "int32",
            ElemType::U64 => "uint64",
            ElemType::I64 => "int64",
            ElemType::F16 => "float16",
            ElemType::BF16 => "bfloat16",
            ElemType::F32 => "float32",
            ElemType::F64 => "float64",
        }
    }
}

/// An array read from a file: little-endian elements in C order (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct RawArray {
    /// Element type.
    pub dtype: ElemType,
    /// Shape; `[]` is a scalar (one element).
    pub shape: Vec<usize>,
    /// `shape.iter().product() * dtype.size()` bytes, little-endian, C order.
    pub data: Vec<u8>,
}

/// What went wrong converting one element: its flattened index and the value as text.
#[derive(Clone, Debug, PartialEq)]
pub struct BadValue {
    /// Flattened (C-order) index of the element.
    pub index: usize,
    /// The value as stored, widened to `f64` for features (exact for every integer a label
    /// check reports, which are below 2^53 or shown rounded).
    pub value: f64,
    /// The value as stored, formatted exactly.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// One element, widened: integers exactly, floats as `f64`.
#[derive(Clone, Copy)]
enum Elem {
    Int(i128),
    Float(f64),
}

impl RawArray {
    /// An array of `dtype` and `shape` over `data` (little-endian, C order). The caller ensures
    /// `data.len() == shape.iter().product::<usize>() * dtype.size()`.
    pub fn new(dtype: ElemType, shape: Vec<usize>, data: Vec<u8>) -> Self {
        Self { dtype, shape, data }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn elems(&self) -> impl Iterator<Item = Elem> + '_ {
        let t = self.dtype;
        self.data.chunks_exact(t.size()).map(move |b| match t {
            ElemType::Bool => Elem::Int(i128::from(b[0] != 0)),
            ElemType::U8 => Elem::Int(i128::from(b[0])),
            ElemType::I8 => Elem::Int(i128::from(b[0] as i8)),
            ElemType::U16 => Elem::Int(i128::from(u16::from_le_bytes([b[0], b[1]]))),
            ElemType::I16 => Elem::Int(i128::from(i16::from_le_bytes([b[0], b[1]]))),
            ElemType::U32 => Elem::Int(i128::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            ElemType::I32 => Elem::Int(i128::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            ElemType::U64 => Elem::Int(i128::from(u64::from_le_bytes(
                b.try_into().unwrap_or([0; 8]),
            ))),
            ElemType::I64 => Elem::Int(i128::from(i64::from_le_bytes(
                b.try_into().unwrap_or([0; 8]),
            ))),
            ElemType::F16 => Elem::Float(f64::from(f16::from_le_bytes([b[0], b[1]]))),
            ElemType::BF16 => Elem::Float(f64::from(bf16::from_le_bytes([b[0], b[1]]))),
            ElemType::F32 => Elem::Float(f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            ElemType::F64 => Elem::Float(f64::from_le_bytes(b.try_into().unwrap_or([0; 8]))),
        })
    }

    /// Every element as `f32`, in C order. NaN, ±inf and finite values beyond `f32`'s range are
    /// errors naming the first one's index.
    pub fn to_features(&self) -> Result<Vec<f32>, BadValue> {
        let mut out = Vec::with_capacity(self.len());
        for (index, e) in self.elems().enumerate() {
            let v = match e {
                Elem::Int(i) => i as f32,
                Elem::Float(f) => {
                    let v = f as f32;
                    if !v.is_finite() {
                        return Err(BadValue {
                            index,
                            value: f,
                            text: format!("{f:?}"),
                            reason: if f.is_finite() {
                                "too large for f32"
                            } else {
                                "not finite"
                            },
                        });
                    }
                    v
                }
            };
            out.push(v);
        }
        Ok(out)
    }

    /// Every element as a class id in `0..MAX_CLASSES`, in C order. The type must be an integer
    /// type (checked by the caller, who knows the key); a negative or too large value is an error
    /// naming its index.
    pub fn to_labels(&self) -> Result<Vec<u32>, BadValue> {
        let mut out = Vec::with_capacity(self.len());
        for (index, e) in self.elems().enumerate() {
            let label = match e {
                Elem::Int(i) => i,
                Elem::Float(f) => {
                    return Err(BadValue {
                        index,
                        value: f,
                        text: format!("{f:?}"),
                        reason: "labels must have an integer type",
                    })
                }
            };
            if label < 0 {
                return Err(BadValue {
                    index,
                    value: label as f64,
                    text: label.to_string(),
                    reason: "labels must be class ids >= 0",
                });
            }
            if label >= MAX_CLASSES as i128 {
                return Err(BadValue {
                    index,
                    value: label as f64,
                    text: label.to_string(),
                    reason: "labels must be class ids below 65536",
                });
            }
            out.push(label as u32);
        }
        Ok(out)
    }
}
