//! probe's own safetensors writer and verifying reader: byte-stable files with a CRC-32 over
//! every tensor and over the header.
//!
//! A file is standard safetensors (`safetensors.torch.load_file` and candle read it): an 8-byte
//! little-endian header length, a JSON header padded with spaces to a multiple of 8 bytes, then
//! the tensors' bytes. Unlike `safetensors::serialize`, whose `__metadata__` comes from a
//! `HashMap` (a random key order from one run to the next), the header is written in one fixed
//! order: `__metadata__` first with its keys sorted, then the tensors sorted by name, their data
//! in that order. The same content gives the same bytes.
//!
//! The metadata holds `crc32.{tensor}` (8 lower-case hex digits, CRC-32/ISO-HDLC as in zip and
//! png) for every tensor's bytes, and [`HEADER_CRC_KEY`] over the rest of the header (every other
//! metadata entry, every tensor's name, dtype and shape). [`decode`] checks them all and names the
//! file and the tensor that does not match; files without checksums (written by PyTorch) are read
//! as they are.
//!
//! ```
//! use std::collections::BTreeMap;
//! use probe_train::checkpoint::format::{decode, encode, Entry};
//! let meta = BTreeMap::from([("epoch".to_string(), "3".to_string())]);
//! let bytes = encode(&[Entry::new("w", "U8", vec![2], vec![7, 9])], &meta).unwrap();
//! let back = decode(&bytes, std::path::Path::new("w.safetensors")).unwrap();
//! assert_eq!((back.meta["epoch"].as_str(), back.entries[0].data.as_slice()), ("3", &[7u8, 9][..]));
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::{Error, Result};

/// The metadata key of the header's own checksum.
pub const HEADER_CRC_KEY: &str = "crc32.__header__";
/// The prefix of a tensor's checksum key: `crc32.{tensor name}`.
pub const CRC_PREFIX: &str = "crc32.";

/// One tensor as stored: name, safetensors dtype (`F32`, `U8`, …), shape and little-endian bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The tensor's name.
    pub name: String,
    /// The safetensors dtype name (`F32`, `F64`, `U8`, `I64`, …).
    pub dtype: String,
    /// The shape.
    pub shape: Vec<usize>,
    /// The data, little-endian, row-major.
    pub data: Vec<u8>,
}

impl Entry {
    /// An entry of `name` with `dtype`, `shape` and `data`.
    pub fn new(name: &str, dtype: &str, shape: Vec<usize>, data: Vec<u8>) -> Self {
        Self {
            name: name.to_string(),
            dtype: dtype.to_string(),
            shape,
            data,
        }
    }
}

/// A decoded file: its tensors (sorted by name) and its metadata without the checksums.
#[derive(Clone, Debug, Default)]
pub struct Decoded {
    /// The tensors, by name order.
    pub entries: Vec<Entry>,
    /// The metadata, checksum keys removed.
    pub meta: BTreeMap<String, String>,
    /// Whether the file had checksums (all of which matched).
    pub verified: bool,
}

/// The CRC-32 of `bytes` as 8 hex digits.
fn crc_hex(bytes: &[u8]) -> String {
    format!("{:08x}", crc32fast::hash(bytes))
}

/// The checksum of everything in the header but the data offsets and itself: `meta` (checksum
/// keys of tensors included) and each entry's name, dtype and shape, in their stored order.
fn header_crc(meta: &BTreeMap<String, String>, entries: &[(&str, &str, &[usize])]) -> String {
    let mut h = crc32fast::Hasher::new();
    for (k, v) in meta.iter().filter(|(k, _)| *k != HEADER_CRC_KEY) {
        for part in [k.as_bytes(), b"\0", v.as_bytes(), b"\0"] {
            h.update(part);
        }
    }
    for (name, dtype, shape) in entries {
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(dtype.as_bytes());
        h.update(format!("{shape:?}\0").as_bytes());
    }
    format!("{:08x}", h.finalize())
}

