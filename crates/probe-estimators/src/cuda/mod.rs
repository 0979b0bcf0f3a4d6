//! probe's CUDA estimators (feature `cuda`): the binned estimators and per-neuron histograms of a
//! layer that lives on a CUDA device, computed by the kernels in `kernels/*.cu` (compiled to PTX by
//! `build.rs`) on candle's stream. The activations never leave the device: only the entropy terms
//! ([`crate::BinnedCounts`], a few hundred numbers) or the histograms come back.
//!
//! The pipeline for `[n, d]` activations (f32, f64, f16 or bf16; others are cast to f32 on the
//! device first):
//! 1. `row_keys_*`: bin every value and reduce each row to a 122-bit key, one pass over the data;
//! 2. `count_insert`: count the keys, the (key, x) and the (key, y) pairs in three hash tables;
//! 3. `term_runs`, `compact_runs`: turn the occupied slots into entropy terms `(c, g)` and count
//!    equal terms; the host sums them exactly as the CPU does ([`crate::counts`]).
//!
//! Rows are told apart by their keys: two different binned rows get equal keys with probability
//! below `n²/2 · 2^-122` (docs/estimators.md gives the argument), while the CPU path is exact.
//! `Adaptive` binnings need the layer's sorted values for their edges: those are computed on the
//! host (one copy of the layer); binning and counting still run on the device.
//!
//! Labels (`x_ids`, `y`) are uploaded once per thread and reused while the same labels come back
//! (the probe set of a run), so repeated calls only move the activations' results.

mod hist;
mod timing;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaSlice, CudaStream, CudaView, DeviceRepr, LaunchArgs, LaunchConfig,
    PushKernelArg, ValidAsZeroBits,
};
use candle_core::cuda_backend::DeviceId;
use candle_core::{CudaDevice, DType, Storage, Tensor};

use crate::binning::{Binner, Binning};
use crate::counts::{host_f32, normalise_runs, BinnedCounts, TermRun};
use crate::error::{Error, Result};
use crate::kernel_plan::{
    coefficients, BinPlan, DenseLabels, KeyLayout, TableSizes, KEY_SEED, MAX_ROWS,
};

pub(crate) use hist::neuron_histograms;
pub use timing::{device_info, time_binned_counts, time_row_keys, DeviceInfo, FLUSH_BYTES};

const PTX_KEYS: &str = include_str!(concat!(env!("OUT_DIR"), "/binned_keys.ptx"));
const PTX_COUNTS: &str = include_str!(concat!(env!("OUT_DIR"), "/distinct_counts.ptx"));
const PTX_HIST: &str = include_str!(concat!(env!("OUT_DIR"), "/neuron_hist.ptx"));

/// Threads per block of every kernel (a multiple of 32; the kernels' `__launch_bounds__`).
const BLOCK: u32 = 256;
/// Most blocks of a grid-stride launch.
const MAX_BLOCKS: u64 = 1 << 16;
/// Thresholds staged in shared memory by the row-key kernel (`PROBE_SMEM_THR_MAX`).
const SMEM_THR_MAX: usize = 2048;

/// Maps a driver (or candle) error to [`Error::Cuda`] naming the operation.
fn cuda_err<E: std::fmt::Display>(op: impl Into<String>) -> impl FnOnce(E) -> Error {
    let op = op.into();
    move |e| Error::Cuda {
        op,
        reason: e.to_string(),
    }
}

/// Blocks for `work` items at `per_block` items per block, capped for grid-stride kernels.
fn blocks(work: u64, per_block: u64) -> u32 {
    work.div_ceil(per_block).clamp(1, MAX_BLOCKS) as u32
}

/// 1-D launch configuration of `blocks` blocks of [`BLOCK`] threads.
fn cfg(blocks: u32, shared: u32) -> LaunchConfig {
    LaunchConfig {
        grid_dim: (blocks, 1, 1),
        block_dim: (BLOCK, 1, 1),
        shared_mem_bytes: shared,
    }
}

/// The kernel `name` of the PTX module `module` (loaded once per device by candle).
fn func(dev: &CudaDevice, name: &str, module: &str, ptx: &str) -> Result<CudaFunction> {
    dev.get_or_load_custom_func(name, module, ptx)
        .map(|f| f.into_cuda_function())
        .map_err(cuda_err(format!("loading kernel {name}")))
}

/// Launches a built kernel call.
fn launch(mut b: LaunchArgs<'_>, name: &str, cfg: LaunchConfig) -> Result<()> {
    // SAFETY: every caller pushes exactly the arguments of the kernel's C signature (documented at
    // each kernel in kernels/*.cu), device buffers sized as the kernel indexes them.
    unsafe { b.launch(cfg) }
        .map(|_| ())
        .map_err(cuda_err(format!("launch of {name}")))
}

