//! Everything a run needs before its first epoch: the resolved config (from a file, a value
//! built in code, or a run directory to resume), the device, the data, the model and the step
//! that trains it, the probe set information is measured on, and the run directory.

use std::collections::BTreeSet;
use std::path::PathBuf;

use candle_core::Tensor;
use probe_capture::NameFilter;
use probe_estimators::{entropy_bits, exact_symbols};
use probe_report::{create_run_dir, write_atomic, PlaneOptions};
use probe_train::ensemble::{EnsembleMlp, EnsembleTrainer};
use probe_train::fused::FusedMlp;
use probe_train::model::Model;
use probe_train::trainer::{DeviceData, Trainer};
use probe_train::vib::trainer::VibTrainer;
use probe_train::vib::{Vib, VibSpec};

use crate::capture::ProbeSet;
use crate::config::{Config, DatasetKind, DeviceChoice, MeasureOn};
use crate::error::{bail, Context, Result};
use crate::estimate::{EstimatorSpec, Samples};
use crate::rundir::files::{is_train_file, remove_own_files};
use crate::rundir::{default_out, CONFIG_FILE, INPUTS_FILE, LABELS_FILE};
use crate::step::ensemble::Ensemble;
use crate::step::{Fused, Plain, Step, VibStep};
use crate::{data, device, resume, tensors};

/// Where a run's configuration comes from.
#[derive(Clone, Debug)]
pub enum ConfigSource {
    /// A TOML file.
    File(PathBuf),
    /// A config built in code (e.g. from a Python dict); `name` says where it came from in
    /// messages.
    Value {
        /// The config.
        config: Box<Config>,
        /// What to call it in messages, e.g. `the config dict`.
        name: String,
    },
    /// Continue the interrupted run in this directory from its checkpoint (its `config.toml`).
    Resume(PathBuf),
}

/// What a training run is asked to do (the flags of `probe train`).
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The config, or the run to resume.
    pub config: ConfigSource,
    /// Run directory (default `runs/{name}-{UTC time}`); ignored when resuming.
    pub out: Option<PathBuf>,
    /// Replace probe's files in an existing run directory.
    pub overwrite: bool,
    /// Overrides `device`.
    pub device: Option<DeviceChoice>,
    /// Overrides `train.epochs` (a log schedule keeps at most one measurement per epoch).
    pub epochs: Option<usize>,
    /// Overrides `seed`.
    pub seed: Option<u64>,
    /// Overrides `train.lr`; when resuming, the learning rate from the next epoch on (e.g. a
    /// lower one after a divergence), recorded in `config.toml`.
    pub lr: Option<f64>,
    /// Stop (with a checkpoint) after this epoch, as an interrupted run would.
    pub stop_after: Option<usize>,
    /// When set (e.g. by a SIGINT handler), the run stops after the batch it is in with a
    /// checkpoint of the stopped epoch (after the epoch when it is set during a measurement or
    /// in an epoch collecting gradient statistics) and returns [`crate::Error::Interrupted`];
    /// resume continues at the next batch.
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
}

impl TrainOptions {
    /// Options that train `config` as it is.
    pub fn new(config: ConfigSource) -> Self {
        Self {
            config,
            out: None,
            overwrite: false,
            device: None,
            epochs: None,
            seed: None,
            lr: None,
            stop_after: None,
            stop: None,
        }
    }
}

/// Everything a run needs before its first epoch (see the module docs).
pub struct Setup {
    /// The resolved config (defaults filled in, overrides and the device applied).
    pub cfg: Config,
    /// The device.
    pub device: candle_core::Device,
    /// Hook points measured.
    pub hooks: Vec<String>,
    /// The estimators.
    pub estimators: Vec<crate::config::NamedEstimator>,
    /// Epochs whose activations are dumped.
    pub dumped: BTreeSet<usize>,
    /// Measured epochs.
    pub measured: probe_capture::Planned,
    /// The samples information is measured on.
    pub probe: ProbeSet,
    /// Plot axes and title.
    pub plane: PlaneOptions,
    /// The run directory.
    pub out: PathBuf,
    /// The checkpoint this run continues (verified: same config), if it is resumed.
    pub resume: Option<probe_train::checkpoint::Checkpoint>,
    /// Whether `--lr` set a new learning rate (applied after the checkpoint's optimiser state).
    pub new_lr: bool,
    /// Stop after this epoch (`--stop-after`).
    pub stop_after: Option<usize>,
    /// Stop after the current batch once this is set (a signal).
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// What trains the model: one epoch at a time.
    pub step: Box<dyn Step>,
}

