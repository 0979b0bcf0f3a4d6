//! Crash-safe file writes and run-directory setup.
//!
//! [`write_atomic`] writes to a temporary file beside the target (`.{name}.tmp.{pid}.{n}`),
//! flushes and fsyncs it, then renames it over the target, so readers see either the old or the
//! new content, never a torn file. [`replace_atomic`] does the same without the fsyncs: just as
//! safe against readers and against the process being killed (the kernel keeps the renamed file),
//! not durable across a power loss, and far cheaper on slow disks — for results rewritten often
//! during a run, whose final version is written with [`write_atomic`]. [`create_run_dir`] prepares an output directory and refuses to
//! clobber an existing run unless asked; even then it only removes probe's own files
//! ([`PROBE_OUTPUT_FILES`]).
//!
//! ```no_run
//! use probe_report::{create_run_dir, write_atomic};
//! use std::path::Path;
//!
//! # fn main() -> probe_report::Result<()> {
//! let dir = Path::new("runs/tanh-ib");
//! create_run_dir(dir, /* overwrite */ false)?;
//! write_atomic(&dir.join("config.toml"), b"seed = 0\n")?;
//! # Ok(())
//! # }
//! ```

use crate::error::{Error, Result};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// The files probe writes into a run directory. [`create_run_dir`] with `overwrite` removes these
/// (and leftover temporary files of [`write_atomic`] for them) and nothing else.
pub const PROBE_OUTPUT_FILES: &[&str] = &[
    "config.toml",
    "metrics.csv",
    "infoplane.csv",
    "model.safetensors",
    "infoplane.png",
    "infoplane.svg",
];

/// Distinguishes temporary files of concurrent writes within one process.
static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Prefix of the temporary files [`write_atomic`] creates for `name`.
fn tmp_prefix(name: &str) -> String {
    format!(".{name}.tmp.")
}

/// Writes `bytes` to `path` atomically: temporary file in the same directory, `fsync`, rename over
/// `path`, then a best-effort `fsync` of the directory so the rename itself is durable.
///
/// The parent directory must exist. On error the temporary file is removed and `path` is left as
/// it was.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_via_temp(path, bytes, true)
}

/// Like [`write_atomic`] but without `fsync`: readers and a killed process still see the old or
/// the new content, never a torn file; only a power loss or kernel crash can lose the last write.
/// Use it for files rewritten many times during a run, and
/// [`write_atomic`] for their final version.
pub fn replace_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_via_temp(path, bytes, false)
}

fn write_via_temp(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let name = path.file_name().ok_or_else(|| Error::NotAFile {
        path: path.to_path_buf(),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = dir.join(format!(
        "{}{}.{}",
        tmp_prefix(&name.to_string_lossy()),
        std::process::id(),
        TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
    ));

    let result = write_and_rename(&tmp, path, bytes, durable);
    if result.is_err() {
        // Best effort: the temporary file may not exist (create failed) or already be renamed.
        let _ = fs::remove_file(&tmp);
        return result;
    }
    if durable {
        sync_dir(dir);
    }
    Ok(())
}

/// Errors name the target `path` (what the user asked for); the temporary file's name follows from
/// it (`.{name}.tmp.*` beside it).
fn write_and_rename(tmp: &Path, path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .map_err(|e| Error::io("create a temporary file for", path, e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io("write temporary file for", path, e))?;
    file.flush()
        .map_err(|e| Error::io("flush temporary file for", path, e))?;
    if durable {
        file.sync_all()
            .map_err(|e| Error::io("fsync temporary file for", path, e))?;
    }
    drop(file);
    // Keep the target's permissions if it exists (rename would otherwise reset them to the
    // temporary file's defaults).
    if let Ok(meta) = fs::metadata(path) {
        let _ = fs::set_permissions(tmp, meta.permissions());
    }
    fs::rename(tmp, path).map_err(|e| Error::io("rename temporary file onto", path, e))
}

/// Best-effort `fsync` of a directory (makes a rename durable on POSIX; a no-op elsewhere).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Prepares `dir` as a run directory.
///
/// - Missing: created with its parents.
/// - Existing and empty: used as is.
/// - Existing and non-empty, `overwrite == false`: [`Error::RunDirExists`].
/// - Existing and non-empty, `overwrite == true`: the files named in [`PROBE_OUTPUT_FILES`] (and
///   stale temporary files of [`write_atomic`] for them) are removed; any other file (a user's
///   notes, a plot they made) is kept.
/// - Existing but not a directory: [`Error::RunDirNotADir`].
pub fn create_run_dir(dir: &Path, overwrite: bool) -> Result<()> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return fs::create_dir_all(dir).map_err(|e| Error::io("create run directory", dir, e));
        }
        Err(e) => return Err(Error::io("inspect run directory", dir, e)),
        Ok(meta) if !meta.is_dir() => {
            return Err(Error::RunDirNotADir {
                path: dir.to_path_buf(),
            })
        }
        Ok(_) => {}
    }

    let entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io("list run directory", dir, e))?
        .map(|entry| {
            entry
                .map(|e| e.path())
                .map_err(|e| Error::io("list run directory", dir, e))
        })
        .collect::<Result<_>>()?;
    if entries.is_empty() {
        return Ok(());
    }
    if !overwrite {
        return Err(Error::RunDirExists {
            path: dir.to_path_buf(),
        });
    }
    for path in entries.iter().filter(|p| is_probe_output(p)) {
        // A directory with a probe file name is not ours to delete: remove_file fails on it and the
        // error names it.
        fs::remove_file(path).map_err(|e| Error::io("remove old output", path, e))?;
    }
    Ok(())
}

