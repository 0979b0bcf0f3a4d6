//! Training-epoch timing for the benchmark harness (`scripts/bench/run.sh`): probe's side of the
//! side-by-side comparison with `scripts/bench/torch_train.py`, on the same data, model, batch size
//! and thread count.
//!
//! ```text
//! cargo run --release -p probe-train --example bench_train -- MODEL EPOCHS [DATA_DIR]
//! ```
//!
//! `MODEL` is `tishby` (the 12-10-7-5-4-3-2 tanh network, Adam 4e-4, batch 512, on the first 80% of
//! the 12-bit set) or `saxe_mlp` (784-1024-20-20-20-10 ReLU, SGD 0.01 without momentum, batch 128,
//! on the training images of the MNIST-format `DATA_DIR`, default Fashion-MNIST's Debian path). One
//! untimed warm-up epoch runs first. Each model trains on the path `probe train` takes for it (the
//! fused CPU trainer for both; `PROBE_BENCH_PATH=candle` selects candle's autograd; `path` in the
//! output). Prints one JSON object: per-epoch wall seconds and the mean training loss of the last
//! epoch (so both sides can be checked to do the same work).

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Var};
use probe_train::data::{load_mnist_dir, split, tishby12, SplitSpec, FASHION_MNIST_DEBIAN_DIR};
use probe_train::fused::FusedMlp;
use probe_train::model::{Activation, Init, Mlp, MlpSpec, Model};
use probe_train::optim::{OptimSpec, Optimizer};
use probe_train::trainer::{DeviceData, Trainer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As the probe binary does (see probe_train::threads).
    probe_train::threads::configure();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_train tishby|saxe_mlp EPOCHS [DATA_DIR]";
    let (model_name, epochs) = match args.as_slice() {
        [m, e, ..] => (m.as_str(), e.parse::<usize>().map_err(|_| usage)?),
        _ => return Err(usage.into()),
    };
    let device = Device::Cpu;
    let (train, spec, opt_spec, batch) = match model_name {
        "tishby" => {
            let (train, _) = split(
                &tishby12(),
                &SplitSpec::Ordered {
                    train_fraction: 0.8,
                },
            )?;
            let spec = MlpSpec {
                input_dim: 12,
                hidden: vec![10, 7, 5, 4, 3],
                classes: 2,
                activation: Activation::Tanh,
                init: Init::TruncatedNormal,
            };
            let opt = OptimSpec::Adam {
                lr: 4e-4,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
            };
            (train, spec, opt, 512)
        }
        "saxe_mlp" => {
            let dir = args
                .get(2)
                .map_or_else(|| PathBuf::from(FASHION_MNIST_DEBIAN_DIR), PathBuf::from);
            let splits = load_mnist_dir(&dir, "fashion-mnist")?;
            let spec = MlpSpec {
                input_dim: 784,
                hidden: vec![1024, 20, 20, 20],
                classes: 10,
                activation: Activation::Relu,
                init: Init::Default,
            };
            let opt = OptimSpec::Sgd {
                lr: 0.01,
                momentum: 0.0,
            };
            (splits.train, spec, opt, 128)
        }
        other => return Err(format!("unknown model {other:?}; {usage}").into()),
    };
    let data = DeviceData::new(&train, &device)?;
    let model = Mlp::new(&spec, 0, &device)?;
    let vars: Vec<Var> = model.named_vars().into_iter().map(|(_, v)| v).collect();
    let mut opt = Optimizer::new(opt_spec.clone(), vars.clone())?;
    let mut trainer = Trainer::new(batch, 0)?;
    // The path `probe train` takes for this model (train.fused absent).
    // `PROBE_BENCH_PATH=fused|candle` overrides, for comparing the two.
    let auto = FusedMlp::unsupported(&spec, &device).is_none();
    let use_fused = match std::env::var("PROBE_BENCH_PATH").as_deref() {
        Ok("fused") => true,
        Ok("candle") => false,
        _ => auto,
    };
    let mut fused = match use_fused {
        true => {
            let mut f = FusedMlp::new(&spec, &opt_spec, batch)?;
            f.load(&vars, &opt)?;
            Some(f)
        }
        false => None,
    };
    let mut epoch = |e: usize| -> probe_train::Result<f64> {
        Ok(match fused.as_mut() {
            Some(f) => {
                let loss = trainer.epoch_fused(e, f, &train, None)?.loss;
                f.store(&vars, &mut opt)?; // as the CLI does after every epoch
                loss
            }
            None => trainer.epoch(e, &model, &mut opt, &data)?.loss,
        })
    };
    epoch(0)?; // warm-up
    let mut times = Vec::with_capacity(epochs);
    let mut last_loss = f64::NAN;
    for e in 1..=epochs {
        let t0 = Instant::now();
        last_loss = epoch(e)?;
        times.push(t0.elapsed().as_secs_f64());
    }
    let path = if fused.is_some() { "fused" } else { "candle" };
    let times: Vec<String> = times.iter().map(|t| format!("{t:.6}")).collect();
    println!(
        "{{\"side\": \"probe\", \"model\": \"{model_name}\", \"path\": \"{path}\", \"samples\": {}, \
         \"batch\": {batch}, \"epoch_s\": [{}], \"last_loss\": {last_loss:.6}}}",
        data.n,
        times.join(", ")
    );
    Ok(())
}