/// Loads the config (or the resumed run's `config.toml`), applies the options, validates, loads
/// the data, builds the model and its step, and prepares the run directory.
pub fn setup(opts: &TrainOptions) -> Result<Setup> {
    let (mut cfg, source, resume_dir) = match &opts.config {
        ConfigSource::File(path) => (
            Config::load(path)?,
            format!("config file {}", path.display()),
            None,
        ),
        ConfigSource::Value { config, name } => ((**config).clone(), name.clone(), None),
        ConfigSource::Resume(dir) => {
            let path = dir.join(CONFIG_FILE);
            (
                Config::load(&path)?,
                format!("config file {}", path.display()),
                Some(dir.clone()),
            )
        }
    };
    let invalid = || format!("invalid {source}");
    // Where the config came from, in messages about one of its keys.
    let location = source.strip_prefix("config file ").unwrap_or(&source);
    check_flags(opts)?;
    let flags = |cfg: &mut Config| apply_flags(cfg, opts);
    let resume = match &resume_dir {
        None => None,
        Some(dir) => {
            let c = resume::open(dir)?;
            resume::verify_config(&c, dir, &cfg, flags)?;
            Some(c)
        }
    };
    let mut before = cfg.clone();
    flags(&mut cfg);
    before.device = cfg.device;
    let flags_changed = before.to_toml()? != cfg.to_toml()?;
    cfg.validate().with_context(invalid)?;
    check_stop_after(
        opts.stop_after,
        &cfg,
        resume.as_ref(),
        resume_dir.as_deref(),
    )?;
    cfg.train.checkpoint_every = Some(cfg.checkpoint_every());
    let device = device::resolve(cfg.device)?;
    let splits = data::load(&cfg)?;
    if cfg.data.dataset == DatasetKind::Mnist && splits.train.name.starts_with("mnist-subset") {
        // The MNIST subset stood in for a missing MNIST (see `data`): the resolved config says
        // what was trained on.
        cfg.data.dataset = DatasetKind::MnistSubset;
        cfg.data.path = cfg
            .data
            .path
            .take()
            .map(|p| p.with_file_name("mnist-subset"));
    }
    let classes = splits.train.classes.max(splits.test.classes);
    let shape = crate::model::DataShape {
        features: splits.train.d,
        classes,
        image: splits.train.image_shape,
        name: &splits.train.name,
    };
    let (model, resolved) =
        crate::model::build(&cfg.model, &shape, cfg.seed, &device).with_context(invalid)?;
    cfg.model = resolved;
    let vib = match &cfg.vib {
        None => None,
        Some(v) => {
            let Some(m) = cfg.model.mlp() else {
                bail!("`[vib]` needs `model.kind = \"mlp\"` (its hidden layers are the encoder)");
            };
            let w = &m.widths;
            let spec = VibSpec {
                input_dim: splits.train.d,
                hidden: w[1..w.len() - 1].to_vec(),
                k: v.k,
                classes,
                activation: m.activation,
                init: m.init,
            };
            Some(Vib::new(&spec, cfg.seed, &device)?)
        }
    };
    let fused = crate::model::use_fused(
        cfg.train.fused,
        crate::model::mlp_spec(&cfg.model)
            .filter(|_| vib.is_none())
            .as_ref(),
        &device,
    )
    .with_context(invalid)?;
    let hook_names = match &vib {
        Some(v) => v.hook_names(),
        None => model.hook_names(),
    };
    let hooks: Vec<String> = NameFilter::new(&cfg.measure.hooks)?
        .select(&hook_names)
        .with_context(|| format!("invalid value for `measure.hooks` in {location}"))?
        .into_iter()
        .map(String::from)
        .collect();
    let estimators = cfg.estimators()?;
    let dumped = cfg.dump_epochs()?;
    let measured = cfg.measured()?;

    let probe_ds = probe_samples(&cfg, &splits)?;
    let x_sym = exact_symbols(&probe_ds.x, probe_ds.n, probe_ds.d)?;
    let plane = plane_options(&cfg, &x_sym, &probe_ds.y);
    let probe = ProbeSet {
        x: Tensor::from_slice(&probe_ds.x, (probe_ds.n, probe_ds.d), &device)?,
        samples: Samples {
            x_ids: x_sym.ids,
            // Only knn reads the inputs themselves; others need just their symbols.
            x: estimators
                .iter()
                .any(|e| matches!(e.spec, EstimatorSpec::Knn { .. }))
                .then(|| (probe_ds.x.clone(), probe_ds.d)),
            y: probe_ds.y.clone(),
        },
        represent: cfg.representations(&hooks).with_context(invalid)?,
    };

    let out = match resume_dir {
        Some(dir) => {
            resume::remove_temporary_files(&dir)?;
            if flags_changed {
                // `--epochs`/`--lr` on resume: the run's config.toml says what it continues with.
                write_atomic(&dir.join(CONFIG_FILE), cfg.to_toml()?.as_bytes())?;
            }
            dir
        }
        None => {
            let out = opts.out.clone().unwrap_or_else(|| default_out(&cfg.name));
            create_run_dir(&out, opts.overwrite)?;
            if opts.overwrite {
                remove_own_files(&out, is_train_file)?;
            }
            if !dumped.is_empty() {
                // Written once: every dumped epoch shares the probe set's labels and inputs.
                write_atomic(&out.join(LABELS_FILE), &tensors::labels_bytes(&probe_ds.y)?)?;
                write_atomic(
                    &out.join(INPUTS_FILE),
                    &tensors::inputs_bytes(&probe_ds.x, probe_ds.n, probe_ds.d)?,
                )?;
            }
            cfg.device = device::choice(&device);
            write_atomic(&out.join(CONFIG_FILE), cfg.to_toml()?.as_bytes())?;
            out
        }
    };
    let step = build_step(&cfg, &device, splits, model, vib, fused)?;
    Ok(Setup {
        resume,
        new_lr: opts.lr.is_some(),
        stop_after: opts.stop_after,
        stop: opts.stop.clone(),
        cfg,
        device,
        hooks,
        estimators,
        dumped,
        measured,
        probe,
        plane,
        out,
        step,
    })
}