/// Whether `path`'s file name is one of [`PROBE_OUTPUT_FILES`] or a temporary file for one.
fn is_probe_output(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    PROBE_OUTPUT_FILES
        .iter()
        .any(|known| name == *known || name.starts_with(&tmp_prefix(known)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A fresh empty directory under the system temp dir, removed on drop.
    pub(crate) struct TempDir(pub PathBuf);

    impl TempDir {
        pub(crate) fn new(tag: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "probe-report-test-{tag}-{}-{}",
                std::process::id(),
                TMP_COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_atomic_replaces_content_and_leaves_no_temp_file() {
        let t = TempDir::new("atomic");
        let path = t.0.join("metrics.csv");
        write_atomic(&path, b"first version, longer than the second\n").unwrap();
        assert_eq!(
            fs::read(&path).unwrap(),
            b"first version, longer than the second\n"
        );
        write_atomic(&path, b"second\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second\n");
        assert_eq!(names(&t.0), vec!["metrics.csv".to_string()]);
        replace_atomic(&path, b"third, without fsync\n").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"third, without fsync\n");
        assert_eq!(names(&t.0), vec!["metrics.csv".to_string()]);
    }

    #[test]
    fn write_atomic_error_names_the_path_and_cleans_up() {
        let t = TempDir::new("atomic-err");
        // The target is a directory: the rename fails, the temp file must not survive.
        let target = t.0.join("infoplane.png");
        fs::create_dir(&target).unwrap();
        let err = write_atomic(&target, b"x").unwrap_err();
        assert!(err.to_string().contains("infoplane.png"), "{err}");
        assert_eq!(names(&t.0), vec!["infoplane.png".to_string()]);

        let missing = t.0.join("no-such-dir").join("a.csv");
        let err = write_atomic(&missing, b"x").unwrap_err();
        assert!(err.to_string().contains("no-such-dir"), "{err}");
    }

    #[test]
    fn create_run_dir_creates_missing_and_accepts_empty() {
        let t = TempDir::new("rundir-new");
        let dir = t.0.join("a").join("b");
        create_run_dir(&dir, false).unwrap();
        assert!(dir.is_dir());
        create_run_dir(&dir, false).unwrap(); // empty: fine without overwrite
    }

    #[test]
    fn create_run_dir_refuses_existing_non_empty_dir() {
        let t = TempDir::new("rundir-refuse");
        fs::write(t.0.join("metrics.csv"), "old").unwrap();
        let err = create_run_dir(&t.0, false).unwrap_err();
        assert!(matches!(err, Error::RunDirExists { .. }));
        let msg = err.to_string();
        assert!(msg.contains(&t.0.display().to_string()), "{msg}");
        assert!(msg.contains("--overwrite"), "{msg}");
        assert!(msg.contains("--out"), "{msg}");
        assert_eq!(fs::read_to_string(t.0.join("metrics.csv")).unwrap(), "old");
    }

    #[test]
    fn create_run_dir_overwrite_removes_only_probe_files() {
        let t = TempDir::new("rundir-overwrite");
        for f in PROBE_OUTPUT_FILES {
            fs::write(t.0.join(f), "old").unwrap();
        }
        fs::write(t.0.join(".metrics.csv.tmp.123.0"), "stale temp").unwrap();
        fs::write(t.0.join("notes.txt"), "mine").unwrap();
        fs::write(t.0.join("metrics.csv.bak"), "mine too").unwrap();
        fs::create_dir(t.0.join("extra")).unwrap();
        create_run_dir(&t.0, true).unwrap();
        assert_eq!(names(&t.0), vec!["extra", "metrics.csv.bak", "notes.txt"]);
        assert_eq!(fs::read_to_string(t.0.join("notes.txt")).unwrap(), "mine");
    }

    #[test]
    fn create_run_dir_rejects_a_file() {
        let t = TempDir::new("rundir-file");
        let f = t.0.join("out");
        fs::write(&f, "x").unwrap();
        let err = create_run_dir(&f, true).unwrap_err();
        assert!(matches!(err, Error::RunDirNotADir { .. }), "{err}");
        assert_eq!(fs::read_to_string(&f).unwrap(), "x");
    }
}
