//! Tables that grow during a run, appended to their files row by row instead of rewritten whole.
//!
//! An [`AppendedCsv`] keeps a [`CsvTable`] in memory (what a run returns and plots) and appends
//! each batch of pushed rows to its file with one `write` ([`AppendedCsv::flush`]), so writing a
//! run's tables costs bytes linear in their final size. A row is appended whole: a process killed
//! mid-run leaves every row it flushed, at worst followed by one torn line. A checkpoint records a
//! [`TableMark`] (rows, bytes and an FNV-1a hash of the file's bytes so far);
//! [`AppendedCsv::resume`] checks the file against it, cuts everything after it (rows of epochs
//! trained after the checkpoint, a torn line), and continues, so a resumed run's files are byte for
//! byte those of an uninterrupted one.
//!
//! ```
//! use probe_report::{AppendedCsv, CsvTable};
//! # let dir = std::env::temp_dir().join(format!("probe-append-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).unwrap();
//! let path = dir.join("metrics.csv");
//! let mut t = AppendedCsv::new(&path, &["epoch", "loss"]);
//! t.create().unwrap(); // the header line
//! t.push(["1", "0.5"]).unwrap();
//! t.flush().unwrap(); // one write: "1,0.5\n"
//! let mark = t.mark();
//! t.push(["2", "0.4"]).unwrap();
//! t.flush().unwrap();
//! // Resuming from `mark` drops epoch 2's row.
//! let back = AppendedCsv::resume(&path, &["epoch", "loss"], &mark).unwrap();
//! assert_eq!(back.table().len(), 1);
//! assert_eq!(std::fs::read_to_string(&path).unwrap(), "epoch,loss\n1,0.5\n");
//! # std::fs::remove_dir_all(&dir).unwrap();
//! ```

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};

use crate::csv::{render_line, CsvTable};
use crate::error::{Error, Result};

/// What a checkpoint records of an appended table: enough to cut its file back to that moment and
/// to notice a file changed since. Written as `rows=R bytes=B fnv1a64=H` (H in hex).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableMark {
    /// Rows in the table (the header not counted).
    pub rows: usize,
    /// Bytes of the file, header included; 0 when the file was not created yet.
    pub bytes: u64,
    /// FNV-1a (64-bit) of those bytes.
    pub hash: u64,
}

impl fmt::Display for TableMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rows={} bytes={} fnv1a64={:016x}",
            self.rows, self.bytes, self.hash
        )
    }
}

impl TableMark {
    /// Parses the text [`TableMark`]'s `Display` writes; `None` if it is not that.
    pub fn parse(s: &str) -> Option<Self> {
        let mut parts = s.split(' ');
        let mut field = |key: &str| parts.next()?.strip_prefix(key);
        let rows = field("rows=")?.parse().ok()?;
        let bytes = field("bytes=")?.parse().ok()?;
        let hash = u64::from_str_radix(field("fnv1a64=")?, 16).ok()?;
        parts.next().is_none().then_some(Self { rows, bytes, hash })
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Continues the FNV-1a hash `h` over `bytes`.
fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    h
}

/// A CSV table in memory whose file grows by appending; see the module docs.
#[derive(Debug)]
pub struct AppendedCsv {
    table: CsvTable,
    path: PathBuf,
    /// Open for appending once the file exists.
    file: Option<File>,
    /// Rows and bytes in the file, and the hash of those bytes.
    rows_written: usize,
    written: u64,
    hash: u64,
    /// Lines pushed but not yet appended (the header first, while the file is not created).
    pending: String,
}

impl AppendedCsv {
    /// An empty table for the file `path`, which is not touched until [`AppendedCsv::create`] or
    /// the first [`AppendedCsv::flush`] with rows (and is then created anew, replacing any file
    /// there).
    pub fn new(path: &Path, header: &[&str]) -> Self {
        Self {
            table: CsvTable::new(header),
            path: path.to_path_buf(),
            file: None,
            rows_written: 0,
            written: 0,
            hash: FNV_OFFSET,
            pending: String::new(),
        }
    }

