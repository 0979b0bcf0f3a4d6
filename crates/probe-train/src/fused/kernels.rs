//! The loops of the fused small-MLP trainer: forward, softmax cross-entropy and backward of one
//! mini-batch in plain `f32` code, compiled for AVX-512, AVX2 and the baseline and chosen at run
//! time.
//!
//! Activations are stored feature-major, `[width][batch]`, so every inner loop runs along the
//! batch (a few hundred contiguous floats) and vectorises fully however narrow the layer is (the
//! 12-bit network's layers are 2–12 units wide). Sums have a fixed order written in the code (16
//! partial sums added up in lane order, then the tail) and nothing is fused into FMA, so the
//! results are identical at every instruction set.

use super::gemm;
use crate::model::layers::fast_tanh::tanh_one;
use crate::model::Activation;

/// The activations the fused path computes (every [`Activation`] but GELU).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Act {
    Tanh,
    Relu,
    Sigmoid,
    Linear,
}

impl Act {
    /// The fused form of `a`; `None` for GELU.
    pub fn of(a: Activation) -> Option<Self> {
        match a {
            Activation::Tanh => Some(Act::Tanh),
            Activation::Relu => Some(Act::Relu),
            Activation::Sigmoid => Some(Act::Sigmoid),
            Activation::Linear => Some(Act::Linear),
            Activation::Gelu => None,
        }
    }
}

/// Partial sums per reduction: one AVX-512 register of `f32`.
const LANES: usize = 16;

/// The shape of one network: `widths[0]` inputs, hidden widths, `widths[L]` classes.
#[derive(Clone, Debug)]
pub(super) struct Net {
    pub widths: Vec<usize>,
    pub act: Act,
    /// Layers with at least this many multiply-adds per sample use [`gemm`] for their products.
    pub gemm_min: usize,
}

impl Net {
    /// Number of linear layers.
    pub fn layers(&self) -> usize {
        self.widths.len() - 1
    }
}

/// Working memory for batches of up to `cap` samples.
#[derive(Clone, Debug)]
pub(super) struct Buffers {
    cap: usize,
    /// `acts[0]`: the inputs; `acts[l]` for `0 < l < L`: hidden layer l−1's activations;
    /// `acts[L]`: the logits. Each `[width][batch]`.
    acts: Vec<Vec<f32>>,
    /// Gradient of the loss w.r.t. the current layer's pre-activations, `[width][batch]`.
    dz: Vec<f32>,
    /// The same for the layer below, being built.
    dz_next: Vec<f32>,
    /// Per-sample scratch (row maxima, then sums of exponentials).
    col: Vec<f32>,
    col2: Vec<f32>,
}

impl Buffers {
    pub fn new(net: &Net, cap: usize) -> Self {
        let widest = net.widths.iter().copied().max().unwrap_or(1);
        Self {
            cap,
            acts: net.widths.iter().map(|w| vec![0.0; w * cap]).collect(),
            dz: vec![0.0; widest * cap],
            dz_next: vec![0.0; widest * cap],
            col: vec![0.0; cap],
            col2: vec![0.0; cap],
        }
    }

    /// Capacity in samples.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// `acts[l]` (`[width][batch]`) after a forward pass: layer `l − 1`'s output for `l ≥ 1`.
    pub fn acts(&self, l: usize) -> &[f32] {
        &self.acts[l]
    }
}

/// Loss and accuracy of one batch.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct BatchResult {
    /// Mean cross-entropy over the batch, in nats.
    pub loss: f64,
    /// Samples whose arg-max logit is the label.
    pub correct: usize,
}

probe_simd::isa_dispatch! {
    /// Forward, loss and backward of the batch `idx` of `x` (`[n][d]` row-major) and `y`: fills
    /// `grads` (in parameter order `w0, b0, w1, b1, …`, each laid out as the parameter) with the
    /// gradient of the batch's mean cross-entropy.
    pub(super) fn batch_grads(
        net: &Net,
        params: &[Vec<f32>],
        bufs: &mut Buffers,
        grads: &mut [Vec<f32>],
        batch: Batch<'_>,
    ) -> BatchResult => batch_grads_body
}

probe_simd::isa_dispatch! {
    /// Forward and loss only (evaluation) of the batch.
    pub(super) fn batch_loss(
        net: &Net,
        params: &[Vec<f32>],
        bufs: &mut Buffers,
        batch: Batch<'_>,
    ) -> BatchResult => batch_loss_body
}

probe_simd::isa_dispatch! {
    /// Forward only of the batch (its labels unused): leaves every layer's output in
    /// [`Buffers::acts`].
    pub(super) fn batch_forward(
        net: &Net,
        params: &[Vec<f32>],
        bufs: &mut Buffers,
        batch: Batch<'_>,
    ) => forward
}

/// The samples of one batch: rows `idx` of `x` (`[n][d]`, row-major) with labels `y`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Batch<'a> {
    pub x: &'a [f32],
    pub y: &'a [u32],
    pub idx: &'a [u32],
}