fn zeros<T: DeviceRepr + ValidAsZeroBits>(
    s: &Arc<CudaStream>,
    len: usize,
    what: &str,
) -> Result<CudaSlice<T>> {
    s.alloc_zeros::<T>(len.max(1))
        .map_err(cuda_err(format!("allocation of {what} ({len} values)")))
}

fn upload<T: DeviceRepr>(s: &Arc<CudaStream>, v: &[T], what: &str) -> Result<CudaSlice<T>> {
    s.clone_htod(v)
        .map_err(cuda_err(format!("upload of {what}")))
}

fn download<T: DeviceRepr>(s: &Arc<CudaStream>, v: &CudaView<'_, T>, what: &str) -> Result<Vec<T>> {
    s.clone_dtoh(v).map_err(cuda_err(format!(
        "download of {what} (or an earlier kernel)"
    )))
}

/// A contiguous device view of a layer's values, in one of the dtypes the kernels read.
pub(crate) enum Act<'a> {
    F32(CudaView<'a, f32>),
    F64(CudaView<'a, f64>),
    F16(CudaView<'a, half::f16>),
    Bf16(CudaView<'a, half::bf16>),
}

impl Act<'_> {
    /// The kernels' dtype suffix.
    pub(crate) fn suffix(&self) -> &'static str {
        match self {
            Act::F32(_) => "f32",
            Act::F64(_) => "f64",
            Act::F16(_) => "f16",
            Act::Bf16(_) => "bf16",
        }
    }

    /// Pushes the values pointer onto a kernel call.
    pub(crate) fn push<'b>(&'b self, b: &mut LaunchArgs<'b>) {
        match self {
            Act::F32(v) => b.arg(v),
            Act::F64(v) => b.arg(v),
            Act::F16(v) => b.arg(v),
            Act::Bf16(v) => b.arg(v),
        };
    }
}

