//! Scratch directories for the data tests: one fresh, empty directory per test, removed when
//! the test ends (also when it fails).

use std::path::PathBuf;

/// A fresh, empty directory for the test `test` (unique per test process), removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// Creates (or empties) the directory.
    pub fn new(test: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("probe-train-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
