//! `probe`: train neural networks and measure the information that flows through them.
//!
//! The binary is thin: clap parses the flags into the options of the `probe-run` library, which
//! does the work (`probe train`: [`probe_run::train`], with [`progress::Progress`] showing it;
//! `probe analyze`: [`analyze::analyze`]); errors are printed with their whole chain
//! (`error: what was being done: …: the cause`) and exit code 1; a run stopped by SIGINT or
//! SIGTERM (after writing its checkpoint, see [`signals`]) exits with 128 + the signal.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use probe_run::config::DeviceChoice;
use probe_run::estimate::RawEstimator;
use probe_run::{analyze, estimate, sweep_plot, ConfigSource, TrainOptions};

mod progress;
mod signals;

/// Train neural networks and draw their information planes: I(X;T) and I(T;Y) per layer per epoch.
#[derive(Parser)]
#[command(name = "probe", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train the model a config describes and measure its information plane.
    ///
    /// Writes to the run directory: config.toml (resolved), metrics.csv, infoplane.csv,
    /// flow.csv, stats.csv, model.safetensors, infoplane.png and infoplane.svg (and, with
    /// `measure.dump_activations`,
    /// activations-epoch{E}.safetensors, labels.safetensors and inputs.safetensors for
    /// `probe analyze`; with `measure.gradients`, gradients.csv/png; with `[vib]`, vib.csv; with
    /// `train.repeats`, per-seed rows, infoplane_mean.csv and model-seed{S}.safetensors). While
    /// it runs, checkpoint.safetensors every `train.checkpoint_every` epochs for --resume.
    /// Config keys: configs/README.md; workflows: docs/workflows.md.
    Train {
        /// The run's TOML config, e.g. configs/tishby_tanh.toml.
        #[arg(long, value_name = "FILE", required_unless_present = "resume")]
        config: Option<PathBuf>,
        /// Continue the interrupted run in DIR from its checkpoint.safetensors (same config, same
        /// results; on the CPU bit-identical to an uninterrupted run). Its config.toml must be the
        /// one the checkpoint was trained with; --epochs N extends the run to N epochs (a
        /// finished one too) and --lr X changes the learning rate, both recorded in config.toml.
        /// A run stopped by SIGINT/SIGTERM (exit 130/143) continues at the batch it stopped
        /// after; a finished run whose weights or figures were not written (a full disk) writes
        /// them.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["config", "out", "overwrite", "seed"])]
        resume: Option<PathBuf>,
        /// Stop after epoch N with a checkpoint, as an interrupted run would (continue with
        /// --resume).
        #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
        stop_after: Option<usize>,
        /// Run directory [default: runs/{name}-{UTC time}].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Replace probe's result files in an existing run directory (other files are kept).
        #[arg(long)]
        overwrite: bool,
        /// Where to train and measure; overrides the config's `device`.
        /// `auto` uses CUDA when probe was built with it and a GPU is present.
        #[arg(long, value_enum)]
        device: Option<DeviceArg>,
        /// No progress bar and no summary line (for scripts and CI).
        #[arg(long, short)]
        quiet: bool,
        /// Override `train.epochs` (the schedule is recomputed for the new length); with
        /// --resume, the new total of a run to extend.
        #[arg(long, value_name = "N", value_parser = count, allow_negative_numbers = true)]
        epochs: Option<usize>,
        /// Override `train.lr`; with --resume, the learning rate from the next epoch on (e.g. a
        /// lower one after the loss diverged).
        #[arg(long, value_name = "LR", allow_negative_numbers = true)]
        lr: Option<f64>,
        /// Override `seed` (weights and shuffling).
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
    },
    /// Measure the information plane of activations saved elsewhere (e.g. by PyTorch hooks).
    ///
    /// Every tensor of the activations file is one layer, [samples, …] (flattened per sample, any
    /// float dtype). Writes analysis.csv (the columns of infoplane.csv), analysis-flow.csv and
    /// analysis-stats.csv (those of flow.csv and stats.csv), analysis.json and analysis.png/svg
    /// to --out. Values in bits. Estimators: docs/estimators.md.
    #[command(
        after_help = "Example:\n  probe analyze --activations acts.safetensors --labels labels.safetensors \\\n      --estimator binned --estimator floor --width 0.5 --out runs/analysis"
    )]
    Analyze(Box<AnalyzeArgs>),
    /// Draw every figure of a run directory again from its config.toml and CSV files
    /// (infoplane*.png/svg, gradients.png/svg), e.g. after a full disk stopped the run before
    /// they were written. The data set is loaded again for the axes' bounds.
    Plot {
        /// The run directory.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Draw a VIB β sweep (the sweep.csv of scripts/vib_beta_sweep.sh): sweep_error.png/svg
    /// (test error vs log10 β) and sweep_bounds.png/svg (I(Z;X) and I(Z;Y) bounds vs log10 β).
    PlotSweep {
        /// The sweep table (columns beta, test_error, izx_bits, izy_bits at least).
        #[arg(long, value_name = "FILE")]
        csv: PathBuf,
        /// Directory for the figures (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
}

/// The flags of `probe analyze`.
#[derive(Args)]
struct AnalyzeArgs {
    /// Safetensors file, one tensor per layer: [samples, …], F16/BF16/F32/F64. Metadata
    /// `probe.layers` (JSON list) orders the layers, else natural name order.
    #[arg(long, value_name = "FILE")]
    activations: PathBuf,
    /// Safetensors file with one integer tensor of class ids, shape (samples,) (e.g. torch.int64).
    #[arg(long, value_name = "FILE")]
    labels: PathBuf,
    /// The tensor of --labels to use when the file holds several.
    #[arg(long, value_name = "NAME")]
    labels_key: Option<String>,
    /// Safetensors file with the inputs X, [samples, …]: I(X;T) = H(T) − H(T|X) with equal
    /// inputs sharing a symbol. Without it every sample is a distinct input (H(T|X) = 0 for
    /// a deterministic network).
    #[arg(long, value_name = "FILE")]
    inputs: Option<PathBuf>,
    /// The tensor of --inputs to use when the file holds several.
    #[arg(long, value_name = "NAME")]
    inputs_key: Option<String>,
    /// Estimator to run; repeat for several [default: binned].
    #[arg(long = "estimator", value_name = "KIND", value_parser = clap::builder::PossibleValuesParser::new(estimate::KINDS))]
    estimators: Vec<String>,
    /// Take the estimators from a config's [[measure.estimators]] tables instead (names
    /// included), e.g. a run directory's config.toml.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["estimators", "lo", "hi", "edges", "width", "bins", "sigma2", "k"])]
    config: Option<PathBuf>,
    /// binned: first edge [default: -1]
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    lo: Option<f64>,
    /// binned: last edge [default: 1]
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    hi: Option<f64>,
    /// binned: number of edges, edges − 1 bins [default: 30]
    #[arg(long, value_name = "N")]
    edges: Option<usize>,
    /// floor: bin width of floor(x / width) (required with --estimator floor)
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    width: Option<f64>,
    /// adaptive: number of equal-mass bins, edges from each layer's values [default: 30]
    #[arg(long, value_name = "N")]
    bins: Option<usize>,
    /// kde: noise variance σ² (required with --estimator kde; Saxe et al.: 1e-3 on the
    /// 12-bit net, 0.1 on MNIST)
    #[arg(long, value_name = "S2", allow_negative_numbers = true)]
    sigma2: Option<f64>,
    /// knn: neighbours [default: 3]; knn needs --inputs
    #[arg(long, value_name = "K")]
    k: Option<usize>,
    /// Skip the layer-to-layer information I(A_l; A_l+1) (analysis-flow.csv).
    #[arg(long)]
    no_flow: bool,
    /// Skip the per-layer activation statistics (analysis-stats.csv).
    #[arg(long)]
    no_stats: bool,
    /// Statistics: |x| >= this counts as saturated [default: 0.99, or the --config's]
    #[arg(long, value_name = "T")]
    saturation: Option<f64>,
    /// Output directory (created; an existing non-empty one needs --overwrite).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Replace analyze's files in an existing directory (other files are kept).
    #[arg(long)]
    overwrite: bool,
    /// No summary line.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

/// A count flag (`--epochs`, `--stop-after`): a whole number of at least 1.
fn count(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("expected a whole number of at least 1, got 0".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("expected a whole number of at least 1, got {s:?}")),
    }
}

fn main() -> ExitCode {
    probe_run::runtime::configure_process();
    let cli = Cli::parse();
    let stop = match signals::StopOnSignal::install() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: cannot install the SIGINT/SIGTERM handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Train {
            config,
            resume,
            stop_after,
            out,
            overwrite,
            device,
            quiet,
            epochs,
            lr,
            seed,
        } => {
            let source = match (resume, config) {
                (Some(dir), _) => Ok(ConfigSource::Resume(dir)),
                (None, Some(c)) => Ok(ConfigSource::File(c)),
                (None, None) => Err(probe_run::Error::Invalid(
                    "give --config FILE to start a run or --resume DIR to continue one".into(),
                )),
            };
            source.and_then(|source| {
                let opts = TrainOptions {
                    config: source,
                    out,
                    overwrite,
                    device: device.map(|d| match d {
                        DeviceArg::Auto => DeviceChoice::Auto,
                        DeviceArg::Cpu => DeviceChoice::Cpu,
                        DeviceArg::Cuda => DeviceChoice::Cuda,
                    }),
                    epochs,
                    seed,
                    lr,
                    stop_after,
                    stop: Some(stop.flag.clone()),
                };
                let mut progress = progress::Progress::new(quiet, Instant::now());
                probe_run::train(&opts, &mut [&mut progress]).map(|_| ())
            })
        }
        Command::PlotSweep { csv, out } => sweep_plot::plot_sweep(&csv, &out),
        Command::Plot { dir } => probe_run::rundir::plots::redraw(&dir).map(|_| {
            eprintln!("redrew the figures of {}", dir.display());
        }),
        Command::Analyze(a) => {
            let a = *a;
            analyze::analyze(&analyze::AnalyzeArgs {
                activations: a.activations,
                labels: a.labels,
                labels_key: a.labels_key,
                inputs: a.inputs,
                inputs_key: a.inputs_key,
                flags: analyze::EstimatorFlags {
                    kinds: a.estimators,
                    params: RawEstimator {
                        kind: String::new(),
                        lo: a.lo,
                        hi: a.hi,
                        edges: a.edges,
                        width: a.width,
                        bins: a.bins,
                        sigma2: a.sigma2,
                        k: a.k,
                    },
                },
                config: a.config,
                no_flow: a.no_flow,
                no_stats: a.no_stats,
                saturation: a.saturation,
                out: a.out,
                overwrite: a.overwrite,
                quiet: a.quiet,
            })
        }
        .map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The whole chain: `error: what was being done: …: the cause`.
            let interrupted = matches!(e.root(), probe_run::Error::Interrupted { .. });
            eprintln!("error: {:#}", anyhow::Error::from(e));
            match interrupted {
                // 128 + the signal, as a shell reports a process a signal ended.
                true => ExitCode::from(stop.exit_code()),
                false => ExitCode::FAILURE,
            }
        }
    }
}
