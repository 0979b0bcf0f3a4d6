//! The crate's error type. Every variant names the file or directory it concerns, so the CLI can
//! print the error chain (`{:#}`) without adding context.
//!
//! ```
//! use probe_report::{write_atomic, Error};
//! use std::path::Path;
//!
//! let err = write_atomic(Path::new("/nonexistent-dir/x.csv"), b"a").unwrap_err();
//! assert!(matches!(err, Error::Io { .. }));
//! assert!(err.to_string().contains("/nonexistent-dir/x.csv"));
//! ```

use std::path::PathBuf;

/// Errors from writing run-directory files and rendering plots.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A filesystem operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done, e.g. "rename temporary file onto".
        action: &'static str,
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A path that cannot name a file (no file name component, e.g. `/` or `..`).
    #[error("{} does not name a file", path.display())]
    NotAFile {
        /// The offending path.
        path: PathBuf,
    },

    /// The run directory exists, is not empty, and overwriting was not requested.
    #[error(
        "run directory {} already exists; pass --overwrite to replace it or choose another --out",
        path.display()
    )]
    RunDirExists {
        /// The run directory.
        path: PathBuf,
    },

    /// The run-directory path exists but is not a directory.
    #[error("run directory {} exists and is not a directory", path.display())]
    RunDirNotADir {
        /// The offending path.
        path: PathBuf,
    },

    /// A CSV row has a different number of fields than the header. The table is not yet tied to a
    /// file, so it is identified by its header.
    #[error("CSV table [{header}]: row {row} has {got} fields, the header has {expected}")]
    CsvColumns {
        /// The table's header, comma-joined, identifying the table (e.g. the future metrics.csv).
        header: String,
        /// 0-based index the row would have had.
        row: usize,
        /// Number of header columns.
        expected: usize,
        /// Number of fields in the rejected row.
        got: usize,
    },

    /// A CSV file that is not in the form [`crate::CsvTable`] writes.
    #[error("cannot read {} as a CSV table: line {line}: {reason}", path.display())]
    CsvParse {
        /// The file.
        path: PathBuf,
        /// 1-based line where the problem is.
        line: usize,
        /// What is wrong.
        reason: String,
    },

    /// An appended table's file does not match what the checkpoint recorded of it, so the run
    /// cannot continue it.
    #[error(
        "cannot resume {}: {reason}; restore the run directory as it was, or start the run again with --overwrite",
        path.display()
    )]
    ResumeMismatch {
        /// The table's file.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },

    /// Nothing to plot: no points, or none with finite coordinates.
    #[error("cannot plot {}: {reason}", path.display())]
    NoPoints {
        /// The plot file that was not written.
        path: PathBuf,
        /// Why, e.g. "no points" or "all 12 points have non-finite coordinates".
        reason: String,
    },

    /// A plot option is invalid (e.g. a non-finite or non-positive axis maximum).
    #[error("cannot plot {}: invalid option: {reason}", path.display())]
    InvalidOption {
        /// The plot file that was not written.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },

    /// The embedded font could not be registered with plotters.
    #[error("cannot load embedded font {}", path.display())]
    Font {
        /// The font's path inside this crate (it is compiled in).
        path: PathBuf,
    },

    /// Rendering or encoding a plot failed.
    #[error("cannot render {}: {message}", path.display())]
    Render {
        /// The plot file being rendered.
        path: PathBuf,
        /// The backend's or encoder's message.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::Io`].
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
