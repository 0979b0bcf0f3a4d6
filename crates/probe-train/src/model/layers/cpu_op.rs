//! CPU custom ops on f32 and f64 tensors written once for both dtypes.
//!
//! An op implements [`FloatOp`]: its output shape from the input layouts, its forward pass over
//! contiguous slices and (unless it overrides [`FloatOp::backward`]) its gradients over the
//! tensors' storage (read in place), all generic over the element type ([`Gate`]: f32 or f64).
//! [`float_op!`] then makes it a candle `CustomOp1/2/3`: the dtype dispatch, the slice extraction
//! and the shape checks are here once instead of in every op. Used by the fused recurrent cells, the row ops and ReLU.
//!
//! ```text
//! impl FloatOp for SoftmaxLast { const NAME = "probe-softmax-last"; fn shape(..); fn forward(..); fn grads(..) }
//! float_op!(1: SoftmaxLast);
//! let y = x.contiguous()?.apply_op1(SoftmaxLast)?;
//! ```

use std::ops::Add;

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, DType, Layout, Shape, Storage, Tensor, WithDType};
use num_traits::Float;

use super::fast_tanh::tanh_one;

/// The element types of the CPU ops, with the gates' nonlinearities: in `f32` the vectorised
/// Cephes `tanh` of [`super::fast_tanh`] (within 1 ulp) and `σ(x) = ½ + ½·tanh(x/2)` (within
/// 1e-7), branch-free so a row vectorises; in `f64` (the finite-difference tests) the standard
/// library's `exp` and `tanh`.
pub trait Gate: Float + WithDType + Default {
    /// `tanh(x)`.
    fn th(x: Self) -> Self;
    /// `1 / (1 + e^{−x})`.
    fn sig(x: Self) -> Self;
    /// `out[i] = gelu(xs[i])`, `gelu(x) = x·Φ(x)` (the `erf` form): in `f32`
    /// [`super::normal::gelu_slice`] (within 1 ulp, vectorised); in `f64` candle's `gelu_erf`,
    /// operation for operation.
    fn gelu(xs: &[Self], out: &mut [Self]);
    /// `out[i] = dy[i]·gelu'(xs[i])`: in `f32` [`super::normal::gelu_grad_slice`]; in `f64`
    /// candle's backward of `gelu_erf`, operation for operation.
    fn gelu_grad(dy: &[Self], xs: &[Self], out: &mut [Self]);
}

impl Gate for f32 {
    #[inline(always)]
    fn th(x: f32) -> f32 {
        tanh_one(x)
    }
    #[inline(always)]
    fn sig(x: f32) -> f32 {
        0.5 + 0.5 * tanh_one(0.5 * x)
    }
    fn gelu(xs: &[f32], out: &mut [f32]) {
        super::normal::gelu_slice(xs, out)
    }
    fn gelu_grad(dy: &[f32], xs: &[f32], out: &mut [f32]) {
        super::normal::gelu_grad_slice(dy, xs, out)
    }
}

