//! What probe's CUDA kernels (`kernels/*.cu`) are given: the host-side preparation of a binning,
//! of the row-key layout and hash coefficients, of the labels and of the table sizes. Pure host
//! code, compiled and tested without CUDA; `crate::cuda` (feature `cuda`) uploads and launches.
//!
//! * **Bins** ([`BinPlan`]): `Fixed` and explicit-edge (`Edges`, adaptive) binnings become `m`
//!   non-decreasing `f32` thresholds, and the kernels' bin of `x` is the number of thresholds
//!   `<= x` (NaN: `m + 1`). For `Fixed`, threshold `i` is the smallest `f32` at or above interior
//!   edge `i + 1` (an `f64`), which makes `t <= x` in `f32` equal to the CPU's `edge <= x as f64`
//!   for every `f32` `x`, so the count equals [`crate::Binner::bin`] exactly. Edge arrays are
//!   `f32` already and are used as they are. `Floor` keeps its `f64` width.
//! * **Row keys** ([`KeyLayout`]): the kernel packs a row's codes into 32-bit limbs (an injective
//!   encoding) and hashes the limbs twice, linearly modulo the prime `p = 2^61 − 1`, with
//!   coefficients drawn uniformly from `[0, p)` from [`KEY_SEED`] (made on the device by
//!   `key_coefficients`; host copy of the definition: `coefficients`, for the tests).
//! * **Labels** ([`DenseLabels`]): ids made dense (`0..k`), with each id's group size.
//! * **Tables** ([`TableSizes`]): the counting tables' capacities, chosen so that no probe
//!   sequence can exhaust a table.

// Only `crate::cuda` uses this at run time; CPU builds compile it for its tests.
#![cfg_attr(not(feature = "cuda"), allow(dead_code))]

use crate::binning::{next_up, Binner};
use crate::error::{Error, Result};

/// Seed of the row-key coefficients (fixed: results are deterministic; the collision bound in
/// docs/estimators.md holds for any data that was not chosen with knowledge of it).
pub(crate) const KEY_SEED: u64 = 0x7072_6f62_652d_6b31; // "probe-k1"

/// Largest sample count the CUDA path accepts: table slot indices (`3 · 2^30` at most) are `u32`,
/// and the keys, labels and tables of 2^29 rows already take 36 GiB of device memory.
pub(crate) const MAX_ROWS: usize = 1 << 29;

/// A binning as the kernels take it.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum BinPlan {
    /// Bin = number of thresholds `<= x` (`0..=m`), NaN `m + 1`.
    Thresholds {
        /// Non-decreasing thresholds.
        thr: Vec<f32>,
        /// Guess of the bin: `(x - t0) * inv` (any guess gives the exact bin; a good one is fast).
        t0: f32,
        /// See `t0`; 0 means "guess 0".
        inv: f32,
        /// Binary search instead of guess-and-walk (for unevenly spaced thresholds).
        search: bool,
    },
    /// Bin = `floor(x / width)` in `f64` with the CPU's sentinels and saturation.
    Floor {
        /// Bin width.
        width: f64,
    },
}

/// The smallest `f32` `>= e` (`+inf` above `f32::MAX`, `f32::MIN` below it).
pub(crate) fn ceil_f32(e: f64) -> f32 {
    let t = e as f32;
    if (t as f64) < e {
        next_up(t)
    } else {
        t
    }
}

impl BinPlan {
    /// The kernels' view of a prepared binner.
    pub(crate) fn new(binner: &Binner) -> Self {
        match binner {
            Binner::Fixed(b) => {
                let last = b.last() as usize; // edges - 2 = the number of interior edges
                let thr: Vec<f32> = (1..=last).map(|i| ceil_f32(b.edge(i as f64))).collect();
                let (lo, step) = (b.edge(0.0), b.edge(1.0) - b.edge(0.0));
                let (t0, inv) = (lo as f32, (1.0 / step) as f32);
                let (t0, inv) = if t0.is_finite() && inv.is_finite() && inv > 0.0 {
                    (t0, inv)
                } else {
                    (0.0, 0.0)
                };
                BinPlan::Thresholds {
                    thr,
                    t0,
                    inv,
                    search: false,
                }
            }
            Binner::Edges(b) => BinPlan::Thresholds {
                thr: b.edges().to_vec(),
                t0: 0.0,
                inv: 0.0,
                search: true,
            },
            Binner::Floor(b) => BinPlan::Floor { width: b.width() },
        }
    }

    /// The kernels' code of `x` (thresholds only): the number of thresholds `<= x`, NaN `m + 1`.
    /// What every kernel computes; used to check [`BinPlan::new`] against [`Binner::bin`].
    #[cfg(test)]
    pub(crate) fn code(&self, x: f32) -> Option<u32> {
        match self {
            BinPlan::Thresholds { thr, .. } if x.is_nan() => Some(thr.len() as u32 + 1),
            BinPlan::Thresholds { thr, .. } => Some(thr.iter().filter(|&&t| t <= x).count() as u32),
            BinPlan::Floor { .. } => None,
        }
    }
}

/// How the row-key kernel encodes a row of `d` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KeyLayout {
    /// Bits per code (thresholds; 0 for floor).
    pub bits: u32,
    /// Codes per 32-bit limb (thresholds; 0 for floor).
    pub per: u32,
    /// Limbs per row: `ceil(d / per)` (thresholds) or `2d` (floor: low and high halves).
    pub limbs: u32,
    /// log2 of the lanes sharing one row (`16 · 2^glog >= d`, at most 32 lanes).
    pub glog: u32,
}

