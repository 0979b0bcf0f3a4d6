//! Parsing numpy's `.npy` format (versions 1.0, 2.0 and 3.0) into a [`RawArray`].
//!
//! Layout: the magic `\x93NUMPY`, a major and minor version byte, the header length (`u16`
//! little-endian in 1.0, `u32` in 2.0 and 3.0), then the header, a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`, padded with spaces, then the
//! data. Supported `descr`s: `b1`, `u1`/`i1`, `u2`/`i2`/`f2`, `u4`/`i4`/`f4`, `u8`/`i8`/`f8`,
//! little- or big-endian (`<`, `>`, `|`, `=`); big-endian data is byte-swapped and Fortran-order
//! arrays are reordered, so the result is always little-endian in C order. Object arrays
//! (pickles), strings, complex numbers and structured dtypes are refused, as is data longer or
//! shorter than the header says.
//!
//! ```
//! use probe_train::data::{parse_npy, ElemType};
//! let mut file = b"\x93NUMPY\x01\x00".to_vec();
//! let header = "{'descr': '<i2', 'fortran_order': False, 'shape': (2,), }";
//! let header = format!("{header:<117}\n"); // 10 + 118 bytes: a multiple of 64, as numpy pads
//! file.extend((header.len() as u16).to_le_bytes());
//! file.extend(header.as_bytes());
//! file.extend([7, 0, 0xff, 0xff]);
//! let a = parse_npy(&file).unwrap();
//! assert_eq!((a.dtype, a.shape.clone()), (ElemType::I16, vec![2]));
//! assert_eq!(a.to_features().unwrap(), vec![7.0, -1.0]);
//! ```

use super::array::{ElemType, RawArray};

const MAGIC: &[u8] = b"\x93NUMPY";

/// Parses a whole `.npy` file. The error is a sentence saying what is wrong (the caller adds the
/// file and key).
pub fn parse_npy(bytes: &[u8]) -> Result<RawArray, String> {
    if !bytes.starts_with(MAGIC) {
        let shown = &bytes[..bytes.len().min(6)];
        return Err(format!(
            "not an .npy array: it should start with \\x93NUMPY, found {shown:02x?}"
        ));
    }
    let (major, minor) = match bytes.get(6..8) {
        Some(v) => (v[0], v[1]),
        None => return Err("truncated .npy header".into()),
    };
    let (len_bytes, utf8) = match major {
        1 => (2, false),
        2 => (4, false),
        3 => (4, true),
        _ => {
            return Err(format!(
                ".npy format version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)"
            ))
        }
    };
    let start = 8 + len_bytes;
    let Some(len_field) = bytes.get(8..start) else {
        return Err("truncated .npy header".into());
    };
    let header_len = if len_bytes == 2 {
        usize::from(u16::from_le_bytes([len_field[0], len_field[1]]))
    } else {
        u32::from_le_bytes([len_field[0], len_field[1], len_field[2], len_field[3]]) as usize
    };
    let Some(header) = bytes.get(start..start.saturating_add(header_len)) else {
        return Err(format!(
            "truncated .npy header: it says {header_len} bytes, the array has {}",
            bytes.len().saturating_sub(start)
        ));
    };
    let header = if utf8 {
        std::str::from_utf8(header).map_err(|_| "the .npy header is not UTF-8".to_string())?
    } else {
        std::str::from_utf8(header).map_err(|_| "the .npy header is not ASCII".to_string())?
    };
    let h = parse_header(header)?;
    let count = h
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_mul(h.dtype.size()))
        .ok_or_else(|| format!("shape {:?} is too large", h.shape))?;
    let data = &bytes[start + header_len..];
    if data.len() != count {
        return Err(format!(
            "shape {:?} of {} needs {count} bytes of data, the array has {}",
            h.shape,
            h.dtype.name(),
            data.len()
        ));
    }
    let mut data = data.to_vec();
    if h.big_endian && h.dtype.size() > 1 {
        for chunk in data.chunks_exact_mut(h.dtype.size()) {
            chunk.reverse();
        }
    }
    if h.fortran_order && h.shape.len() > 1 {
        data = fortran_to_c(&data, &h.shape, h.dtype.size());
    }
    Ok(RawArray::new(h.dtype, h.shape, data))
}