/// The samples information is measured on (`measure.on`).
fn probe_samples(cfg: &Config, splits: &data::Splits) -> Result<probe_train::data::Dataset> {
    Ok(match cfg.measure_on()? {
        MeasureOn::All => data::concat(&splits.train, &splits.test),
        MeasureOn::Train => splits.train.clone(),
        MeasureOn::Test => splits.test.clone(),
    })
}

/// The information plane's title and axes: I(X;T) up to log2 of the distinct inputs, I(T;Y) up
/// to H(Y), in bits.
fn plane_options(cfg: &Config, x: &probe_estimators::Symbols, y: &[u32]) -> PlaneOptions {
    PlaneOptions {
        title: format!("{} — information plane", cfg.name),
        x_max: Some((x.distinct as f64).log2()),
        y_max: Some(entropy_bits(y)),
    }
}

/// The plane options of a run of `cfg` (its data loaded again), for redrawing its figures.
pub fn plane_of(cfg: &Config) -> Result<PlaneOptions> {
    let probe_ds = probe_samples(cfg, &data::load(cfg)?)?;
    let x_sym = exact_symbols(&probe_ds.x, probe_ds.n, probe_ds.d)?;
    Ok(plane_options(cfg, &x_sym, &probe_ds.y))
}

/// Checks the flags that need no config: counts of at least 1, a finite positive learning rate.
fn check_flags(opts: &TrainOptions) -> Result<()> {
    if opts.epochs == Some(0) {
        bail!("invalid value for --epochs: 0; expected the number of epochs to train, at least 1");
    }
    if matches!(opts.config, ConfigSource::Resume(_)) && opts.seed.is_some() {
        bail!("--seed cannot change a resumed run (its weights and random streams come from the checkpoint); start a new run with --config FILE --seed N");
    }
    if opts.stop_after == Some(0) {
        bail!("invalid value for --stop-after: 0; expected an epoch of the run, at least 1");
    }
    if let Some(lr) = opts.lr {
        if !(lr > 0.0 && lr.is_finite()) {
            bail!("invalid value for --lr: {lr}; expected a positive learning rate such as 0.001");
        }
    }
    Ok(())
}