    /// The rows so far, flushed or not.
    pub fn table(&self) -> &CsvTable {
        &self.table
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Adds a row (appended to the file at the next [`AppendedCsv::flush`]); errors, leaving the
    /// table as it was, when its width is not the header's.
    pub fn push<I, S>(&mut self, row: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.table.push(row)?;
        if let Some(row) = self.table.rows().last() {
            render_line(&mut self.pending, row);
        }
        Ok(())
    }

    /// Creates the file (its header line and any pending rows) if it does not exist yet.
    pub fn create(&mut self) -> Result<()> {
        if self.file.is_none() {
            let file = self.open_new()?;
            self.file = Some(file);
        }
        self.flush()
    }

    /// Appends the rows pushed since the last flush with one `write` (no fsync), creating the file
    /// first if needed. A failed write is cut back off the file and kept pending.
    pub fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let file = match self.file.take() {
            Some(f) => f,
            None => self.open_new()?,
        };
        let file = self.file.insert(file);
        if let Err(e) = file.write_all(self.pending.as_bytes()) {
            // Best effort: drop a partly written line so the file ends with a whole row.
            let _ = file.set_len(self.written);
            return Err(Error::io("append rows to", &self.path, e));
        }
        self.written += self.pending.len() as u64;
        self.hash = fnv1a(self.hash, self.pending.as_bytes());
        self.rows_written = self.table.len();
        self.pending.clear();
        Ok(())
    }

    /// Makes the flushed rows durable (`fsync`); nothing to do before the file exists.
    pub fn sync(&self) -> Result<()> {
        match &self.file {
            Some(f) => f.sync_all().map_err(|e| Error::io("fsync", &self.path, e)),
            None => Ok(()),
        }
    }

    /// What a checkpoint records to continue this file: the rows and bytes flushed so far.
    pub fn mark(&self) -> TableMark {
        TableMark {
            rows: self.rows_written,
            bytes: self.written,
            hash: self.hash,
        }
    }