impl Gate for f64 {
    #[inline(always)]
    fn th(x: f64) -> f64 {
        x.tanh()
    }
    #[inline(always)]
    fn sig(x: f64) -> f64 {
        (-x).exp().add(1.0).recip()
    }
    fn gelu(xs: &[f64], out: &mut [f64]) {
        for (o, &x) in out.iter_mut().zip(xs) {
            *o = (libm::erf(x * std::f64::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * x;
        }
    }
    /// candle 0.11's backward, each of its tensor ops in turn (an affine map is `v·a + b`;
    /// `tensor / c` is the affine map `v·(1/c) + 0`): `dy·gelu'(x)` with
    /// `gelu'(x) = 0.5 + 0.398942·e^{−x²/2}·x + 0.5·erf(x/√2)`.
    fn gelu_grad(dy: &[f64], xs: &[f64], out: &mut [f64]) {
        for ((o, &g), &v) in out.iter_mut().zip(dy).zip(xs) {
            let neg_half_square = -(v * v) * 0.5 + 0.0;
            let scaled_exp_arg = (neg_half_square.exp() * 0.398942 + 0.0) * v;
            let arg_scaled_sqrt = v * (1.0 / 2f64.sqrt()) + 0.0;
            let erf_scaled_sqrt = libm::erf(arg_scaled_sqrt) * 0.5 + 0.0;
            *o = g * ((scaled_exp_arg * 1.0 + 0.5) + erf_scaled_sqrt);
        }
    }
}

/// An op on f32 or f64 CPU tensors (see the module header).
pub(crate) trait FloatOp {
    /// candle's name of the op; its errors start with it.
    const NAME: &'static str;

    /// The output shape for inputs of these layouts, or an error naming the mismatch.
    fn shape(&self, ins: &[&Layout]) -> candle_core::Result<Shape>;

    /// The output's elements from the inputs' (contiguous, in the order of the op's arguments),
    /// of the dimensions `dims`.
    fn forward<T: Gate>(&self, ins: &[&[T]], dims: &[&[usize]]) -> Vec<T>;

    /// The inputs' gradients (their elements, in order) from the inputs, the output `res` and
    /// its gradient `grad`.
    fn grads<T: Gate>(
        &self,
        ins: &[&[T]],
        dims: &[&[usize]],
        res: &[T],
        grad: &[T],
    ) -> Vec<Vec<T>> {
        let _ = (ins, dims, res, grad);
        Vec::new()
    }

    /// The inputs' gradients as tensors: [`FloatOp::grads`] over the tensors' storage, read in
    /// place when contiguous on the CPU (copied otherwise).
    fn backward(
        &self,
        ins: &[&Tensor],
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Vec<Tensor>> {
        match res.dtype() {
            DType::F32 => grads_of::<f32, Self>(self, ins, res, grad),
            DType::F64 => grads_of::<f64, Self>(self, ins, res, grad),
            other => bail!("{}: dtype {other:?} is not supported", Self::NAME),
        }
    }
}

fn grads_of<T: Gate, O: FloatOp + ?Sized>(
    op: &O,
    ins: &[&Tensor],
    res: &Tensor,
    grad: &Tensor,
) -> candle_core::Result<Vec<Tensor>> {
    // Contiguous CPU tensors are read in place (under their storage's read lock), others copied.
    // Nothing writes a tensor during a backward pass, so holding several read locks (the same
    // storage's twice, even) cannot block.
    let all: Vec<&Tensor> = ins.iter().copied().chain([res, grad]).collect();
    let views = all
        .iter()
        .map(|t| view::<T>(t))
        .collect::<candle_core::Result<Vec<_>>>()?;
    let slices = views
        .iter()
        .map(|v| v.slice::<T>())
        .collect::<candle_core::Result<Vec<&[T]>>>()?;
    let (host_ins, rest) = slices.split_at(ins.len());
    let dims: Vec<&[usize]> = ins.iter().map(|t| t.dims()).collect();
    let g = op.grads(host_ins, &dims, rest[0], rest[1]);
    if g.len() != ins.len() {
        bail!(
            "{}: {} gradients for {} inputs",
            O::NAME,
            g.len(),
            ins.len()
        )
    }
    g.into_iter()
        .zip(ins)
        .map(|(v, t)| Tensor::from_vec(v, t.shape(), t.device()))
        .collect()
}

/// `cpu_fwd` of a [`FloatOp`]: checks the shapes, dispatches on the dtype of the first input
/// (every input must have it), runs the forward pass over the contiguous slices.
pub(crate) fn cpu_fwd<O: FloatOp>(
    op: &O,
    ins: &[(&CpuStorage, &Layout)],
) -> candle_core::Result<(CpuStorage, Shape)> {
    let layouts: Vec<&Layout> = ins.iter().map(|(_, l)| *l).collect();
    let dims: Vec<&[usize]> = layouts.iter().map(|l| l.dims()).collect();
    let shape = op.shape(&layouts)?;
    let out = match ins.first().map(|(s, _)| s.dtype()) {
        Some(DType::F32) => CpuStorage::F32(op.forward(&slices::<f32>(O::NAME, ins)?, &dims)),
        Some(DType::F64) => CpuStorage::F64(op.forward(&slices::<f64>(O::NAME, ins)?, &dims)),
        other => bail!("{}: dtype {other:?} is not supported", O::NAME),
    };
    Ok((out, shape))
}

fn slices<'a, T: WithDType>(
    what: &str,
    ins: &[(&'a CpuStorage, &Layout)],
) -> candle_core::Result<Vec<&'a [T]>> {
    ins.iter()
        .map(|(s, l)| slice_of(s.as_slice::<T>()?, l, what))
        .collect()
}

/// A `bwd` result of arity 1, 2 or 3 from the gradients of [`FloatOp::backward`] (a missing one
/// is no gradient).
pub(crate) trait Grads {
    /// The result for the gradients `g`, in the order of the op's arguments.
    fn from_grads(g: &[Tensor]) -> Self;
}

impl Grads for Option<Tensor> {
    fn from_grads(g: &[Tensor]) -> Self {
        g.first().cloned()
    }
}

impl Grads for (Option<Tensor>, Option<Tensor>) {
    fn from_grads(g: &[Tensor]) -> Self {
        (g.first().cloned(), g.get(1).cloned())
    }
}

impl Grads for (Option<Tensor>, Option<Tensor>, Option<Tensor>) {
    fn from_grads(g: &[Tensor]) -> Self {
        (g.first().cloned(), g.get(1).cloned(), g.get(2).cloned())
    }
}

/// Implements candle's `CustomOp1/2/3` (`float_op!(N: Type)`) for a [`FloatOp`]: its name, its
/// `cpu_fwd` ([`cpu_fwd`]) and its `bwd` ([`FloatOp::backward`]).
macro_rules! float_op {
    ($trait:ident for $ty:ty, $grads:ty: $($s:ident $l:ident $a:ident),+) => {
        impl candle_core::$trait for $ty {
            fn name(&self) -> &'static str {
                <$ty as $crate::model::layers::cpu_op::FloatOp>::NAME
            }

            #[allow(clippy::too_many_arguments)]
            fn cpu_fwd(
                &self,
                $($s: &candle_core::CpuStorage, $l: &candle_core::Layout),+
            ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
                $crate::model::layers::cpu_op::cpu_fwd(self, &[$(($s, $l)),+])
            }

            fn bwd(
                &self,
                $($a: &candle_core::Tensor,)+
                res: &candle_core::Tensor,
                grad: &candle_core::Tensor,
            ) -> candle_core::Result<$grads> {
                use $crate::model::layers::cpu_op::{FloatOp, Grads};
                Ok(Grads::from_grads(&self.backward(&[$($a),+], res, grad)?))
            }
        }
    };
    (1: $ty:ty) => {
        float_op!(CustomOp1 for $ty, Option<candle_core::Tensor>: s1 l1 a1);
    };
    (2: $ty:ty) => {
        float_op!(CustomOp2 for $ty, (Option<candle_core::Tensor>, Option<candle_core::Tensor>): s1 l1 a1, s2 l2 a2);
    };
    (3: $ty:ty) => {
        float_op!(CustomOp3 for $ty, (Option<candle_core::Tensor>, Option<candle_core::Tensor>, Option<candle_core::Tensor>): s1 l1 a1, s2 l2 a2, s3 l3 a3);
    };
}
pub(crate) use float_op;

/// The elements of a contiguous input of `cpu_fwd` (`what` names the op in the error).
pub(crate) fn slice_of<'a, T>(v: &'a [T], l: &Layout, what: &str) -> candle_core::Result<&'a [T]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&v[a..b]),
        None => bail!("{what}: the input must be contiguous"),
    }
}

