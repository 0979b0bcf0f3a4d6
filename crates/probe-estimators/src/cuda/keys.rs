//! The quantise + row-key launch (`kernels/binned_keys.cu`, `row_keys_{thr,floor}_*`) and the key
//! coefficients it reads, which are made on the device once and cached.
//!
//! Coefficient `i` is a function of `(KEY_SEED, i)` only (`probe_key_coef`), so the coefficients
//! of a row of `limbs` limbs are the first `2 · limbs` of one sequence: the kernel
//! `key_coefficients` writes them straight into device memory (no host vector, however wide the
//! rows) and each thread keeps the longest buffer it has needed per device, growing it when a
//! wider layer comes.

use std::cell::RefCell;
use std::rc::Rc;

use candle_core::cuda_backend::cudarc::driver::{CudaSlice, PushKernelArg};
use candle_core::cuda_backend::DeviceId;
use candle_core::CudaDevice;

use super::SMEM_THR_MAX;
use super::{blocks, cfg, func, launch, upload_thresholds, zeros, Act, BLOCK, PTX_KEYS};
use crate::error::{Error, Result};
use crate::kernel_plan::{BinPlan, KeyLayout, KEY_SEED};

/// The smallest coefficient buffer made (values): enough for rows of about 24 000 thresholded
/// values, 64 KiB.
const MIN_COEFFICIENTS: u64 = 8192;

/// Key coefficients resident on one device: `buf[i] = probe_key_coef(KEY_SEED, i)`.
struct Coefficients {
    dev: DeviceId,
    buf: CudaSlice<u64>,
}

thread_local! {
    /// This thread's coefficients: used only on this thread, so on a per-thread-stream device they
    /// are made, read and freed on one stream.
    static COEFFICIENTS: RefCell<Option<Rc<Coefficients>>> = const { RefCell::new(None) };
}

/// At least `2 · limbs` key coefficients on `dev` (made on its stream, before any launch that
/// reads them).
fn coefficients(dev: &CudaDevice, limbs: u64) -> Result<Rc<Coefficients>> {
    let need = 2 * limbs;
    if let Some(c) = COEFFICIENTS.with(|c| c.borrow().clone()) {
        if c.dev == dev.id() && c.buf.len() as u64 >= need {
            return Ok(c);
        }
    }
    let len = need.max(MIN_COEFFICIENTS);
    let s = dev.cuda_stream();
    let mut buf = zeros::<u64>(&s, len as usize, "key coefficients")?;
    let f = func(dev, "key_coefficients", "probe_binned_keys", PTX_KEYS)?;
    let mut b = s.launch_builder(&f);
    b.arg(&KEY_SEED).arg(&len).arg(&mut buf);
    launch(b, "key_coefficients", cfg(blocks(len, BLOCK as u64), 0))?;
    let c = Rc::new(Coefficients { dev: dev.id(), buf });
    COEFFICIENTS.with(|cell| *cell.borrow_mut() = Some(c.clone()));
    Ok(c)
}

/// A row-key launch with its inputs on the device and its outputs allocated.
pub(crate) struct KeyJob {
    layout: KeyLayout,
    plan: BinPlan,
    n: u64,
    d: u32,
    coef: Rc<Coefficients>,
    thr: Option<CudaSlice<f32>>,
    pub(crate) k1: CudaSlice<u64>,
    pub(crate) k2: CudaSlice<u64>,
}

impl KeyJob {
    /// The coefficients (cached) and thresholds (uploaded) of `plan` for `[n, d]` rows, and the
    /// keys allocated.
    pub(crate) fn new(dev: &CudaDevice, n: usize, d: u32, plan: &BinPlan) -> Result<Self> {
        let s = dev.cuda_stream();
        let layout = KeyLayout::new(plan, d);
        let thr = match plan {
            BinPlan::Thresholds { thr, .. } => Some(upload_thresholds(&s, thr)?),
            BinPlan::Floor { .. } => None,
        };
        Ok(KeyJob {
            layout,
            plan: plan.clone(),
            n: n as u64,
            d,
            coef: coefficients(dev, layout.limbs as u64)?,
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
        let coef = &self.coef.buf;
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
                b.arg(&bits).arg(&per).arg(&limbs).arg(coef).arg(&glog);
                b.arg(&mut self.k1).arg(&mut self.k2);
                launch(b, &name, cfg(grid, shared))
            }
            (BinPlan::Floor { width }, _) => {
                let name = format!("row_keys_floor_{}", act.suffix());
                let f = func(dev, &name, "probe_binned_keys", PTX_KEYS)?;
                let mut b = s.launch_builder(&f);
                act.push(&mut b);
                b.arg(&n).arg(&d).arg(width).arg(coef).arg(&glog);
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
