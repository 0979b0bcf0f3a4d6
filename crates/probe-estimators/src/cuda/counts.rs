//! The binned estimate of a layer on a CUDA device: row keys (`keys.rs`), then distinct counting
//! and the entropy terms (`kernels/distinct_counts.cu`: `count_insert`, `term_runs`,
//! `compact_runs`). Only the terms come back to the host.
//!
//! Labels (`x_ids`, `y`) are uploaded once per thread and reused while the same labels come back
//! (the probe set of a run), so repeated calls only move the activations' results. Buffers are
//! dropped as soon as the kernels queued after them no longer need them (frees are ordered on the
//! stream), which keeps the peak near `keys + row tables` or `row tables + term tables`.

use std::cell::RefCell;
use std::rc::Rc;

use candle_core::cuda_backend::cudarc::driver::{CudaSlice, PushKernelArg};
use candle_core::cuda_backend::DeviceId;
use candle_core::{CudaDevice, Tensor};

use super::device::order_after_producers;
use super::keys::KeyJob;
use super::{blocks, cfg, check_dims, download, func, launch, resolve, upload, with_values, zeros};
use super::{BLOCK, PTX_COUNTS};
use crate::binning::Binning;
use crate::counts::{normalise_runs, BinnedCounts, TermRun};
use crate::error::{Error, Result};
use crate::kernel_plan::{BinPlan, DenseLabels, TableSizes};

/// Largest log2 of a counting table's slots: every slot index of the three tables, `3 · 2^30`
/// at most, fits a `u32` below the kernels' sentinel `0xffffffff` (n <= 2^29 keeps below it).
const MAX_LOG_SLOTS: u32 = 30;

/// Labels resident on a device: dense ids and group sizes of the inputs and the labels.
struct DeviceLabels {
    dev: DeviceId,
    x: Vec<u32>,
    y: Vec<u32>,
    xl: CudaSlice<u32>,
    yl: CudaSlice<u32>,
    xg: CudaSlice<u32>,
    yg: CudaSlice<u32>,
    sizes_x: usize,
    sizes_y: usize,
}

thread_local! {
    static LABELS: RefCell<Option<Rc<DeviceLabels>>> = const { RefCell::new(None) };
}

/// The device copy of `x_ids` and `y`, reused when the last call of this thread had the same.
fn device_labels(dev: &CudaDevice, x_ids: &[u32], y: &[u32]) -> Result<Rc<DeviceLabels>> {
    if let Some(l) = LABELS.with(|c| c.borrow().clone()) {
        if l.dev == dev.id() && l.x == x_ids && l.y == y {
            return Ok(l);
        }
    }
    let s = dev.cuda_stream();
    let (x, yd) = (DenseLabels::new(x_ids), DenseLabels::new(y));
    let l = Rc::new(DeviceLabels {
        dev: dev.id(),
        x: x_ids.to_vec(),
        y: y.to_vec(),
        xl: upload(&s, &x.ids, "x labels")?,
        yl: upload(&s, &yd.ids, "y labels")?,
        xg: upload(&s, &x.groups, "x group sizes")?,
        yg: upload(&s, &yd.groups, "y group sizes")?,
        sizes_x: x.distinct_sizes(),
        sizes_y: yd.distinct_sizes(),
    });
    LABELS.with(|c| *c.borrow_mut() = Some(l.clone()));
    Ok(l)
}