struct Header {
    dtype: ElemType,
    big_endian: bool,
    fortran_order: bool,
    shape: Vec<usize>,
}

/// The text after `'key':` in the header dict, trimmed.
fn value_of<'a>(header: &'a str, key: &str) -> Result<&'a str, String> {
    for quote in ['\'', '"'] {
        let pat = format!("{quote}{key}{quote}");
        if let Some(i) = header.find(&pat) {
            let rest = header[i + pat.len()..].trim_start();
            return rest
                .strip_prefix(':')
                .map(str::trim_start)
                .ok_or_else(|| format!("malformed .npy header {header:?}"));
        }
    }
    Err(format!(
        "the .npy header {:?} has no '{key}'",
        header.trim_end()
    ))
}

fn parse_header(header: &str) -> Result<Header, String> {
    let descr_v = value_of(header, "descr")?;
    let Some(q) = descr_v.chars().next().filter(|c| *c == '\'' || *c == '"') else {
        return Err(format!(
            "structured dtype {} is not supported; save a plain numeric array",
            descr_v.split("), }").next().unwrap_or(descr_v)
        ));
    };
    let descr = descr_v[1..]
        .split(q)
        .next()
        .ok_or_else(|| format!("malformed .npy header {header:?}"))?;
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &descr[1..]),
        _ => ('|', descr),
    };
    let dtype = match code {
        "b1" => ElemType::Bool,
        "u1" => ElemType::U8,
        "i1" => ElemType::I8,
        "u2" => ElemType::U16,
        "i2" => ElemType::I16,
        "f2" => ElemType::F16,
        "u4" => ElemType::U32,
        "i4" => ElemType::I32,
        "f4" => ElemType::F32,
        "u8" => ElemType::U64,
        "i8" => ElemType::I64,
        "f8" => ElemType::F64,
        "O" => return Err("object arrays (dtype 'O', pickled) are not supported; save a numeric array, e.g. x.astype(np.float32)".into()),
        _ => return Err(format!(
            "dtype '{descr}' is not supported; use a bool, integer or float16/32/64 array"
        )),
    };
    let fortran_order = match value_of(header, "fortran_order")? {
        v if v.starts_with("True") => true,
        v if v.starts_with("False") => false,
        v => {
            return Err(format!(
                "malformed 'fortran_order' {v:?} in the .npy header"
            ))
        }
    };
    let shape_v = value_of(header, "shape")?;
    let inner = shape_v
        .strip_prefix('(')
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| format!("malformed 'shape' in the .npy header {header:?}"))?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.trim_end_matches('L')
                .parse::<usize>()
                .map_err(|_| format!("malformed 'shape' ({inner}) in the .npy header"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Header {
        dtype,
        big_endian: order == '>',
        fortran_order,
        shape,
    })
}

/// Reorders Fortran-order (column-major) elements of `shape` into C order.
fn fortran_to_c(data: &[u8], shape: &[usize], size: usize) -> Vec<u8> {
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(data.len());
    // Fortran strides (in elements): 1, d0, d0*d1, …
    let mut fstride = vec![1usize; shape.len()];
    for k in 1..shape.len() {
        fstride[k] = fstride[k - 1] * shape[k - 1];
    }
    let mut idx = vec![0usize; shape.len()];
    for _ in 0..n {
        let off: usize = idx.iter().zip(&fstride).map(|(i, s)| i * s).sum();
        out.extend_from_slice(&data[off * size..(off + 1) * size]);
        // Advance the C-order multi-index (last axis fastest).
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
}
