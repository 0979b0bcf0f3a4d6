//! Training throughput of the CNN, Transformer and RNN of `configs/{cnn,transformer,rnn}_fashion.toml`
//! — probe's side of `scripts/bench_models.sh`, which runs `scripts/bench_models.py` (the same
//! models in PyTorch, same data, batch size, optimiser and thread count) beside it.
//!
//! ```text
//! cargo run --release -p probe-train --example bench_models -- MODEL [SAMPLES] [DATA_DIR]
//! ```
//!
//! `MODEL` is `cnn`, `transformer`, `rnn` (a model of the configs), or `conv` (one 32→64 channel
//! 3×3 convolution on 14×14 maps, forward + backward, candle's `conv2d` against probe's im2col
//! form; `SAMPLES` is then the number of repetitions). For a model, the first `SAMPLES` (default
//! 12800) Fashion-MNIST training images are trained on for one untimed warm-up epoch and one timed
//! epoch (Adam 1e-3, batch 128, training mode), reporting its wall time, the process's CPU time (and its system part) and minor page faults per step. Threads: candle's CPU kernels use
//! `RAYON_NUM_THREADS` (default: every core). Prints one JSON object per line.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::{Device, Tensor, Var};
use probe_train::data::{load_mnist_dir, FASHION_MNIST_DEBIAN_DIR};
use probe_train::model::layers::conv::conv2d;
use probe_train::model::{
    Activation, CellKind, Cnn, CnnSpec, ConvSpec, Init, Model, PoolType, Pooling, Rnn, RnnSpec,
    Tokens, Transformer, TransformerSpec,
};
use probe_train::optim::{OptimSpec, Optimizer};
use probe_train::trainer::{DeviceData, Trainer};

const BATCH: usize = 128;

/// The models of the configs (keep in step with configs/*_fashion.toml and bench_models.py).
fn model(name: &str) -> Option<Box<dyn Model>> {
    let dev = &Device::Cpu;
    let conv = |channels| ConvSpec {
        channels,
        kernel: 3,
        stride: 1,
        padding: 1,
        pool: 2,
    };
    Some(match name {
        "cnn" => Box::new(
            Cnn::new(
                &CnnSpec {
                    image: (1, 28, 28),
                    convs: vec![conv(16), conv(32)],
                    pool_type: PoolType::Max,
                    fc: vec![128],
                    classes: 10,
                    activation: Activation::Relu,
                    batch_norm: false,
                    dropout: 0.0,
                    init: Init::Default,
                },
                0,
                dev,
            )
            .ok()?,
        ),
        "transformer" => Box::new(
            Transformer::new(
                &TransformerSpec {
                    image: (1, 28, 28),
                    tokens: Tokens::Patch(7),
                    d_model: 64,
                    heads: 4,
                    layers: 2,
                    d_mlp: 128,
                    pooling: Pooling::Cls,
                    classes: 10,
                    init: Init::Default,
                },
                0,
                dev,
            )
            .ok()?,
        ),
        "rnn" => Box::new(
            Rnn::new(
                &RnnSpec {
                    image: (1, 28, 28),
                    cell: CellKind::Gru,
                    hidden: 128,
                    layers: 1,
                    classes: 10,
                },
                0,
                dev,
            )
            .ok()?,
        ),
        _ => return None,
    })
}

/// One convolution's forward + backward, candle's `conv2d` against ours, `reps` times each.
fn conv_bench(reps: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dev = Device::Cpu;
    let x = Var::from_tensor(&Tensor::rand(0f32, 1., (BATCH, 32, 14, 14), &dev)?)?;
    let w = Var::from_tensor(&Tensor::rand(-0.06f32, 0.06, (64, 32, 3, 3), &dev)?)?;
    type Conv = fn(&Tensor, &Tensor) -> Result<Tensor, Box<dyn std::error::Error>>;
    let candle: Conv = |x, w| Ok(x.conv2d(w, 1, 1, 1, 1)?);
    let ours: Conv = |x, w| Ok(conv2d(x, w, 1, 1)?);
    for (name, f) in [("candle_conv2d", candle), ("probe_im2col", ours)] {
        let run = || -> Result<(), Box<dyn std::error::Error>> {
            let y = f(x.as_tensor(), w.as_tensor())?;
            let g = y.sqr()?.sum_all()?.backward()?;
            // Read back both gradients so the work is done before the clock stops.
            for v in [&x, &w] {
                let _ = g
                    .get(v.as_tensor())
                    .ok_or("no gradient")?
                    .sum_all()?
                    .to_scalar::<f32>()?;
            }
            Ok(())
        };
        run()?;
        let start = Instant::now();
        for _ in 0..reps {
            run()?;
        }
        let ms = start.elapsed().as_secs_f64() * 1e3 / reps as f64;
        println!("{{\"impl\": \"{name}\", \"what\": \"conv 32->64 3x3 on 14x14, batch {BATCH}, fwd+bwd\", \"ms_per_step\": {ms:.2}}}");
    }
    Ok(())
}

