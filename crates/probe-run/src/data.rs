//! Turns `[data]` into train and test sets: built-in data, IDX directories and their splits.
//!
//! Relative paths are resolved against the current directory; for the data sets that live in the
//! repository (`datasets/mnist`, `datasets/fashion-mnist-subset`) the source checkout's copy is
//! used when the current directory has none.

use std::path::{Path, PathBuf};

use crate::error::{bail, Result};
use probe_train::data::{self, Dataset, SplitSpec};

use crate::config::{Config, DatasetKind, SplitKind};

/// The train and test sets of a run.
pub struct Splits {
    /// Training samples.
    pub train: Dataset,
    /// Held-out samples.
    pub test: Dataset,
}

/// Loads and splits the data `cfg` names.
pub fn load(cfg: &Config) -> Result<Splits> {
    let d = &cfg.data;
    let split_spec = |kind: SplitKind| match kind {
        SplitKind::Ordered => Some(SplitSpec::Ordered {
            train_fraction: d.train_fraction,
        }),
        SplitKind::Shuffled => Some(SplitSpec::Shuffled {
            train_fraction: d.train_fraction,
            seed: d.split_seed.unwrap_or(cfg.seed),
        }),
        SplitKind::Original => None,
    };
    let (mut train, test) = match d.dataset {
        DatasetKind::Tishby12 => {
            let Some(spec) = split_spec(d.split) else {
                bail!("invalid value for `data.split`: \"original\" — tishby12 has no original split; use \"ordered\" (IDNNs) or \"shuffled\"");
            };
            data::split(&data::tishby12(), &spec)?
        }
        kind => {
            let dir = idx_dir(kind, d.path.as_deref())?;
            let name = dir_name(kind);
            let files = data::load_mnist_dir(&dir, name)?;
            match split_spec(d.split) {
                None => (files.train, files.test),
                Some(spec) => data::split(&concat(&files.train, &files.test), &spec)?,
            }
        }
    };
    if d.train_limit > 0 && d.train_limit < train.n {
        let idx: Vec<usize> = (0..d.train_limit).collect();
        train = train.subset(&idx);
    }
    Ok(Splits { train, test })
}

fn dir_name(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::Tishby12 => "tishby12",
        DatasetKind::Mnist => "mnist",
        DatasetKind::FashionMnist => "fashion-mnist",
        DatasetKind::FashionMnistSubset => "fashion-mnist-subset",
        DatasetKind::Idx => "idx",
    }
}

/// The directory of an IDX data set: `data.path`, or the data set's default location.
fn idx_dir(kind: DatasetKind, path: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = path {
        return Ok(p.to_path_buf());
    }
    let in_repo = |sub: &str| {
        let here = Path::new("datasets").join(sub);
        if here.exists() {
            here
        } else {
            data::source_datasets_dir().join(sub)
        }
    };
    Ok(match kind {
        DatasetKind::Mnist => in_repo("mnist"),
        DatasetKind::FashionMnistSubset => in_repo("fashion-mnist-subset"),
        DatasetKind::FashionMnist => PathBuf::from(data::FASHION_MNIST_DEBIAN_DIR),
        DatasetKind::Idx => bail!("`data.path` is required with dataset = \"idx\": the directory holding the four MNIST-format IDX files"),
        DatasetKind::Tishby12 => bail!("tishby12 is generated in code and has no directory"),
    })
}

/// `a` followed by `b`: pools an IDX set's own train and test files before re-splitting, and
/// forms the `all` probe set.
pub fn concat(a: &Dataset, b: &Dataset) -> Dataset {
    let mut out = a.clone();
    out.name = a.name.trim_end_matches("-train").to_string();
    out.x.extend_from_slice(&b.x);
    out.y.extend_from_slice(&b.y);
    out.n += b.n;
    out
}