    /// Creates (or empties) the file, opened for appending, with the header line pending before
    /// any pending rows.
    fn open_new(&mut self) -> Result<File> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| Error::io("create", &self.path, e))?;
        file.set_len(0)
            .map_err(|e| Error::io("empty", &self.path, e))?;
        let mut header = String::new();
        render_line(&mut header, self.table.header());
        self.pending.insert_str(0, &header);
        self.written = 0;
        self.hash = FNV_OFFSET;
        Ok(file)
    }

    /// Continues the table in the file `path` from a checkpoint's `mark`: the file's first
    /// `mark.bytes` bytes must be what was flushed then (same hash, `header`, `mark.rows` rows);
    /// everything after them is cut off. With `mark.bytes == 0` the file did not exist then, and
    /// one created since is removed.
    pub fn resume(path: &Path, header: &[&str], mark: &TableMark) -> Result<Self> {
        let mut t = Self::new(path, header);
        let mismatch = |reason: String| Error::ResumeMismatch {
            path: path.to_path_buf(),
            reason,
        };
        if mark.bytes == 0 {
            return match fs::remove_file(path) {
                Ok(()) => Ok(t),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(t),
                Err(e) => Err(Error::io(
                    "remove (it was created after the checkpoint)",
                    path,
                    e,
                )),
            };
        }
        let mut file = match OpenOptions::new().read(true).append(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                return Err(mismatch(format!(
                    "it is missing; the checkpoint expects its first {} bytes",
                    mark.bytes
                )))
            }
            Err(e) => return Err(Error::io("open (to continue it)", path, e)),
        };
        let mut kept = Vec::new();
        (&mut file)
            .take(mark.bytes)
            .read_to_end(&mut kept)
            .map_err(|e| Error::io("read", path, e))?;
        if kept.len() as u64 != mark.bytes {
            return Err(mismatch(format!(
                "it holds {} bytes, the checkpoint expects at least {}: it was cut or replaced after the checkpoint",
                kept.len(),
                mark.bytes
            )));
        }
        let hash = fnv1a(FNV_OFFSET, &kept);
        if hash != mark.hash {
            return Err(mismatch(format!(
                "its first {} bytes are not those the checkpoint recorded (FNV-1a {hash:016x}, expected {:016x}): it was changed after the checkpoint",
                mark.bytes, mark.hash
            )));
        }
        let text = String::from_utf8(kept)
            .map_err(|_| mismatch("its kept rows are not UTF-8".to_string()))?;
        let table = CsvTable::parse(&text, path)?;
        if table.header() != header {
            return Err(mismatch(format!(
                "its columns are {:?}, this probe writes {header:?}",
                table.header()
            )));
        }
        if table.len() != mark.rows {
            return Err(mismatch(format!(
                "its first {} bytes hold {} rows, the checkpoint recorded {}",
                mark.bytes,
                table.len(),
                mark.rows
            )));
        }
        file.set_len(mark.bytes)
            .map_err(|e| Error::io("cut rows written after the checkpoint off", path, e))?;
        t.table = table;
        t.file = Some(file);
        t.rows_written = mark.rows;
        t.written = mark.bytes;
        t.hash = hash;
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::TempDir;

    #[test]
    fn marks_round_trip_as_text() {
        let m = TableMark {
            rows: 12,
            bytes: 3456,
            hash: 0x00ab_cdef_0123_4567,
        };
        assert_eq!(m.to_string(), "rows=12 bytes=3456 fnv1a64=00abcdef01234567");
        assert_eq!(TableMark::parse(&m.to_string()), Some(m));
        for bad in [
            "",
            "rows=1 bytes=2",
            "rows=1 bytes=2 fnv1a64=zz",
            "rows=1 bytes=2 fnv1a64=0 x",
        ] {
            assert_eq!(TableMark::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        // Fowler/Noll/Vo's test suite: FNV-1a 64 of "" and "a" and "foobar".
        assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    }

    /// The file always equals the in-memory table rendered whole, whatever the batching, and a
    /// lazily created file appears only with its first rows.
    #[test]
    fn appended_file_equals_the_table_rendered_whole() {
        let d = TempDir::new("append-whole");
        let path = d.0.join("t.csv");
        let mut t = AppendedCsv::new(&path, &["epoch", "layer"]);
        t.flush().unwrap();
        assert!(!path.exists(), "no rows, no create: no file");
        t.push(["1", "a,b"]).unwrap();
        t.push(["2", "say \"hi\"\nthere"]).unwrap();
        t.flush().unwrap();
        t.push(["3", ""]).unwrap();
        t.flush().unwrap();
        assert!(t.push(["4"]).is_err());
        assert_eq!(fs::read_to_string(&path).unwrap(), t.table().to_string());
        let m = t.mark();
        assert_eq!(m.rows, 3);
        assert_eq!(m.bytes, t.table().to_string().len() as u64);
    }

    /// Resume cuts rows flushed after the mark and a torn last line, then appends as if the
    /// run had never been interrupted.
    #[test]
    fn resume_cuts_back_to_the_mark_and_continues_byte_identically() {
        let d = TempDir::new("append-resume");
        let path = d.0.join("t.csv");
        let header = ["epoch", "x"];
        let mut t = AppendedCsv::new(&path, &header);
        t.create().unwrap();
        t.push(["1", "a\nb"]).unwrap();
        t.flush().unwrap();
        let mark = t.mark();
        t.push(["2", "late"]).unwrap();
        t.flush().unwrap();
        drop(t);
        // A torn line, as a kill mid-write might leave.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"3,tor").unwrap();
        drop(f);
        let mut back = AppendedCsv::resume(&path, &header, &mark).unwrap();
        assert_eq!(back.table().len(), 1);
        back.push(["2", "again"]).unwrap();
        back.flush().unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            "epoch,x\n1,\"a\nb\"\n2,again\n"
        );
        assert_eq!(fs::read_to_string(&path).unwrap(), back.table().to_string());
    }

    #[test]
    fn resume_refuses_a_file_changed_or_cut_after_the_checkpoint() {
        let d = TempDir::new("append-refuse");
        let path = d.0.join("metrics.csv");
        let header = ["epoch"];
        let mut t = AppendedCsv::new(&path, &header);
        t.push(["1"]).unwrap();
        t.push(["2"]).unwrap();
        t.flush().unwrap();
        let mark = t.mark();
        drop(t);
        // Resuming now is refused with a message naming the file and saying `why`.
        let refused = |why: &str| {
            let e = AppendedCsv::resume(&path, &header, &mark)
                .unwrap_err()
                .to_string();
            assert!(e.contains("metrics.csv") && e.contains(why), "{e}");
        };
        fs::write(&path, "epoch\n1\n3\n").unwrap();
        refused("changed after the checkpoint");
        fs::write(&path, "epoch\n1\n").unwrap();
        refused("expects at least");
        fs::remove_file(&path).unwrap();
        refused("missing");
        // A file the checkpoint did not know (created after it) is removed.
        fs::write(&path, "epoch\n9\n").unwrap();
        let empty = AppendedCsv::new(&path, &header).mark();
        let back = AppendedCsv::resume(&path, &header, &empty).unwrap();
        assert!(back.table().is_empty() && !path.exists());
    }
}
