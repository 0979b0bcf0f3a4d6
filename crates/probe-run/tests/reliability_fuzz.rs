//! Mutation fuzzing on stable Rust (issue 17): the config parser, the IDX reader, the
//! safetensors inputs of `probe analyze` and the checkpoint loader get valid inputs (the corpus,
//! built here) with random bit flips, byte overwrites, insertions, deletions, truncations and
//! extreme size fields. Every input must be accepted or refused with an error: a panic fails the
//! test and saves the input under `target/fuzz-crashes/` (commit it beside this file as a
//! regression case). An abort (an allocation the input drives) would kill the test binary.
//!
//! CI runs a small budget (`PROBE_FUZZ_SECS`, default 1 second per target); locally, e.g.
//! `PROBE_FUZZ_SECS=600 cargo test --release -p probe-run --test reliability_fuzz -- --nocapture`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use probe_run::config::Config;
use probe_run::tensors;
use probe_train::checkpoint::Checkpoint;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

mod common;
use common::{config_file, tmp_dir};

/// Seconds each target runs.
fn budget() -> Duration {
    let secs = std::env::var("PROBE_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(1.0);
    Duration::from_secs_f64(secs)
}

/// `bytes` with 1 to 4 random mutations.
fn mutate(rng: &mut ChaCha8Rng, bytes: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    for _ in 0..rng.random_range(1..=4) {
        let len = v.len().max(1);
        let at = rng.random_range(0..len);
        match rng.random_range(0..7) {
            0 if !v.is_empty() => v[at] ^= 1 << rng.random_range(0..8),
            1 if !v.is_empty() => v[at] = rng.random(),
            2 => {
                let n = rng.random_range(1..16);
                let junk: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                v.splice(at.min(v.len())..at.min(v.len()), junk);
            }
            3 if !v.is_empty() => {
                let end = (at + rng.random_range(1..64)).min(v.len());
                v.drain(at..end);
            }
            4 => v.truncate(at),
            5 if v.len() >= at + 8 => {
                // An extreme size field (header lengths, dimensions, offsets).
                let x: u64 = [0, 1, u32::MAX as u64, u64::MAX, 1 << 40][rng.random_range(0..5)];
                let le = rng.random_bool(0.5);
                let b = if le { x.to_le_bytes() } else { x.to_be_bytes() };
                let w = [1, 2, 4, 8][rng.random_range(0..4)];
                v[at..at + w].copy_from_slice(&b[8 - w..]);
            }
            _ if v.len() >= 2 => {
                let (a, b) = (rng.random_range(0..v.len()), rng.random_range(0..v.len()));
                let (a, b) = (a.min(b), a.max(b));
                let copy = v[a..b.min(a + 64)].to_vec();
                v.splice(b..b, copy);
            }
            _ => v.push(rng.random()),
        }
    }
    v
}

/// Runs `target` on mutations of the `corpus` for [`budget`]; returns (runs, accepted). A panic
/// saves the input and fails.
fn fuzz(name: &str, corpus: &[Vec<u8>], target: impl Fn(&[u8]) -> bool) -> (usize, usize) {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    // The corpus itself must be accepted: it is what the mutations start from.
    for (i, c) in corpus.iter().enumerate() {
        assert!(target(c), "{name}: corpus entry {i} is refused");
    }
    let (start, mut runs, mut accepted) = (Instant::now(), 0, 0);
    while start.elapsed() < budget() || runs < 50 {
        let input = mutate(&mut rng, &corpus[runs % corpus.len()]);
        match catch_unwind(AssertUnwindSafe(|| target(&input))) {
            Ok(ok) => accepted += usize::from(ok),
            Err(_) => {
                let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../fuzz-crashes");
                std::fs::create_dir_all(&dir).unwrap();
                let p = dir.join(format!("{name}-{runs}"));
                std::fs::write(&p, &input).unwrap();
                panic!("{name}: input {runs} panicked; saved as {}", p.display());
            }
        }
        runs += 1;
    }
    eprintln!("fuzz {name}: {runs} inputs, {accepted} accepted, 0 panics");
    (runs, accepted)
}

/// A scratch file each target writes its input to.
fn scratch(tag: &str) -> PathBuf {
    tmp_dir(&format!("fuzz-{tag}")).join("input")
}

#[test]
fn fuzz_config_parser() {
    let corpus: Vec<Vec<u8>> = [
        "tishby_tanh.toml",
        "mlp_mnist.toml",
        "cnn_mnist.toml",
        "transformer_fashion.toml",
        "rnn_mnist.toml",
    ]
    .iter()
    .filter_map(|f| std::fs::read(config_file(f)).ok())
    .collect();
    assert!(!corpus.is_empty());
    let path = scratch("config");
    fuzz("config", &corpus, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        match Config::load(&path) {
            Ok(cfg) => cfg.validate().is_ok(),
            Err(e) => {
                assert!(!e.chain().is_empty());
                false
            }
        }
    });
}