#[inline(always)]
fn batch_loss_body(
    net: &Net,
    params: &[Vec<f32>],
    bufs: &mut Buffers,
    batch: Batch<'_>,
) -> BatchResult {
    let b = batch.idx.len();
    forward(net, params, bufs, batch);
    softmax_xent(net, bufs, batch.y, batch.idx, b)
}

#[inline(always)]
fn batch_grads_body(
    net: &Net,
    params: &[Vec<f32>],
    bufs: &mut Buffers,
    grads: &mut [Vec<f32>],
    batch: Batch<'_>,
) -> BatchResult {
    let b = batch.idx.len();
    forward(net, params, bufs, batch);
    let res = softmax_xent(net, bufs, batch.y, batch.idx, b);
    backward(net, params, bufs, grads, b);
    res
}

/// Gathers the batch into `acts[0]` (transposed) and runs every layer.
#[inline(always)]
fn forward(net: &Net, params: &[Vec<f32>], bufs: &mut Buffers, batch: Batch<'_>) {
    let b = batch.idx.len();
    let d = net.widths[0];
    // Column by column: the writes run along the batch. (Row by row, each row's `d` writes
    // were `b` floats apart, 2 or 4 KiB for batches of 512 or 1024: they fell in one cache set
    // and the gather took ~30 % of the forward pass.)
    for (i, column) in bufs.acts[0][..d * b].chunks_exact_mut(b).enumerate() {
        for (slot, &row) in column.iter_mut().zip(batch.idx) {
            *slot = batch.x[row as usize * d + i];
        }
    }
    let last = net.layers() - 1;
    for l in 0..net.layers() {
        let (inp, out) = (net.widths[l], net.widths[l + 1]);
        let (w, bias) = (&params[2 * l], &params[2 * l + 1]);
        let (below, above) = bufs.acts.split_at_mut(l + 1);
        let a_in = &below[l][..inp * b];
        let z = &mut above[0][..out * b];
        // Z [out][b] = W [out][in] · A [in][b].
        let big = inp * out >= net.gemm_min
            && gemm::matmul(z, mat(w, inp, 1), mat(a_in, b, 1), out, b, inp);
        for (o, zr) in z.chunks_exact_mut(b).enumerate() {
            if !big {
                zr.fill(0.0);
                for (i, ar) in a_in.chunks_exact(b).enumerate() {
                    axpy(zr, w[o * inp + i], ar);
                }
            }
            let bo = bias[o];
            if l == last {
                for v in zr.iter_mut() {
                    *v += bo;
                }
            } else {
                activate(net.act, zr, bo);
            }
        }
    }
}

/// `z ← act(z + bias)` in place.
#[inline(always)]
fn activate(act: Act, z: &mut [f32], bias: f32) {
    match act {
        Act::Tanh => z.iter_mut().for_each(|v| *v = tanh_one(*v + bias)),
        Act::Relu => z.iter_mut().for_each(|v| *v = (*v + bias).max(0.0)),
        Act::Sigmoid => z
            .iter_mut()
            .for_each(|v| *v = 1.0 / (1.0 + exp_one(-(*v + bias)))),
        Act::Linear => z.iter_mut().for_each(|v| *v += bias),
    }
}

/// Mean cross-entropy of the logits (`acts[L]`) against the labels, and (into `dz`) its gradient
/// w.r.t. the logits, `(softmax − onehot) / b`.
#[inline(always)]
fn softmax_xent(net: &Net, bufs: &mut Buffers, y: &[u32], idx: &[u32], b: usize) -> BatchResult {
    let c = net.widths[net.layers()];
    let logits = &bufs.acts[net.layers()][..c * b];
    let mx = &mut bufs.col[..b];
    mx.copy_from_slice(&logits[..b]);
    for zr in logits.chunks_exact(b).skip(1) {
        for (m, &z) in mx.iter_mut().zip(zr) {
            *m = m.max(z);
        }
    }
    let dz = &mut bufs.dz[..c * b];
    let sum = &mut bufs.col2[..b];
    sum.fill(0.0);
    for (er, zr) in dz.chunks_exact_mut(b).zip(logits.chunks_exact(b)) {
        for (((e, &z), &m), s) in er.iter_mut().zip(zr).zip(mx.iter()).zip(sum.iter_mut()) {
            *e = exp_one(z - m);
            *s += *e;
        }
    }
    // −log softmax of the label, summed: Σ_k ln s_k − Σ_k (z_{y_k} − m_k). Each s_k lies in
    // [1, c] (the maximum contributes e⁰), so products of 16 stay finite in f64 for any c below
    // 10¹⁹ and one `ln` serves 16 samples.
    let mut loss = 0.0f64;
    for group in sum.chunks(16) {
        loss += group.iter().map(|&v| v as f64).product::<f64>().ln();
    }
    let mut correct = 0;
    for k in 0..b {
        let label = y[idx[k] as usize] as usize;
        loss -= (logits[label * b + k] - mx[k]) as f64;
        let mut best = 0;
        for class in 1..c {
            if logits[class * b + k] > logits[best * b + k] {
                best = class;
            }
        }
        correct += usize::from(best == label);
    }
    // Gradient: (e/s − onehot) / b.
    for v in sum.iter_mut() {
        *v = 1.0 / *v;
    }
    for er in dz.chunks_exact_mut(b) {
        for (e, &inv_s) in er.iter_mut().zip(sum.iter()) {
            *e *= inv_s;
        }
    }
    for k in 0..b {
        let label = y[idx[k] as usize] as usize;
        dz[label * b + k] -= 1.0;
    }
    let inv_b = 1.0 / b as f32;
    for e in dz.iter_mut() {
        *e *= inv_b;
    }
    BatchResult {
        loss: loss / b as f64,
        correct,
    }
}