/// The elements of a tensor in a backward pass: a contiguous CPU tensor's storage, read in place
/// under its read lock (`G`, the guard), or a host copy of any other tensor.
enum View<G> {
    /// The storage and the element range of a contiguous CPU tensor.
    Shared(G, usize, usize),
    /// A copy, as `f32` or `f64` (the op's element type).
    Copy(CpuStorage),
}

impl<G: std::ops::Deref<Target = Storage>> View<G> {
    fn slice<T: WithDType>(&self) -> candle_core::Result<&[T]> {
        match self {
            View::Shared(s, a, b) => match &**s {
                Storage::Cpu(s) => Ok(&s.as_slice::<T>()?[*a..*b]),
                _ => bail!("a CPU op's backward got a tensor off the CPU"),
            },
            View::Copy(c) => c.as_slice::<T>(),
        }
    }
}

/// [`View`] of `t` with elements `T`.
fn view<T: WithDType>(
    t: &Tensor,
) -> candle_core::Result<View<impl std::ops::Deref<Target = Storage> + '_>> {
    let (storage, layout) = t.storage_and_layout();
    let range = match &*storage {
        Storage::Cpu(_) => layout.contiguous_offsets(),
        _ => None,
    };
    match range {
        Some((a, b)) => Ok(View::Shared(storage, a, b)),
        None => {
            drop(storage);
            let v = t.flatten_all()?.to_vec1::<T>()?;
            Ok(View::Copy(T::to_cpu_storage_owned(v)))
        }
    }
}

/// Whether the CPU ops run for tensors like `t` (CPU, f32 or f64); others use candle's ops.
pub(crate) fn cpu_float(t: &Tensor) -> bool {
    t.device().is_cpu() && matches!(t.dtype(), DType::F32 | DType::F64)
}