/// The bytes of a safetensors file holding `entries` (any order; stored sorted by name) and
/// `meta` (keys must not start with [`CRC_PREFIX`]), with checksums added.
pub fn encode(entries: &[Entry], meta: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let err = |message: String| Error::Checkpoint {
        path: "<memory>".into(),
        message,
    };
    let mut sorted: Vec<&Entry> = entries.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(w) = sorted.windows(2).find(|w| w[0].name == w[1].name) {
        return Err(err(format!("two tensors are named `{}`", w[0].name)));
    }
    if let Some(k) = meta.keys().find(|k| k.starts_with(CRC_PREFIX)) {
        return Err(err(format!("metadata key `{k}` is reserved for checksums")));
    }
    let mut all = meta.clone();
    for e in &sorted {
        if e.name == "__metadata__" {
            return Err(err("a tensor cannot be named `__metadata__`".into()));
        }
        let size = dtype_size(&e.dtype)
            .ok_or_else(|| err(format!("tensor `{}`: unknown dtype {}", e.name, e.dtype)))?;
        if e.shape.iter().product::<usize>() * size != e.data.len() {
            return Err(err(format!(
                "tensor `{}`: {} bytes do not hold shape {:?} of {}",
                e.name,
                e.data.len(),
                e.shape,
                e.dtype
            )));
        }
        all.insert(format!("{CRC_PREFIX}{}", e.name), crc_hex(&e.data));
    }
    let described: Vec<(&str, &str, &[usize])> = sorted
        .iter()
        .map(|e| (e.name.as_str(), e.dtype.as_str(), e.shape.as_slice()))
        .collect();
    all.insert(HEADER_CRC_KEY.into(), header_crc(&all, &described));

    let json = |s: &str| serde_json::to_string(s).map_err(|e| err(e.to_string()));
    let mut header = String::from("{\"__metadata__\":{");
    for (i, (k, v)) in all.iter().enumerate() {
        let comma = if i > 0 { "," } else { "" };
        header += &format!("{comma}{}:{}", json(k)?, json(v)?);
    }
    header.push('}');
    let mut offset = 0usize;
    for e in &sorted {
        let shape: Vec<String> = e.shape.iter().map(usize::to_string).collect();
        header += &format!(
            ",{}:{{\"dtype\":{},\"shape\":[{}],\"data_offsets\":[{offset},{}]}}",
            json(&e.name)?,
            json(&e.dtype)?,
            shape.join(","),
            offset + e.data.len()
        );
        offset += e.data.len();
    }
    header.push('}');
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + offset);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for e in &sorted {
        out.extend_from_slice(&e.data);
    }
    Ok(out)
}

/// Bytes per element of a safetensors dtype.
fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E4M3" | "F8_E5M2" => 1,
        "U16" | "I16" | "F16" | "BF16" => 2,
        "U32" | "I32" | "F32" => 4,
        "U64" | "I64" | "F64" => 8,
        _ => return None,
    })
}