/// Process counters so far, from `/proc/self/stat` (Linux; `None` elsewhere): user and system CPU
/// seconds (all threads) and minor page faults. On a machine shared with other work these, not
/// wall time, are what the process cost; the faults count fresh pages the kernel had to zero.
#[derive(Clone, Copy)]
struct Counters {
    user_s: f64,
    sys_s: f64,
    minflt: u64,
}

fn counters() -> Option<Counters> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name: minflt, utime and stime are fields 10, 14, 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // USER_HZ is 100 on every Linux configuration in use.
    let secs = |i: usize| -> Option<f64> { Some(f.get(i)?.parse::<f64>().ok()? / 100.0) };
    Some(Counters {
        user_s: secs(11)?,
        sys_s: secs(12)?,
        minflt: f.get(7)?.parse().ok()?,
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As the probe binary does (see probe_train::threads and probe_train::malloc).
    probe_train::threads::configure();
    probe_train::malloc::tune();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: bench_models cnn|transformer|rnn|conv [SAMPLES] [DATA_DIR]";
    let name = args.first().ok_or(usage)?.as_str();
    let samples: usize = match args.get(1) {
        Some(s) => s.parse().map_err(|_| usage)?,
        None => 12_800,
    };
    if name == "conv" {
        return conv_bench(samples.min(1000));
    }
    let m = model(name).ok_or(usage)?;
    let dir = PathBuf::from(args.get(2).map_or(FASHION_MNIST_DEBIAN_DIR, |s| s.as_str()));
    let mut train = load_mnist_dir(&dir, "fashion-mnist")?.train;
    let n = samples.min(train.n);
    train.x.truncate(n * train.d);
    train.y.truncate(n);
    train.n = n;
    let data = DeviceData::new(&train, &Device::Cpu)?;
    let vars = m.named_vars().into_iter().map(|(_, v)| v).collect();
    let adam = OptimSpec::Adam {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let mut opt = Optimizer::new(adam, vars)?;
    let mut trainer = Trainer::new(BATCH, 0)?;
    trainer.epoch(1, &*m, &mut opt, &data)?; // warm-up
    let c0 = counters();
    let start = Instant::now();
    let r = trainer.epoch(2, &*m, &mut opt, &data)?;
    let secs = start.elapsed().as_secs_f64();
    let steps = n.div_ceil(BATCH);
    let (cpu, sys, faults) = match (c0, counters()) {
        (Some(a), Some(b)) => {
            let cpu = (b.user_s + b.sys_s) - (a.user_s + a.sys_s);
            let sys = b.sys_s - a.sys_s;
            let faults = (b.minflt - a.minflt) as f64 / steps as f64;
            (
                format!("{cpu:.3}"),
                format!("{sys:.3}"),
                format!("{faults:.0}"),
            )
        }
        _ => ("null".into(), "null".into(), "null".into()),
    };
    println!(
        "{{\"impl\": \"probe\", \"model\": \"{name}\", \"samples\": {n}, \"batch\": {BATCH}, \"threads\": {}, \"epoch_s\": {secs:.3}, \"cpu_s\": {cpu}, \"sys_s\": {sys}, \"faults_per_step\": {faults}, \"ms_per_step\": {:.2}, \"samples_per_s\": {:.0}, \"train_loss\": {:.4}}}",
        candle_core::utils::get_num_threads(),
        secs * 1e3 / steps as f64,
        n as f64 / secs,
        r.loss
    );
    Ok(())
}
