//! An independent reference for the binned estimators, written from the documented definitions
//! alone (README → Estimators, `probe_estimators::binning`'s module docs), to check the
//! `infoplane.csv` of training runs against the activations they dumped:
//!
//! * every value is widened to f64;
//! * `binned`: edges `e_i = lo + i·(hi − lo)/(edges − 1)` (the last exactly `hi`), bin
//!   `#{i : e_i ≤ x} − 1` clamped to `[0, edges − 2]`;
//! * `floor`: bin `⌊x / width⌋`;
//! * `adaptive`: the `U` sorted distinct finite values `u` of the whole layer, edges
//!   `u[⌊k·U / bins⌋]` for `k = 1 … bins − 1`, bin `#{edges ≤ x}`;
//! * a sample's symbol is its row of bins; `I(X;T) = H(T) − H(T|X)` and `I(T;Y) = H(T) − H(T|Y)`
//!   in bits from plug-in counts (`H(T|X) = H(T, X) − H(X)`), grouped in `BTreeMap`s.
//!
//! `infoplane_reference.rs` checks this reference against numpy on committed activations.

#![allow(dead_code)] // each test binary uses its own subset

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};

/// A binning by its documented definition.
#[derive(Clone, Copy, Debug)]
pub enum Bins {
    Fixed { lo: f64, hi: f64, edges: usize },
    Floor { width: f64 },
    Adaptive { bins: usize },
}

/// The rows of `acts` `[n, d]` as rows of bins.
fn bin_rows(acts: &Tensor, bins: Bins) -> Vec<Vec<i64>> {
    let rows = acts.to_dtype(DType::F32).unwrap().to_vec2::<f32>().unwrap();
    let edges: Vec<f64> = match bins {
        Bins::Fixed { lo, hi, edges } => {
            let step = (hi - lo) / (edges - 1) as f64;
            (0..edges)
                .map(|i| {
                    if i == edges - 1 {
                        hi
                    } else {
                        lo + i as f64 * step
                    }
                })
                .collect()
        }
        Bins::Adaptive { bins } => {
            let mut u: Vec<f64> = rows.iter().flatten().map(|&v| f64::from(v)).collect();
            u.retain(|v| v.is_finite());
            u.sort_by(f64::total_cmp);
            u.dedup_by(|a, b| a == b); // -0.0 == 0.0: one value
            (1..bins).map(|k| u[k * u.len() / bins]).collect()
        }
        Bins::Floor { .. } => Vec::new(),
    };
    let count = |x: f64| edges.iter().filter(|&&e| e <= x).count() as i64;
    let bin = |v: f32| -> i64 {
        let x = f64::from(v);
        match bins {
            Bins::Fixed { edges: n, .. } => (count(x) - 1).clamp(0, n as i64 - 2),
            Bins::Floor { width } => (x / width).floor() as i64,
            Bins::Adaptive { .. } => count(x),
        }
    };
    rows.iter()
        .map(|r| r.iter().map(|&v| bin(v)).collect())
        .collect()
}

/// Plug-in entropy in bits of the symbols' counts.
fn entropy<K: Ord>(symbols: impl Iterator<Item = K>) -> f64 {
    let mut counts = BTreeMap::<K, usize>::new();
    let mut n = 0usize;
    for s in symbols {
        *counts.entry(s).or_default() += 1;
        n += 1;
    }
    -counts
        .values()
        .map(|&c| {
            let p = c as f64 / n as f64;
            p * p.log2()
        })
        .sum::<f64>()
}

/// `(I(X;T), I(T;Y))` in bits of `acts` `[n, d]` binned by `bins`; `x` gives each sample's input
/// (equal ids: the same input), `y` its label.
pub fn mutual_information(acts: &Tensor, bins: Bins, x: &[u64], y: &[i64]) -> (f64, f64) {
    let rows = bin_rows(acts, bins);
    assert_eq!((rows.len(), x.len()), (y.len(), y.len()), "samples");
    let h_t = entropy(rows.iter());
    let h_t_x = entropy(rows.iter().zip(x)) - entropy(x.iter());
    let h_t_y = entropy(rows.iter().zip(y)) - entropy(y.iter());
    (h_t - h_t_x, h_t - h_t_y)
}

/// Ids of equal rows of `inputs` `[n, …]` (f32 bit patterns compared exactly).
pub fn input_ids(inputs: &Tensor) -> Vec<u64> {
    let mut ids = HashMap::<Vec<u32>, u64>::new();
    inputs
        .flatten_from(1)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap()
        .iter()
        .map(|r| {
            let key: Vec<u32> = r.iter().map(|v| v.to_bits()).collect();
            let next = ids.len() as u64;
            *ids.entry(key).or_insert(next)
        })
        .collect()
}

/// The tensors of a safetensors file.
pub fn load(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The `labels` of a run directory's `labels.safetensors` (or a fixture of that layout).
pub fn labels(path: &Path) -> Vec<i64> {
    load(path)["labels"].to_vec1::<i64>().unwrap()
}

/// Checks every `infoplane.csv` row of `epoch` in run directory `out` against the reference on the
/// activations the run dumped for that epoch, with `bins_of(estimator)` giving each estimator's
/// binning; returns the number of rows checked. Exact counts and f64 sums: equal to 1e-9 bits.
pub fn check_run(out: &Path, epoch: usize, bins_of: &dyn Fn(&str) -> Bins) -> usize {
    let acts = load(&out.join(format!("activations-epoch{epoch}.safetensors")));
    let x = input_ids(&load(&out.join("inputs.safetensors"))["inputs"]);
    let y = labels(&out.join("labels.safetensors"));
    let rows: Vec<_> = super::common::read_csv_maps(&out.join("infoplane.csv"))
        .into_iter()
        .filter(|r| r["epoch"] == epoch.to_string())
        .collect();
    for r in &rows {
        let t = acts
            .get(&r["layer"])
            .unwrap_or_else(|| panic!("layer {} was not dumped", r["layer"]));
        let (ixt, ity) = mutual_information(t, bins_of(&r["estimator"]), &x, &y);
        let what = format!("{} {}", r["layer"], r["estimator"]);
        assert_bits(&format!("{what} I(X;T)"), r["i_xt"].parse().unwrap(), ixt);
        assert_bits(&format!("{what} I(T;Y)"), r["i_ty"].parse().unwrap(), ity);
    }
    rows.len()
}

/// `got` equals the reference `want` to 1e-9 bits.
pub fn assert_bits(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() < 1e-9,
        "{what}: {got} bits, reference {want}"
    );
}
