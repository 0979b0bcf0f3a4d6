//! Per-neuron histograms on a CUDA device (`kernels/neuron_hist.cu`): `[d][bins + 1]` counts of a
//! layer under bounded bins, accumulated in shared memory per block of columns and rows.
//!
//! A block's shared histogram is kept near 24 KiB, so that 8 blocks of 256 threads (the most an
//! H100 SM runs at once) fit an SM's shared memory; its column tile is a multiple of 32 where it can
//! be, so that a warp's lanes count into distinct banks (`kernels/neuron_hist.cu`).

use candle_core::cuda_backend::cudarc::driver::{LaunchConfig, PushKernelArg};
use candle_core::Tensor;

use super::device::order_after_producers;
use super::{check_dims, download, func, launch, resolve, upload_thresholds, with_values, zeros};
use super::{BLOCK, PTX_HIST};
use crate::binning::Binning;
use crate::counts::NeuronHistograms;
use crate::error::{Error, Result};
use crate::kernel_plan::BinPlan;

/// Shared memory of one block's histogram (24 KiB), in `u32` counters.
const SMEM_COUNTERS: usize = 24 * 1024 / 4;
/// Values a block counts (rows × tile columns), about.
const VALUES_PER_BLOCK: usize = 1 << 16;
/// Largest grid y dimension.
const MAX_GRID_Y: usize = 65_535;

/// [`crate::neuron_histograms_tensor`] for a tensor on a CUDA device (`n`, `d` from its shape).
pub(crate) fn neuron_histograms(
    t: &Tensor,
    n: usize,
    d: usize,
    binning: &Binning,
) -> Result<NeuronHistograms> {
    check_dims(n, d)?;
    order_after_producers(t)?;
    let binner = resolve(t, binning)?;
    let BinPlan::Thresholds {
        thr,
        t0,
        inv,
        search,
    } = BinPlan::new(&binner)
    else {
        return Err(Error::InvalidBinning(format!(
            "{binning:?}: per-neuron histograms need bounded bins (Fixed or Adaptive); \
             Floor bins are unbounded"
        )));
    };
    let (m, b) = (thr.len(), thr.len() + 2); // codes 0..=m, NaN m + 1
    let Some(total) = d.checked_mul(b).filter(|&c| c < 1 << 40) else {
        return Err(Error::InvalidDimension {
            what: "d",
            got: d,
            expected: "d × (bins + 1) counters to fit in device memory",
        });
    };
    // Columns per block: as many histograms as fit in shared memory (a multiple of 32 when 32
    // fit); none fit: global atomics.
    let fit = SMEM_COUNTERS / b;
    let (tile, direct) = match fit {
        0 => (d.min(BLOCK as usize), 1u32),
        1..32 => (d.min(fit), 0u32),
        _ => (d.min(fit / 32 * 32), 0u32),
    };
    let rows = (VALUES_PER_BLOCK / tile)
        .max(n.div_ceil(MAX_GRID_Y))
        .clamp(1, n);
    let config = LaunchConfig {
        grid_dim: (d.div_ceil(tile) as u32, n.div_ceil(rows) as u32, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: if direct == 1 {
            0
        } else {
            (4 * tile * b) as u32
        },
    };
    with_values(t, n * d, |dev, act| {
        let s = dev.cuda_stream();
        let thr_d = upload_thresholds(&s, &thr)?;
        let mut out = zeros::<u32>(&s, total, "histograms")?;
        let name = format!("neuron_hist_{}", act.suffix());
        let f = func(dev, &name, "probe_neuron_hist", PTX_HIST)?;
        let (n64, d32, m32, search) = (n as u64, d as u32, m as u32, search as u32);
        let (tile32, rows32) = (tile as u32, rows as u32);
        let mut builder = s.launch_builder(&f);
        act.push(&mut builder);
        builder
            .arg(&n64)
            .arg(&d32)
            .arg(&thr_d)
            .arg(&m32)
            .arg(&t0)
            .arg(&inv);
        builder
            .arg(&search)
            .arg(&tile32)
            .arg(&rows32)
            .arg(&direct)
            .arg(&mut out);
        launch(builder, &name, config)?;
        let counts = download(&s, &out.slice(..total), "histograms")?;
        Ok(NeuronHistograms {
            neurons: d,
            bins: m + 1,
            counts: counts.into_iter().map(u64::from).collect(),
        })
    })
}
