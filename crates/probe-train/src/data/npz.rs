//! Reading numpy's `.npz` archives (`numpy.savez`, `numpy.savez_compressed`): a zip file whose
//! members `{key}.npy` are `.npy` arrays ([`parse_npy`](super::parse_npy)).
//!
//! This is a minimal zip reader over `flate2`, not the `zip` crate, on purpose: candle-core
//! already builds `zip` *without* deflate, and enabling deflate on it would change that build's
//! features and recompile candle for every crate of the workspace; an `.npz` needs only the part
//! of zip written here. It reads the central directory (including zip64 records and extra
//! fields, which numpy writes for every member), takes each member's data offset from its local
//! header, inflates `deflate` members (method 8) or copies `stored` ones (method 0), and checks
//! the size and CRC-32 of every member it reads. Encrypted members, other compression methods
//! and archives split over several disks are refused with an error naming the file and member.
//!
//! ```no_run
//! use probe_train::data::Npz;
//! let npz = Npz::open("data.npz".as_ref())?;
//! println!("{:?}", npz.keys()); // e.g. ["x_train", "y_train", "x_test", "y_test"]
//! let x = npz.array("x_train")?; // Option<RawArray>
//! # Ok::<(), probe_train::data::DataError>(())
//! ```

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::DeflateDecoder;

use super::array::RawArray;
use super::npy::parse_npy;
use super::DataError;

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;

/// One member of the archive, from the central directory.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    method: u16,
    flags: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    local_offset: u64,
}

/// An `.npz` archive held in memory; members are parsed when asked for.
pub struct Npz {
    path: PathBuf,
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

// Bounds-checked little-endian reads; offsets come from the file, so even the addition is checked.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    b.get(at..at.checked_add(2)?)
        .map(|s| u16::from_le_bytes([s[0], s[1]]))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at.checked_add(4)?)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    b.get(at..at.checked_add(8)?)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_le_bytes)
}

impl Npz {
    /// Reads the archive at `path` and its central directory.
    pub fn open(path: &Path) -> Result<Self, DataError> {
        let bytes = std::fs::read(path).map_err(|source| DataError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_bytes(path, bytes)
    }

    /// Parses an archive already in memory; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: Vec<u8>) -> Result<Self, DataError> {
        let err = |reason: String| DataError::Zip {
            path: path.to_path_buf(),
            member: None,
            reason,
        };
        let truncated = || {
            err("the zip archive is truncated or corrupt (its central directory does not fit in the file)".into())
        };
        // The end-of-central-directory record: 22 bytes plus a comment of at most 65535.
        let lowest = bytes.len().saturating_sub(22 + 65535);
        let eocd = (lowest..=bytes.len().saturating_sub(22))
            .rev()
            .find(|&i| u32_at(&bytes, i) == Some(EOCD_SIG))
            .ok_or_else(|| err("not a complete zip archive: no end-of-central-directory record (the file is truncated or not an .npz)".into()))?;
        let disk = u16_at(&bytes, eocd + 4).ok_or_else(truncated)?;
        let cd_disk = u16_at(&bytes, eocd + 6).ok_or_else(truncated)?;
        let mut count = u64::from(u16_at(&bytes, eocd + 10).ok_or_else(truncated)?);
        let mut cd_size = u64::from(u32_at(&bytes, eocd + 12).ok_or_else(truncated)?);
        let mut cd_offset = u64::from(u32_at(&bytes, eocd + 16).ok_or_else(truncated)?);
        if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_offset == 0xFFFF_FFFF {
            // Zip64: the locator sits just before the classic record.
            let loc = eocd.checked_sub(20).ok_or_else(truncated)?;
            if u32_at(&bytes, loc) != Some(ZIP64_LOCATOR_SIG) {
                return Err(err(
                    "the zip archive announces zip64 sizes but has no zip64 locator".into(),
                ));
            }
            let rec = usize::try_from(u64_at(&bytes, loc + 8).ok_or_else(truncated)?)
                .unwrap_or(usize::MAX);
            if u32_at(&bytes, rec) != Some(ZIP64_EOCD_SIG) {
                return Err(err(
                    "the zip64 end-of-central-directory record is missing or corrupt".into(),
                ));
            }
            count = u64_at(&bytes, rec.saturating_add(32)).ok_or_else(truncated)?;
            cd_size = u64_at(&bytes, rec.saturating_add(40)).ok_or_else(truncated)?;
            cd_offset = u64_at(&bytes, rec.saturating_add(48)).ok_or_else(truncated)?;
        } else if disk != 0 || cd_disk != 0 {
            return Err(err(
                "archives split over several disks are not supported".into()
            ));
        }
        let cd_end = cd_offset.checked_add(cd_size).ok_or_else(truncated)?;
        if cd_end > bytes.len() as u64 {
            return Err(truncated());
        }
        let mut entries = Vec::new();
        let mut at = cd_offset as usize;
        for k in 0..count {
            let bad = || err(format!("central directory entry {k} is corrupt"));
            if u32_at(&bytes, at) != Some(CENTRAL_SIG) {
                return Err(bad());
            }
            let flags = u16_at(&bytes, at + 8).ok_or_else(bad)?;
            let method = u16_at(&bytes, at + 10).ok_or_else(bad)?;
            let crc = u32_at(&bytes, at + 16).ok_or_else(bad)?;
            let mut compressed = u64::from(u32_at(&bytes, at + 20).ok_or_else(bad)?);
            let mut uncompressed = u64::from(u32_at(&bytes, at + 24).ok_or_else(bad)?);
            let name_len = usize::from(u16_at(&bytes, at + 28).ok_or_else(bad)?);
            let extra_len = usize::from(u16_at(&bytes, at + 30).ok_or_else(bad)?);
            let comment_len = usize::from(u16_at(&bytes, at + 32).ok_or_else(bad)?);
            let mut local_offset = u64::from(u32_at(&bytes, at + 42).ok_or_else(bad)?);
            let name_at = at + 46;
            let name = bytes.get(name_at..name_at + name_len).ok_or_else(bad)?;
            let name = String::from_utf8_lossy(name).into_owned();
            let extra = bytes
                .get(name_at + name_len..name_at + name_len + extra_len)
                .ok_or_else(bad)?;
            // Zip64 extra field (id 1): the 64-bit values of the fields saturated above, in order.
            let mut e = 0;
            while e + 4 <= extra.len() {
                let id = u16_at(extra, e).unwrap_or(0);
                let size = usize::from(u16_at(extra, e + 2).unwrap_or(0));
                let body = extra.get(e + 4..e + 4 + size).ok_or_else(bad)?;
                if id == 1 {
                    let mut p = 0;
                    for field in [&mut uncompressed, &mut compressed, &mut local_offset] {
                        if *field == 0xFFFF_FFFF {
                            *field = u64_at(body, p).ok_or_else(bad)?;
                            p += 8;
                        }
                    }
                }
                e += 4 + size;
            }
            entries.push(Entry {
                name,
                method,
                flags,
                crc,
                compressed,
                uncompressed,
                local_offset,
            });
            at = name_at + name_len + extra_len + comment_len;
        }
        Ok(Self {
            path: path.to_path_buf(),
            bytes,
            entries,
        })
    }

