//! probe's side of `scripts/bench_estimators.sh`: every estimator at 10 000 × 1024, timed, with its
//! values, next to the numpy/scipy/scikit-learn equivalents that the script runs on the very same
//! data (written here as `.npy` files).
//!
//! ```text
//! cargo run --release -p probe-estimators --example bench_estimators -- DIR [N D]
//! ```
//!
//! Writes to `DIR`: `layer.npy` (`[N, D]` f32: `tanh(0.02·g + 0.02·y)`, g standard normal, 10
//! classes, the spread of `examples/bench_kde_knn.rs` so that neither KDE bound saturates),
//! `labels.npy` (`[N]` i64), `ksg_x{1,4}.npy` / `ksg_y{1,4}.npy` (`[N, d]` f32 Gaussian pairs with
//! correlation 0.5 per dimension, each column scaled to unit sample standard deviation so that
//! scikit-learn's own scaling leaves them unchanged), and `probe.json`: per estimator its median
//! wall time over `runs` runs (after one warm-up, except KDE: one run) and its values in bits.
//! Every estimator uses all CPU cores (2 on the benchmark machine), as numpy's BLAS does.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{Device, Tensor};
use probe_estimators::{binned_mi, kde_mi, ksg_mi, layer_stats, Binning};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

mod common;
use common::{gaussian, tanh_layer};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Writes a C-order `.npy` file (format 1.0) of little-endian values.
fn write_npy(path: &Path, descr: &str, shape: &[usize], bytes: &[u8]) -> Res<()> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    f.write_all(b"\x93NUMPY\x01\x00")?;
    f.write_all(&(header.len() as u16).to_le_bytes())?;
    f.write_all(header.as_bytes())?;
    f.write_all(bytes)?;
    Ok(f.flush()?)
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Median wall time of `runs` calls of `f` after one warm-up call (`runs = 1`: a single call).
fn timed<T>(runs: usize, mut f: impl FnMut() -> Res<T>) -> Res<(f64, T)> {
    if runs > 1 {
        f()?;
    }
    let mut times = Vec::with_capacity(runs);
    let mut out = None;
    for _ in 0..runs {
        let t0 = Instant::now();
        out = Some(f()?);
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let out = out.ok_or("no run")?;
    Ok((times[times.len() / 2], out))
}

/// `n × d` Gaussian pairs, correlation `rho` per dimension, each column scaled to unit sample
/// standard deviation (numpy's `std`, ddof 0) before rounding to f32.
fn ksg_pairs(rng: &mut ChaCha8Rng, n: usize, d: usize, rho: f64) -> (Vec<f32>, Vec<f32>) {
    let mut x = vec![0.0f64; n * d];
    let mut y = vec![0.0f64; n * d];
    for i in 0..n * d {
        let a = gaussian(rng);
        x[i] = a;
        y[i] = rho * a + (1.0 - rho * rho).sqrt() * gaussian(rng);
    }
    let scale = |v: &mut [f64]| {
        for c in 0..d {
            let col: Vec<f64> = (0..n).map(|r| v[r * d + c]).collect();
            let mean = col.iter().sum::<f64>() / n as f64;
            let sd = (col.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
            for r in 0..n {
                v[r * d + c] /= sd;
            }
        }
    };
    scale(&mut x);
    scale(&mut y);
    let to32 = |v: Vec<f64>| v.into_iter().map(|a| a as f32).collect();
    (to32(x), to32(y))
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().ok_or("usage: bench_estimators DIR [N D]")?);
    let (n, d) = match &args[1..] {
        [n, d] => (n.parse()?, d.parse()?),
        _ => (10_000usize, 1024usize),
    };
    std::fs::create_dir_all(&dir)?;
    let runs = 3;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    eprintln!("probe: N = {n}, d = {d}, {threads} CPU threads");

    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let (y, acts) = tanh_layer(&mut rng, n, d);
    write_npy(&dir.join("layer.npy"), "<f4", &[n, d], &f32_bytes(&acts))?;
    let y64: Vec<u8> = y.iter().flat_map(|&v| (v as i64).to_le_bytes()).collect();
    write_npy(&dir.join("labels.npy"), "<i8", &[n], &y64)?;
    let x_ids: Vec<u32> = (0..n as u32).collect(); // every sample its own input

    let mut results = serde_like::Object::default();
    for (name, binning) in [
        ("binned", Binning::DEFAULT_FIXED),
        ("floor", Binning::Floor { width: 0.5 }),
        ("adaptive", Binning::Adaptive { bins: 30 }),
    ] {
        let (secs, mi) = timed(runs, || Ok(binned_mi(&acts, n, d, &binning, &x_ids, &y)?))?;
        eprintln!(
            "{name:>9}: {secs:.4} s  I(X;T) {:.6} I(T;Y) {:.6}",
            mi.i_xt, mi.i_ty
        );
        results.push(name, secs, &[("i_xt", mi.i_xt), ("i_ty", mi.i_ty)]);
    }

    let fixed = Binning::DEFAULT_FIXED;
    let (secs, st) = timed(runs, || Ok(layer_stats(&acts, n, d, Some(&fixed), 0.99)?))?;
    let e = st.entropy.clone().ok_or("stats without entropy")?;
    eprintln!("    stats: {secs:.4} s  H mean {:.6}", e.mean);
    results.push(
        "stats",
        secs,
        &[
            ("entropy_mean", e.mean),
            ("entropy_min", e.min),
            ("entropy_max", e.max),
            ("surprisal_mean", e.surprisal_mean),
            ("sparsity", st.sparsity),
            ("saturation", st.saturation),
            ("dead_units", st.dead_units as f64),
        ],
    );

    let t = Tensor::from_slice(&acts, (n, d), &Device::Cpu)?;
    let sigma2 = 0.1;
    let (secs, k) = timed(1, || Ok(kde_mi(&t, &y, sigma2)?))?;
    eprintln!(
        "      kde: {secs:.4} s  I(X;T) {:.6}/{:.6}",
        k.i_xt_upper, k.i_xt_lower
    );
    results.push(
        "kde",
        secs,
        &[
            ("i_xt_upper", k.i_xt_upper),
            ("i_xt_lower", k.i_xt_lower),
            ("i_ty_upper", k.i_ty_upper),
            ("i_ty_lower", k.i_ty_lower),
        ],
    );

    for dim in [1usize, 4] {
        let (x, yv) = ksg_pairs(&mut rng, n, dim, 0.5);
        write_npy(
            &dir.join(format!("ksg_x{dim}.npy")),
            "<f4",
            &[n, dim],
            &f32_bytes(&x),
        )?;
        write_npy(
            &dir.join(format!("ksg_y{dim}.npy")),
            "<f4",
            &[n, dim],
            &f32_bytes(&yv),
        )?;
        let (secs, bits) = timed(runs, || Ok(ksg_mi(&x, dim, &yv, dim, n, 3)?))?;
        let truth = -(dim as f64) / 2.0 * (1.0 - 0.25f64).log2();
        eprintln!("   ksg d={dim}: {secs:.4} s  I {bits:.6} bits (truth {truth:.6})");
        results.push(
            &format!("ksg_d{dim}"),
            secs,
            &[("i", bits), ("truth", truth)],
        );
    }
    std::fs::write(dir.join("probe.json"), results.finish(n, d, threads))?;
    Ok(())
}

/// A tiny JSON writer for the results (the example needs no serde).
mod serde_like {
    /// `{"name": {"seconds": s, "values": {k: v, …}}, …}` being built.
    #[derive(Default)]
    pub struct Object(Vec<String>);

    impl Object {
        pub fn push(&mut self, name: &str, seconds: f64, values: &[(&str, f64)]) {
            let vals: Vec<String> = values
                .iter()
                .map(|(k, v)| format!("\"{k}\": {}", num(*v)))
                .collect();
            self.0.push(format!(
                "\"{name}\": {{\"seconds\": {}, \"values\": {{{}}}}}",
                num(seconds),
                vals.join(", ")
            ));
        }

        pub fn finish(self, n: usize, d: usize, threads: usize) -> String {
            format!(
                "{{\"n\": {n}, \"d\": {d}, \"threads\": {threads}, \"results\": {{\n  {}\n}}}}\n",
                self.0.join(",\n  ")
            )
        }
    }

    /// Shortest round-trip form (`{:?}` of f64), `null` for non-finite values.
    fn num(v: f64) -> String {
        if v.is_finite() {
            format!("{v:?}")
        } else {
            "null".into()
        }
    }
}