/// [`crate::binned_counts_tensor`] for a tensor on a CUDA device (`n`, `d` from its shape).
pub(crate) fn binned_counts(
    t: &Tensor,
    n: usize,
    d: usize,
    binning: &Binning,
    x_ids: &[u32],
    y: &[u32],
) -> Result<BinnedCounts> {
    check_dims(n, d)?;
    crate::binned::check_ids(n, x_ids, y)?;
    order_after_producers(t)?;
    let plan = BinPlan::new(&resolve(t, binning)?);
    with_values(t, n * d, |dev, act| {
        let s = dev.cuda_stream();
        let labels = device_labels(dev, x_ids, y)?;
        let sizes = TableSizes::new(n, labels.sizes_x, labels.sizes_y)?;
        let (n32, log_cap, log_runs) = (n as u32, sizes.log_cap, sizes.log_runs);
        if log_cap > MAX_LOG_SLOTS || log_runs > MAX_LOG_SLOTS {
            return Err(Error::Cuda {
                op: "distinct counting".into(),
                reason: format!(
                    "tables of 2^{log_cap} and 2^{log_runs} slots exceed 2^{MAX_LOG_SLOTS} \
                     (an internal sizing error; please report it)"
                ),
            });
        }
        let mut keys = KeyJob::new(dev, n, d as u32, &plan)?;
        keys.launch(dev, &act)?;

        let slots = 3usize << log_cap;
        let mut rep = zeros::<u32>(&s, slots, "row tables")?;
        let mut cnt = zeros::<u32>(&s, slots, "row tables")?;
        let mut err = zeros::<u32>(&s, 1, "error flag")?;
        let f = func(dev, "count_insert", "probe_distinct_counts", PTX_COUNTS)?;
        let mut b = s.launch_builder(&f);
        b.arg(&keys.k1)
            .arg(&keys.k2)
            .arg(&labels.xl)
            .arg(&labels.yl)
            .arg(&n32)
            .arg(&log_cap);
        b.arg(&mut rep).arg(&mut cnt).arg(&mut err);
        launch(b, "count_insert", cfg(blocks(n as u64, BLOCK as u64), 0))?;
        drop(keys); // freed in stream order, after count_insert

        let runs = 3usize << log_runs;
        let mut rkey = zeros::<u64>(&s, runs, "term tables")?;
        let mut rmult = zeros::<u32>(&s, runs, "term tables")?;
        let f = func(dev, "term_runs", "probe_distinct_counts", PTX_COUNTS)?;
        let mut b = s.launch_builder(&f);
        b.arg(&rep)
            .arg(&cnt)
            .arg(&log_cap)
            .arg(&n32)
            .arg(&labels.xl)
            .arg(&labels.yl);
        b.arg(&labels.xg)
            .arg(&labels.yg)
            .arg(&log_runs)
            .arg(&mut rkey)
            .arg(&mut rmult);
        b.arg(&mut err);
        launch(b, "term_runs", cfg(blocks(slots as u64, BLOCK as u64), 0))?;
        drop((rep, cnt));

        // Half a term table per table: the tables have at least twice the distinct terms.
        let half = 1usize << (log_runs - 1);
        let mut out = zeros::<u64>(&s, 2 * 3 * half, "term list")?;
        let mut out_len = zeros::<u32>(&s, 3, "term list lengths")?;
        let f = func(dev, "compact_runs", "probe_distinct_counts", PTX_COUNTS)?;
        let mut b = s.launch_builder(&f);
        b.arg(&rkey)
            .arg(&rmult)
            .arg(&log_runs)
            .arg(&mut out)
            .arg(&mut out_len)
            .arg(&mut err);
        launch(b, "compact_runs", cfg(blocks(runs as u64, BLOCK as u64), 0))?;

        let lens = download(&s, &out_len.slice(..), "term list lengths")?;
        if download(&s, &err.slice(..), "error flag")?[0] != 0 {
            return Err(Error::Cuda {
                op: "distinct counting".into(),
                reason: "a counting table overflowed (an internal sizing error; please report it)"
                    .into(),
            });
        }
        let mut tables: [Vec<TermRun>; 3] = Default::default();
        for (t, table) in tables.iter_mut().enumerate() {
            let start = 2 * t * half;
            let list = out.slice(start..start + 2 * lens[t] as usize);
            let v = download(&s, &list, "entropy terms")?;
            *table = normalise_runs(
                v.chunks_exact(2)
                    .map(|kv| TermRun {
                        count: kv[0] >> 32,
                        group: kv[0] & 0xffff_ffff,
                        times: kv[1],
                    })
                    .collect(),
            );
        }
        let [h_t, h_t_given_x, h_t_given_y] = tables;
        Ok(BinnedCounts {
            n: n as u64,
            distinct: h_t.iter().map(|r| r.times).sum(),
            h_t,
            h_t_given_x,
            h_t_given_y,
        })
    })
}