/// Gradients of every parameter from the logits' gradient in `dz`.
#[inline(always)]
fn backward(net: &Net, params: &[Vec<f32>], bufs: &mut Buffers, grads: &mut [Vec<f32>], b: usize) {
    for l in (0..net.layers()).rev() {
        let (inp, out) = (net.widths[l], net.widths[l + 1]);
        let a_in = &bufs.acts[l][..inp * b];
        let dz = &bufs.dz[..out * b];
        let (gw, rest) = grads[2 * l..].split_at_mut(1);
        let (gw, gb) = (&mut gw[0], &mut rest[0]);
        let gemm_layer = inp * out >= net.gemm_min;
        // dW [out][in] = dZ [out][b] · Aᵀ [b][in].
        let big = gemm_layer && gemm::matmul(gw, mat(dz, b, 1), mat(a_in, 1, b), out, inp, b);
        for (o, dzr) in dz.chunks_exact(b).enumerate() {
            if !big {
                for (i, ar) in a_in.chunks_exact(b).enumerate() {
                    gw[o * inp + i] = dot(dzr, ar);
                }
            }
            gb[o] = sum(dzr);
        }
        if l == 0 {
            break;
        }
        // ∂/∂a_in = Wᵀ dz, then through the activation of layer l−1 (from its outputs a_in).
        let w = &params[2 * l];
        let next = &mut bufs.dz_next[..inp * b];
        // dA [in][b] = Wᵀ [in][out] · dZ [out][b].
        let big = gemm_layer && gemm::matmul(next, mat(w, 1, inp), mat(dz, b, 1), inp, b, out);
        for (i, (nr, ar)) in next
            .chunks_exact_mut(b)
            .zip(a_in.chunks_exact(b))
            .enumerate()
        {
            if !big {
                nr.fill(0.0);
                for (o, dzr) in dz.chunks_exact(b).enumerate() {
                    axpy(nr, w[o * inp + i], dzr);
                }
            }
            match net.act {
                Act::Tanh => {
                    for (g, &a) in nr.iter_mut().zip(ar) {
                        *g *= 1.0 - a * a;
                    }
                }
                Act::Relu => {
                    for (g, &a) in nr.iter_mut().zip(ar) {
                        *g = if a > 0.0 { *g } else { 0.0 };
                    }
                }
                Act::Sigmoid => {
                    for (g, &a) in nr.iter_mut().zip(ar) {
                        *g *= a * (1.0 - a);
                    }
                }
                Act::Linear => {}
            }
        }
        std::mem::swap(&mut bufs.dz, &mut bufs.dz_next);
    }
}

/// `data` as a matrix with row stride `rs` and column stride `cs`.
#[inline(always)]
fn mat(data: &[f32], rs: usize, cs: usize) -> gemm::Mat<'_> {
    gemm::Mat { data, rs, cs }
}

/// `y ← y + a·x`.
#[inline(always)]
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv += a * xv;
    }
}

/// Σ a·b: [`LANES`] partial sums over the whole chunks, added up in lane order, then the tail in
/// order (the accumulator is never indexed at run time, so it stays one vector register).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (ac, ar) = a[..n].as_chunks::<LANES>();
    let (bc, br) = b[..n].as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for (x, y) in ac.iter().zip(bc) {
        acc = std::array::from_fn(|j| acc[j] + x[j] * y[j]);
    }
    ar.iter().zip(br).fold(reduce(acc), |s, (x, y)| s + x * y)
}

/// Σ a, as [`dot`] sums.
#[inline(always)]
fn sum(a: &[f32]) -> f32 {
    let (ac, ar) = a.as_chunks::<LANES>();
    let mut acc = [0.0f32; LANES];
    for x in ac {
        acc = std::array::from_fn(|j| acc[j] + x[j]);
    }
    ar.iter().fold(reduce(acc), |s, x| s + x)
}

/// The sum of the partial sums, in lane order. (A pairwise tree here made LLVM split the
/// accumulator of the loops above into 2-lane pieces: 3.4× slower dot products.)
#[inline(always)]
fn reduce(acc: [f32; LANES]) -> f32 {
    acc.iter().fold(0.0, |s, v| s + v)
}

/// `e^x` for `f32` through the estimators' branch-free `f64` exp (within 1 ulp, the same at
/// every instruction set), rounded to `f32`.
#[inline(always)]
fn exp_one(x: f32) -> f32 {
    probe_simd::exp(x as f64) as f32
}