/// Checks that `--stop-after` names an epoch this run trains: after the checkpoint it resumes
/// from and at most `train.epochs`.
fn check_stop_after(
    stop_after: Option<usize>,
    cfg: &Config,
    resume: Option<&probe_train::checkpoint::Checkpoint>,
    dir: Option<&std::path::Path>,
) -> Result<()> {
    let Some(n) = stop_after else { return Ok(()) };
    let epochs = cfg.train.epochs;
    if n > epochs {
        bail!("invalid value for --stop-after: {n}; the run has {epochs} epochs (`train.epochs`), so it would never stop early. Give an epoch from 1 to {epochs}, or --epochs N to train longer");
    }
    if let (Some(c), Some(dir)) = (resume, dir) {
        let done = resume::epoch(c, dir)?;
        if n <= done {
            bail!("invalid value for --stop-after: {n}; the checkpoint of {} is at epoch {done} already, so resuming trains epochs {} to {epochs}. Give an epoch in that range", dir.display(), done + 1);
        }
    }
    Ok(())
}

/// Applies the flags that override config values (`--epochs`, `--seed`, `--device`, `--lr`).
fn apply_flags(cfg: &mut Config, opts: &TrainOptions) {
    if let Some(e) = opts.epochs {
        cfg.train.epochs = e;
        // A shorter run keeps its log schedule: at most one measurement per epoch.
        if let Some(p) = cfg.measure.points.as_mut() {
            *p = (*p).min(e.max(1));
        }
    }
    if let Some(s) = opts.seed {
        cfg.seed = s;
    }
    if let Some(d) = &opts.device {
        cfg.device = *d;
    }
    if let Some(lr) = opts.lr {
        cfg.train.lr = lr;
    }
}

/// The step that trains what `cfg` describes: a VIB, an ensemble of `train.repeats` seeds, or one
/// model on the fused or the candle path.
fn build_step(
    cfg: &Config,
    device: &candle_core::Device,
    splits: data::Splits,
    model: Box<dyn Model>,
    vib: Option<Vib>,
    fused: bool,
) -> Result<Box<dyn Step>> {
    let batch = cfg.train.batch_size;
    let train_d = DeviceData::new(&splits.train, device)?;
    let test_d = DeviceData::new(&splits.test, device)?;
    if let (Some(model), Some(vcfg)) = (vib, &cfg.vib) {
        return Ok(Box::new(VibStep {
            model,
            trainer: VibTrainer::new(batch, vcfg.beta, cfg.seed)?,
            cfg: vcfg.clone(),
            train: train_d,
            test: test_d,
            seed: [cfg.seed],
        }));
    }
    if cfg.train.repeats > 1 {
        let Some(spec) = crate::model::mlp_spec(&cfg.model) else {
            bail!("`model.widths` needs the input and output widths at least");
        };
        let seeds: Vec<u64> = (0..cfg.train.repeats as u64)
            .map(|r| cfg.seed + r)
            .collect();
        let optim = cfg.optim()?;
        let reps = match fused {
            true => (0..seeds.len())
                .map(|_| FusedMlp::new(&spec, &optim, batch))
                .collect::<probe_train::Result<Vec<_>>>()?,
            false => Vec::new(),
        };
        return Ok(Box::new(Ensemble {
            model: EnsembleMlp::new(&spec, &seeds, device)?,
            trainer: EnsembleTrainer::new(batch, &seeds)?,
            seeds,
            reps,
            loaded: false,
            train_d,
            test_d,
            train: splits.train,
            test: splits.test,
        }));
    }
    if fused {
        let Some(spec) = crate::model::mlp_spec(&cfg.model) else {
            bail!("the fused trainer needs an MLP; set `train.fused = false`");
        };
        return Ok(Box::new(Fused {
            model,
            trainer: Trainer::new(batch, cfg.seed)?,
            fused: FusedMlp::new(&spec, &cfg.optim()?, batch)?,
            loaded: false,
            train: splits.train,
            test: splits.test,
            seed: [cfg.seed],
        }));
    }
    Ok(Box::new(Plain {
        model,
        trainer: Trainer::new(batch, cfg.seed)?,
        train: train_d,
        test: test_d,
        seed: [cfg.seed],
    }))
}