/// An IDX file of `n` 3×2 images, or with `labels` its labels.
fn idx_bytes(n: u8, labels: bool) -> Vec<u8> {
    let mut v = vec![0, 0, 8, if labels { 1 } else { 3 }];
    v.extend(u32::from(n).to_be_bytes());
    if !labels {
        v.extend(3u32.to_be_bytes());
        v.extend(2u32.to_be_bytes());
    }
    let per = if labels { 1 } else { 6 };
    v.extend((0..n as usize * per).map(|i| (i * 37 % 256) as u8));
    v
}

#[test]
fn fuzz_idx_reader() {
    let corpus = vec![idx_bytes(5, false), idx_bytes(5, true), idx_bytes(1, false)];
    let path = scratch("idx");
    fuzz("idx", &corpus, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        let images = probe_train::data::read_idx_images(&path);
        let labels = probe_train::data::read_idx_labels(&path);
        if let Ok(i) = &images {
            assert_eq!(i.pixels.len(), i.n * i.rows * i.cols);
        }
        images.is_ok() || labels.is_ok()
    });
}

#[test]
fn fuzz_analyze_inputs() {
    let t = |v: Vec<f32>, n: usize| Tensor::from_vec(v, (n, 3), &Device::Cpu).unwrap();
    let layers = vec![
        (
            "layers.0".to_string(),
            t((0..12).map(|i| i as f32 / 7.0).collect(), 4),
        ),
        (
            "layers.1".to_string(),
            t((0..12).map(|i| -(i as f32)).collect(), 4),
        ),
    ];
    let corpus = vec![
        tensors::activations_bytes(&layers, 3).unwrap(),
        tensors::labels_bytes(&[0, 1, 1, 0]).unwrap(),
    ];
    let path = scratch("analyze");
    fuzz("analyze", &corpus, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        let acts = tensors::load_activations(&path).is_ok();
        let labels = tensors::load_labels(&path, None, 4).is_ok();
        acts || labels
    });
}

#[test]
fn fuzz_checkpoint_loader() {
    let mut c = Checkpoint::default();
    let w = Tensor::new(&[[0.5f32, -1.0, 2.0], [3.0, 0.0, -0.25]], &Device::Cpu).unwrap();
    c.tensors.push(("model.layers.0.weight".into(), w));
    c.tensors.push((
        "optim.m.0".into(),
        Tensor::new(&[1.0f64, 2.0], &Device::Cpu).unwrap(),
    ));
    c.meta.insert("epoch".into(), "4".into());
    c.meta.insert("config".into(), "name = \"x\"\n".into());
    c.blobs
        .insert("metrics.csv".into(), b"{\"header\":[]}".to_vec());
    let corpus = vec![c.to_bytes().unwrap()];
    let path = scratch("checkpoint");
    let (runs, accepted) = fuzz("checkpoint", &corpus, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        Checkpoint::read(&path, &Device::Cpu).is_ok()
    });
    // Every byte of a checkpoint is covered by a checksum or by the format itself: mutants are
    // refused (an accepted one could only have changed padding spaces of the header).
    assert!(
        accepted * 50 <= runs,
        "{accepted} of {runs} mutated checkpoints accepted"
    );
}