/// Runs `f` on the `len` values of the CUDA tensor `t` (made contiguous, cast to f32 unless f32,
/// f64, f16 or bf16) with its device.
pub(crate) fn with_values<R>(
    t: &Tensor,
    len: usize,
    f: impl FnOnce(&CudaDevice, Act<'_>) -> Result<R>,
) -> Result<R> {
    let t = match t.dtype() {
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 => t.contiguous()?,
        _ => t.to_dtype(DType::F32)?.contiguous()?,
    };
    let dev = t.device().as_cuda_device()?.clone();
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cuda(s) = &*storage else {
        return Err(Error::Cuda {
            op: "reading a tensor".into(),
            reason: "the tensor is not on a CUDA device".into(),
        });
    };
    let range = layout.start_offset()..layout.start_offset() + len;
    let act = match t.dtype() {
        DType::F32 => Act::F32(s.as_cuda_slice::<f32>()?.slice(range)),
        DType::F64 => Act::F64(s.as_cuda_slice::<f64>()?.slice(range)),
        DType::F16 => Act::F16(s.as_cuda_slice::<half::f16>()?.slice(range)),
        _ => Act::Bf16(s.as_cuda_slice::<half::bf16>()?.slice(range)),
    };
    f(&dev, act)
}

/// The binner of `binning` for the layer `t` (adaptive edges from a host copy of the layer).
pub(crate) fn resolve(t: &Tensor, binning: &Binning) -> Result<Binner> {
    if binning.is_data_dependent() {
        binning.binner_for(&host_f32(t)?)
    } else {
        binning.binner()
    }
}

/// Checks `[n, d]` for the kernels: `1 <= n <= 2^30`, `1 <= d < 2^31`.
pub(crate) fn check_dims(n: usize, d: usize) -> Result<()> {
    if n == 0 || n > MAX_ROWS {
        return Err(Error::InvalidDimension {
            what: "n",
            got: n,
            expected: "between 1 and 2^30 samples on a CUDA device",
        });
    }
    if d == 0 || d >= 1 << 31 {
        return Err(Error::InvalidDimension {
            what: "d",
            got: d,
            expected: "between 1 and 2^31 - 1 values per sample on a CUDA device",
        });
    }
    Ok(())
}

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

/// Thresholds of `plan` on the device (one spare value so that `m = 0` still has a pointer).
pub(crate) fn upload_thresholds(s: &Arc<CudaStream>, thr: &[f32]) -> Result<CudaSlice<f32>> {
    let mut v = thr.to_vec();
    v.push(0.0);
    upload(s, &v, "bin thresholds")
}

/// A row-key launch with its inputs uploaded and outputs allocated.
pub(crate) struct KeyJob {
    layout: KeyLayout,
    plan: BinPlan,
    n: u64,
    d: u32,
    coef: CudaSlice<u64>,
    thr: Option<CudaSlice<f32>>,
    pub(crate) k1: CudaSlice<u64>,
    pub(crate) k2: CudaSlice<u64>,
}

impl KeyJob {
    /// Uploads the coefficients (and thresholds) of `plan` for `[n, d]` rows; allocates the keys.
    pub(crate) fn new(dev: &CudaDevice, n: usize, d: u32, plan: &BinPlan) -> Result<Self> {
        let s = dev.cuda_stream();
        let layout = KeyLayout::new(plan, d);
        let coef = coefficients(layout.limbs as usize, KEY_SEED);
        let thr = match plan {
            BinPlan::Thresholds { thr, .. } => Some(upload_thresholds(&s, thr)?),
            BinPlan::Floor { .. } => None,
        };
        Ok(KeyJob {
            layout,
            plan: plan.clone(),
            n: n as u64,
            d,
            coef: upload(&s, &coef, "key coefficients")?,
            thr,
            k1: zeros::<u64>(&s, n, "row keys")?,
            k2: zeros::<u64>(&s, n, "row keys")?,
        })
    }

    /// Launches the quantise + row-key kernel on `act` (the job's `[n, d]` values).
    pub(crate) fn launch(&mut self, dev: &CudaDevice, act: &Act<'_>) -> Result<()> {
        let s = dev.cuda_stream();
        let (n, d, glog) = (self.n, self.d, self.layout.glog);
        let grid = blocks(n, (BLOCK as u64 / 32) * (32 >> glog));
        match (&self.plan, &self.thr) {
            (
                BinPlan::Thresholds {
                    thr,
                    t0,
                    inv,
                    search,
                },
                Some(thr_d),
            ) => {
                let name = format!("row_keys_thr_{}", act.suffix());
                let f = func(dev, &name, "probe_binned_keys", PTX_KEYS)?;
                let (m, search) = (thr.len() as u32, *search as u32);
                let (bits, per, limbs) = (self.layout.bits, self.layout.per, self.layout.limbs);
                let shared = if thr.len() <= SMEM_THR_MAX { 4 * m } else { 0 };
                let mut b = s.launch_builder(&f);
                act.push(&mut b);
                b.arg(&n)
                    .arg(&d)
                    .arg(thr_d)
                    .arg(&m)
                    .arg(t0)
                    .arg(inv)
                    .arg(&search);
                b.arg(&bits)
                    .arg(&per)
                    .arg(&limbs)
                    .arg(&self.coef)
                    .arg(&glog);
                b.arg(&mut self.k1).arg(&mut self.k2);
                launch(b, &name, cfg(grid, shared))
            }
            (BinPlan::Floor { width }, _) => {
                let name = format!("row_keys_floor_{}", act.suffix());
                let f = func(dev, &name, "probe_binned_keys", PTX_KEYS)?;
                let mut b = s.launch_builder(&f);
                act.push(&mut b);
                b.arg(&n).arg(&d).arg(width).arg(&self.coef).arg(&glog);
                b.arg(&mut self.k1).arg(&mut self.k2);
                launch(b, &name, cfg(grid, 0))
            }
            (BinPlan::Thresholds { .. }, None) => Err(Error::Cuda {
                op: "row keys".into(),
                reason: "thresholds were not uploaded (internal error)".into(),
            }),
        }
    }
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
    for (what, ids) in [("x_ids", x_ids), ("y", y)] {
        if ids.len() != n {
            return Err(Error::LengthMismatch {
                what,
                expected: n,
                got: ids.len(),
            });
        }
    }
    let plan = BinPlan::new(&resolve(t, binning)?);
    with_values(t, n * d, |dev, act| {
        let s = dev.cuda_stream();
        let labels = device_labels(dev, x_ids, y)?;
        let sizes = TableSizes::new(n, labels.sizes_x, labels.sizes_y)?;
        let mut keys = KeyJob::new(dev, n, d as u32, &plan)?;
        keys.launch(dev, &act)?;
        let (k1, k2) = (keys.k1, keys.k2);

        let (n32, log_cap, log_runs) = (n as u32, sizes.log_cap, sizes.log_runs);
        let slots = 3usize << log_cap;
        let mut rep = zeros::<u32>(&s, slots, "row tables")?;
        let mut cnt = zeros::<u32>(&s, slots, "row tables")?;
        let mut err = zeros::<u32>(&s, 1, "error flag")?;
        let f = func(dev, "count_insert", "probe_distinct_counts", PTX_COUNTS)?;
        let mut b = s.launch_builder(&f);
        b.arg(&k1)
            .arg(&k2)
            .arg(&labels.xl)
            .arg(&labels.yl)
            .arg(&n32)
            .arg(&log_cap);
        b.arg(&mut rep).arg(&mut cnt).arg(&mut err);
        launch(b, "count_insert", cfg(blocks(n as u64, BLOCK as u64), 0))?;

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

        let mut out = zeros::<u64>(&s, 2 * runs, "term list")?;
        let mut out_len = zeros::<u32>(&s, 3, "term list lengths")?;
        let f = func(dev, "compact_runs", "probe_distinct_counts", PTX_COUNTS)?;
        let mut b = s.launch_builder(&f);
        b.arg(&rkey)
            .arg(&rmult)
            .arg(&log_runs)
            .arg(&mut out)
            .arg(&mut out_len);
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
            let start = 2 * (t << log_runs);
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