/// Reads the safetensors `bytes` of the file `path` (named in errors) and, where the file has
/// checksums, verifies every tensor and the header. A file without [`HEADER_CRC_KEY`] (written
/// by another tool) is read unverified.
pub fn decode(bytes: &[u8], path: &Path) -> Result<Decoded> {
    let err = |message: String| Error::Checkpoint {
        path: path.to_path_buf(),
        message,
    };
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| err(format!("not a safetensors file: {e}")))?;
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| err(format!("not a safetensors file: {e}")))?;
    let mut meta: BTreeMap<String, String> = header
        .metadata()
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let mut views = st.tensors();
    views.sort_by(|a, b| a.0.cmp(&b.0));
    let entries: Vec<Entry> = views
        .into_iter()
        .map(|(name, v)| Entry {
            dtype: format!("{:?}", v.dtype()),
            shape: v.shape().to_vec(),
            data: v.data().to_vec(),
            name,
        })
        .collect();
    let verified = meta.contains_key(HEADER_CRC_KEY);
    if let Some(stored) = meta.get(HEADER_CRC_KEY) {
        let described: Vec<(&str, &str, &[usize])> = entries
            .iter()
            .map(|e| (e.name.as_str(), e.dtype.as_str(), e.shape.as_slice()))
            .collect();
        let computed = header_crc(&meta, &described);
        if *stored != computed {
            return Err(err(format!(
                "the header is corrupted (its checksum is {computed}, the file says {stored}); the file changed after probe wrote it: restore it from a copy or start the run again"
            )));
        }
        for e in &entries {
            let key = format!("{CRC_PREFIX}{}", e.name);
            let stored = meta.get(&key).ok_or_else(|| {
                err(format!(
                    "tensor `{}` has no checksum (`{key}`); the file changed after probe wrote it",
                    e.name
                ))
            })?;
            let computed = crc_hex(&e.data);
            if *stored != computed {
                return Err(err(format!(
                    "tensor `{}` is corrupted (its checksum is {computed}, the file says {stored}); the file changed after probe wrote it: restore it from a copy or start the run again",
                    e.name
                )));
            }
        }
        meta.retain(|k, _| !k.starts_with(CRC_PREFIX));
    }
    Ok(Decoded {
        entries,
        meta,
        verified,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Vec<Entry>, BTreeMap<String, String>) {
        let entries = vec![
            Entry::new("b", "U8", vec![3], vec![1, 2, 3]),
            Entry::new("a", "F32", vec![1], 1.5f32.to_le_bytes().to_vec()),
        ];
        let meta = BTreeMap::from([
            ("z".to_string(), "last".to_string()),
            ("epoch".to_string(), "7".to_string()),
        ]);
        (entries, meta)
    }

    #[test]
    fn crc32_is_the_standard_one() {
        // The check value of CRC-32/ISO-HDLC (the catalogue of parametrised CRC algorithms).
        assert_eq!(crc_hex(b"123456789"), "cbf43926");
    }

    #[test]
    fn header_is_written_in_one_fixed_order() {
        let (entries, meta) = sample();
        let bytes = encode(&entries, &meta).unwrap();
        let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
        let header = std::str::from_utf8(&bytes[8..8 + n]).unwrap().trim_end();
        let crc_a = crc_hex(&1.5f32.to_le_bytes());
        let crc_b = crc_hex(&[1, 2, 3]);
        let h = header_crc(
            &BTreeMap::from([
                ("crc32.a".to_string(), crc_a.clone()),
                ("crc32.b".to_string(), crc_b.clone()),
                ("epoch".to_string(), "7".to_string()),
                ("z".to_string(), "last".to_string()),
            ]),
            &[("a", "F32", &[1]), ("b", "U8", &[3])],
        );
        let expected = format!(
            "{{\"__metadata__\":{{\"crc32.__header__\":\"{h}\",\"crc32.a\":\"{crc_a}\",\"crc32.b\":\"{crc_b}\",\"epoch\":\"7\",\"z\":\"last\"}},\
             \"a\":{{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}},\
             \"b\":{{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[4,7]}}}}"
        );
        assert_eq!(header, expected);
        assert_eq!((8 + n) % 8, 0, "data starts 8-byte aligned");
        assert_eq!(&bytes[8 + n..], &[0, 0, 0xc0, 0x3f, 1, 2, 3]);
        // The entries' order in the call does not matter.
        let reversed: Vec<Entry> = entries.into_iter().rev().collect();
        assert_eq!(encode(&reversed, &meta).unwrap(), bytes);
    }

    #[test]
    fn decode_returns_what_encode_wrote_and_checks_every_byte() {
        let (entries, meta) = sample();
        let bytes = encode(&entries, &meta).unwrap();
        let p = Path::new("ckpt.safetensors");
        let back = decode(&bytes, p).unwrap();
        assert_eq!(back.meta, meta);
        assert_eq!(back.entries[0], entries[1]);
        assert_eq!(back.entries[1], entries[0]);
        // Any changed byte of the data or of a metadata value is an error naming what changed.
        let n = bytes.len();
        for (at, named) in [(n - 1, "tensor `b`"), (n - 5, "tensor `a`")] {
            let mut bad = bytes.clone();
            bad[at] ^= 0x40;
            let e = decode(&bad, p).unwrap_err().to_string();
            assert!(e.contains(named) && e.contains("ckpt.safetensors"), "{e}");
            assert!(e.contains("corrupted"), "{e}");
        }
        let text = String::from_utf8_lossy(&bytes).to_string();
        let at = text.find("\"last\"").unwrap() + 1;
        let mut bad = bytes.clone();
        bad[at] = b'L';
        let e = decode(&bad, p).unwrap_err().to_string();
        assert!(e.contains("header is corrupted"), "{e}");
    }

    #[test]
    fn bad_entries_are_refused() {
        let meta = BTreeMap::new();
        let two = [
            Entry::new("a", "U8", vec![1], vec![1]),
            Entry::new("a", "U8", vec![1], vec![2]),
        ];
        assert!(encode(&two, &meta)
            .unwrap_err()
            .to_string()
            .contains("two tensors"));
        let short = [Entry::new("a", "F32", vec![2], vec![0; 4])];
        assert!(encode(&short, &meta)
            .unwrap_err()
            .to_string()
            .contains("do not hold"));
        let reserved = BTreeMap::from([("crc32.x".to_string(), String::new())]);
        assert!(encode(&[], &reserved)
            .unwrap_err()
            .to_string()
            .contains("reserved"));
    }
}