impl KeyLayout {
    /// The layout for rows of `d` values (`1 <= d < 2^31`) under `plan`.
    pub(crate) fn new(plan: &BinPlan, d: u32) -> Self {
        let mut glog = 0;
        while (1u32 << glog) < 32 && 16u64 << glog < d as u64 {
            glog += 1;
        }
        match plan {
            BinPlan::Thresholds { thr, .. } => {
                // Codes 0..=m+1 need bits(m + 1) bits.
                let max_code = thr.len() as u64 + 1;
                let bits = (64 - max_code.leading_zeros()).max(1);
                let per = 32 / bits;
                KeyLayout {
                    bits,
                    per,
                    limbs: d.div_ceil(per),
                    glog,
                }
            }
            BinPlan::Floor { .. } => KeyLayout {
                bits: 0,
                per: 0,
                limbs: 2 * d,
                glog,
            },
        }
    }
}

/// The first `2 · limbs` coefficients, uniform in `[0, 2^61 − 1)`: limb `w` uses `2w` for the
/// first hash and `2w + 1` for the second. Coefficient `i` is the top 61 bits of splitmix64's
/// output for state `seed + (i + 1)·0x9e3779b97f4a7c15`, the value `p` itself redrawn from a
/// remixed state: a function of `(seed, i)` alone, which the kernel `key_coefficients`
/// (`probe_key_coef`, kernels/probe_common.cuh) computes on the device. Host copy for the tests.
#[cfg(test)]
pub(crate) fn coefficients(limbs: usize, seed: u64) -> Vec<u64> {
    const P: u64 = (1 << 61) - 1;
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    (0..2 * limbs as u64)
        .map(|i| {
            let mut s = seed.wrapping_add((i + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            loop {
                let v = mix(s) >> 3;
                if v < P {
                    break v;
                }
                s = mix(s ^ 0xd1b5_4a32_d192_ed03);
            }
        })
        .collect()
}

/// Labels as dense ids `0..k` in first-appearance order, with the size of each id's group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DenseLabels {
    /// One id per sample.
    pub ids: Vec<u32>,
    /// `groups[id]` = number of samples with that id.
    pub groups: Vec<u32>,
}

impl DenseLabels {
    /// Densifies `labels` (any `u32` ids).
    pub(crate) fn new(labels: &[u32]) -> Self {
        let max = labels.iter().copied().max().unwrap_or(0) as usize;
        let mut ids = Vec::with_capacity(labels.len());
        let mut groups: Vec<u32> = Vec::new();
        if max <= 4 * labels.len() + 1024 {
            let mut id = vec![u32::MAX; max + 1];
            for &l in labels {
                let slot = &mut id[l as usize];
                if *slot == u32::MAX {
                    *slot = groups.len() as u32;
                    groups.push(0);
                }
                groups[*slot as usize] += 1;
                ids.push(*slot);
            }
        } else {
            let mut id = std::collections::HashMap::new();
            for &l in labels {
                let next = groups.len() as u32;
                let slot = *id.entry(l).or_insert(next);
                if slot == next {
                    groups.push(0);
                }
                groups[slot as usize] += 1;
                ids.push(slot);
            }
        }
        DenseLabels { ids, groups }
    }

    /// Number of distinct group sizes.
    pub(crate) fn distinct_sizes(&self) -> usize {
        let mut g = self.groups.clone();
        g.sort_unstable();
        g.dedup();
        g.len()
    }
}

/// Capacities of the counting tables (powers of two, as log2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TableSizes {
    /// log2 of the slots of each of the three row tables: `2^log_cap >= 2n`.
    pub log_cap: u32,
    /// log2 of the slots of each of the three term tables: more than the distinct terms.
    pub log_runs: u32,
}

impl TableSizes {
    /// Sizes for `n` rows whose x and y labels have `sizes_x` and `sizes_y` distinct group sizes.
    ///
    /// A row table holds at most `n` keys, so `2^log_cap >= 2n` keeps its load at most 1/2. The
    /// terms (c, g) of a table: the counts c of distinct symbols sum to n, so there are at most
    /// `kc` distinct counts with `kc(kc + 1)/2 <= n`; g takes at most max(sizes) values (1 for
    /// H(T)); so at most `min(n, kc · max(sizes))` distinct terms, and twice that many slots.
    pub(crate) fn new(n: usize, sizes_x: usize, sizes_y: usize) -> Result<Self> {
        if n == 0 || n > MAX_ROWS {
            return Err(Error::InvalidDimension {
                what: "n",
                got: n,
                expected: "between 1 and 2^29 rows on a CUDA device",
            });
        }
        let log2_ceil = |v: u64| 64 - (v - 1).leading_zeros();
        let n64 = n as u64;
        let mut kc: u64 = 0;
        while (kc + 1) * (kc + 2) / 2 <= n64 {
            kc += 1;
        }
        let kg = sizes_x.max(sizes_y).max(1) as u64;
        let bound = n64.min(kc.saturating_mul(kg)).max(1);
        Ok(TableSizes {
            log_cap: log2_ceil(2 * n64),
            log_runs: log2_ceil(2 * bound),
        })
    }
}

#[cfg(test)]
mod tests;
