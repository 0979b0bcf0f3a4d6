//! `probe`: train neural networks and measure the information that flows through them.
//!
//! The binary is thin: clap parses the flags, [`run`] drives the library crates, and errors are
//! printed with their whole chain (`error: …: caused by …`) and exit code 1.

mod config;
mod data;
mod device;
mod measure;
mod run;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

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
    /// model.safetensors, infoplane.png and infoplane.svg. Config keys: configs/README.md.
    Train {
        /// The run's TOML config, e.g. configs/tishby_tanh.toml.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
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
        /// Override `train.epochs` (the schedule is recomputed for the new length).
        #[arg(long, value_name = "N")]
        epochs: Option<usize>,
        /// Override `seed` (weights and shuffling).
        #[arg(long, value_name = "N")]
        seed: Option<u64>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train {
            config,
            out,
            overwrite,
            device,
            quiet,
            epochs,
            seed,
        } => run::train(&run::TrainArgs {
            config,
            out,
            overwrite,
            device: device.map(|d| match d {
                DeviceArg::Auto => "auto".to_string(),
                DeviceArg::Cpu => "cpu".to_string(),
                DeviceArg::Cuda => "cuda".to_string(),
            }),
            quiet,
            epochs,
            seed,
        })
        .map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
