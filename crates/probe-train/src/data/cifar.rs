//! CIFAR-10, binary version (Krizhevsky 2009; `cifar-10-binary.tar.gz`): 50000 training images in
//! `data_batch_1.bin` … `data_batch_5.bin` and 10000 test images in `test_batch.bin`, 32×32
//! colour, 10 classes.
//!
//! Each file is a sequence of 3073-byte records: one label byte (`0..=9`), then 1024 red, 1024
//! green and 1024 blue bytes, each plane row-major. A record is already channel-major, so a row
//! of the [`Dataset`] is those 3072 bytes / 255 (`image_shape = Some((32, 32))`, 3 channels).
//! Batches are read in order (1 to 5), records in file order.
//!
//! [`load_cifar10_dir`] takes the directory holding the six files, or the directory the archive
//! was unpacked in (it then looks in its `cifar-10-batches-bin/`). Missing files are listed in one
//! error; a file that is not whole records, or a label above 9, is an error naming the file (and
//! the record).
//!
//! ```no_run
//! use probe_train::data::load_cifar10_dir;
//! let s = load_cifar10_dir("datasets/cifar10".as_ref(), "cifar10")?;
//! assert_eq!((s.train.n, s.test.n, s.train.d, s.train.channels()), (50000, 10000, 3072, 3));
//! # Ok::<(), probe_train::data::DataError>(())
//! ```

use std::path::{Path, PathBuf};

use super::{DataError, Dataset, MnistSplits};

/// Bytes per CIFAR-10 record: a label and 3 × 32 × 32 pixels.
pub const CIFAR10_RECORD: usize = 1 + 3 * 32 * 32;

/// The six files of the binary version, training batches first.
pub const CIFAR10_FILES: [&str; 6] = [
    "data_batch_1.bin",
    "data_batch_2.bin",
    "data_batch_3.bin",
    "data_batch_4.bin",
    "data_batch_5.bin",
    "test_batch.bin",
];

/// The subdirectory `cifar-10-binary.tar.gz` unpacks into.
pub const CIFAR10_ARCHIVE_DIR: &str = "cifar-10-batches-bin";

fn read_batch(path: &Path, ds: &mut Dataset) -> Result<(), DataError> {
    let bytes = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    if bytes.len() % CIFAR10_RECORD != 0 {
        return Err(DataError::CifarRecordSize {
            path: path.to_path_buf(),
            len: bytes.len() as u64,
        });
    }
    for (record, r) in bytes.chunks_exact(CIFAR10_RECORD).enumerate() {
        if r[0] > 9 {
            return Err(DataError::CifarLabel {
                path: path.to_path_buf(),
                record,
                value: r[0],
            });
        }
        ds.y.push(u32::from(r[0]));
        ds.x.extend(r[1..].iter().map(|&b| f32::from(b) / 255.0));
        ds.n += 1;
    }
    Ok(())
}

fn empty(name: String) -> Dataset {
    Dataset {
        name,
        x: Vec::new(),
        y: Vec::new(),
        n: 0,
        d: CIFAR10_RECORD - 1,
        classes: 10,
        image_shape: Some((32, 32)),
    }
}

/// Where the six files are: `dir`, or `dir/cifar-10-batches-bin` when only that has them.
fn files_dir(dir: &Path) -> PathBuf {
    let all_in = |d: &Path| CIFAR10_FILES.iter().all(|f| d.join(f).is_file());
    let nested = dir.join(CIFAR10_ARCHIVE_DIR);
    if !all_in(dir) && all_in(&nested) {
        nested
    } else {
        dir.to_path_buf()
    }
}

/// Loads CIFAR-10 (binary version) from `dir` (see the module docs); the splits are named
/// `{name}-train` and `{name}-test`, with 10 classes.
pub fn load_cifar10_dir(dir: &Path, name: &str) -> Result<MnistSplits, DataError> {
    let dir = files_dir(dir);
    let missing: Vec<String> = CIFAR10_FILES
        .iter()
        .filter(|f| !dir.join(f).is_file())
        .map(|f| f.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(DataError::MissingDataFiles {
            dir_exists: dir.is_dir(),
            dir,
            missing,
            hint: "these are the files of the binary version, cifar-10-binary.tar.gz from \
                   https://www.cs.toronto.edu/~kriz/cifar.html (unpack it into this directory). \
                   See datasets/README.md",
        });
    }
    let mut train = empty(format!("{name}-train"));
    let mut test = empty(format!("{name}-test"));
    for f in &CIFAR10_FILES[..5] {
        read_batch(&dir.join(f), &mut train)?;
    }
    read_batch(&dir.join(CIFAR10_FILES[5]), &mut test)?;
    if train.n == 0 {
        return Err(DataError::Empty {
            what: format!("CIFAR-10 in {}", dir.display()),
        });
    }
    Ok(MnistSplits { train, test })
}