    /// The array keys: member names without their `.npy` suffix, in archive order.
    pub fn keys(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|e| e.name.strip_suffix(".npy").unwrap_or(&e.name).to_string())
            .collect()
    }

    /// The array stored as `{key}.npy` (or `key`), or `None` if there is none.
    pub fn array(&self, key: &str) -> Result<Option<RawArray>, DataError> {
        let Some(entry) = self
            .entries
            .iter()
            .find(|e| e.name == format!("{key}.npy"))
            .or_else(|| self.entries.iter().find(|e| e.name == key))
        else {
            return Ok(None);
        };
        let data = self.member(entry)?;
        parse_npy(&data)
            .map(Some)
            .map_err(|reason| DataError::BadArray {
                path: self.path.clone(),
                key: key.to_string(),
                reason,
            })
    }

    /// The uncompressed bytes of one member, size and CRC checked.
    fn member(&self, e: &Entry) -> Result<Vec<u8>, DataError> {
        let err = |reason: String| DataError::Zip {
            path: self.path.clone(),
            member: Some(e.name.clone()),
            reason,
        };
        if e.flags & 1 != 0 {
            return Err(err("the member is encrypted".into()));
        }
        let b = &self.bytes;
        let lo = e.local_offset as usize;
        if u32_at(b, lo) != Some(LOCAL_SIG) {
            return Err(err("its local header is missing or corrupt".into()));
        }
        let (Some(n), Some(x)) = (u16_at(b, lo + 26), u16_at(b, lo + 28)) else {
            return Err(err("its local header is truncated".into()));
        };
        let start = lo + 30 + usize::from(n) + usize::from(x);
        let raw = usize::try_from(e.compressed)
            .ok()
            .and_then(|c| b.get(start..start.checked_add(c)?))
            .ok_or_else(|| err(format!("its {} compressed bytes run past the end of the file; the archive is truncated", e.compressed)))?;
        // Read at most one byte more than announced, so a lying size cannot exhaust memory.
        let limit = e.uncompressed.saturating_add(1);
        let mut out = Vec::with_capacity(e.uncompressed.min(1 << 30) as usize);
        match e.method {
            0 => out.extend_from_slice(raw),
            8 => {
                DeflateDecoder::new(raw)
                    .take(limit)
                    .read_to_end(&mut out)
                    .map_err(|source| err(format!("its deflate stream is corrupt ({source})")))?;
            }
            m => {
                return Err(err(format!(
                "compression method {m} is not supported (numpy writes 0, stored, or 8, deflate)"
            )))
            }
        }
        if out.len() as u64 != e.uncompressed {
            return Err(err(format!(
                "it holds {} bytes, its directory entry says {}; the archive is corrupt",
                out.len(),
                e.uncompressed
            )));
        }
        let mut crc = flate2::Crc::new();
        crc.update(&out);
        if crc.sum() != e.crc {
            return Err(err(format!(
                "CRC-32 {:08x} does not match the recorded {:08x}; the archive is corrupt",
                crc.sum(),
                e.crc
            )));
        }
        Ok(out)
    }
}
