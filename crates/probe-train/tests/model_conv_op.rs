//! The one-op convolution (`model::layers::conv_op::ConvCols`: im2col and the product in the
//! forward pass, `dW = dy·colsᵀ` and `dx = col2im(Wᵀ·dy)` in the backward pass) against the
//! composition it replaces (`Cols` then candle's `matmul`): values and both gradients
//! bit-identical in f32 and f64, for strides, paddings and kernels of several sizes, with the
//! input tracked and not. Agreement with candle's `conv2d` and with central differences is
//! checked in `model_finite_diff.rs`.

use candle_core::{DType, Device, Tensor, Var};
use probe_train::model::layers::conv_op::ConvCols;
use probe_train::model::layers::im2col::{Cols, ConvGeom, Dir};
use probe_train::rng::{self, Stream};

fn var(shape: &[usize], seed: u64, dtype: DType) -> Var {
    let mut r = rng::stream(seed, Stream::Init);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng::uniform(&mut r, 1.0)).collect();
    let t = Tensor::from_vec(v, shape, &Device::Cpu).unwrap();
    Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap()
}

fn bits(t: &Tensor) -> Vec<u64> {
    let v: Vec<f64> = t
        .to_dtype(DType::F64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    v.into_iter().map(f64::to_bits).collect()
}

#[test]
fn the_one_op_convolution_equals_im2col_and_matmul_to_the_bit() {
    for dtype in [DType::F32, DType::F64] {
        for (c, o, hw, k, stride, pad, b) in [
            (1, 16, 28, 3, 1, 1, 32),
            (16, 32, 14, 3, 1, 1, 8),
            (3, 5, 9, 2, 2, 0, 4),
            (2, 4, 7, 3, 2, 1, 3),
        ] {
            for track_x in [true, false] {
                let what =
                    format!("{dtype:?} c{c} o{o} {hw}² k{k} s{stride} p{pad} b{b} x{track_x}");
                let x = var(&[c, b, hw, hw], 1, dtype);
                let w = var(&[o, c, k, k], 2, dtype);
                let xt = if track_x {
                    x.as_tensor().clone()
                } else {
                    x.as_tensor().detach()
                };
                let g = ConvGeom {
                    c,
                    h: hw,
                    w: hw,
                    kh: k,
                    kw: k,
                    stride,
                    pad,
                };
                let ours = xt.apply_op2(w.as_tensor(), ConvCols(g)).unwrap();
                let cols = xt.apply_op1(Cols(g, Dir::Im2Col)).unwrap();
                let composed = w
                    .as_tensor()
                    .reshape((o, g.k()))
                    .unwrap()
                    .matmul(&cols)
                    .unwrap()
                    .reshape(ours.dims())
                    .unwrap();
                assert_eq!(bits(&ours), bits(&composed), "{what}: values");
                let r = var(ours.dims(), 3, dtype);
                let grads = |y: &Tensor| {
                    let g = (y * r.as_tensor())
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .backward()
                        .unwrap();
                    let gx = g.get(x.as_tensor()).map(bits);
                    (gx, bits(g.get(w.as_tensor()).expect("dW")))
                };
                let (a, b) = (grads(&ours), grads(&composed));
                assert_eq!(a.1, b.1, "{what}: dW");
                assert_eq!(a.0, b.0, "{what}: dx");
                assert_eq!(
                    a.0.is_some(),
                    track_x,
                    "{what}: dx only for a tracked input"
                );
            }
        }
    }
}
