//! probe's CPU pooling kernels (`model::layers::pool`, row-wise scans split over threads) against
//! the slow, obviously correct composition (crop, reshape to windows, reduce), on maps large
//! enough to take the multithreaded path and on odd sizes whose last rows and columns are
//! dropped; and the gradient's routing on ties. Finite differences of both kinds are in
//! `model_finite_diff.rs`.

use candle_core::{Device, Tensor, Var};
use probe_train::model::layers::pool::{pool2d, PoolType};

mod common;
use common::{grad_f32, max_abs_diff};

/// `x [N, C, H, W]` pooled by a reshape and a reduction over each `k×k` window.
fn slow(x: &Tensor, k: usize, kind: PoolType) -> Tensor {
    let (n, c, h, w) = x.dims4().unwrap();
    let (oh, ow) = (h / k, w / k);
    let r = x
        .narrow(2, 0, oh * k)
        .unwrap()
        .narrow(3, 0, ow * k)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((n * c, oh, k, ow, k))
        .unwrap()
        .permute((0, 1, 3, 2, 4))
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((n * c, oh, ow, k * k))
        .unwrap();
    let r = match kind {
        PoolType::Max => r.max(3).unwrap(),
        // Summed in the window's row-major order, then scaled, as the kernel does.
        PoolType::Avg => (r.sum(3).unwrap() * (1.0 / (k * k) as f64)).unwrap(),
    };
    r.reshape((n, c, oh, ow)).unwrap()
}

#[test]
fn pooling_matches_the_slow_composition() {
    // [8, 64, 28, 28] gives 100 352 outputs for k = 2: the threaded path; 13×11 maps drop a row
    // and a column (k = 2) or one row and two columns (k = 3).
    for dims in [[8usize, 64, 28, 28], [3, 5, 13, 11]] {
        let x = Tensor::randn(0f32, 1., &dims, &Device::Cpu).unwrap();
        // Quantised copies make ties inside windows common.
        let ties = (&x * 2.).unwrap().round().unwrap();
        for x in [&x, &ties] {
            for k in [2, 3] {
                for kind in [PoolType::Max, PoolType::Avg] {
                    let fast = pool2d(x, k, kind).unwrap();
                    let want = slow(x, k, kind);
                    assert_eq!(fast.dims(), want.dims());
                    let d = max_abs_diff(&fast, &want);
                    // Max picks a value: exact. Avg: the same sum up to rounding of 1/k².
                    let tol = if kind == PoolType::Max { 0.0 } else { 1e-6 };
                    assert!(d <= tol, "{dims:?} k={k} {kind:?}: max |Δ| = {d}");
                }
            }
        }
    }
}

/// Each window's gradient goes to its first maximum in row-major order (PyTorch's choice among
/// ties), for k = 2 and k = 3, on both the single-threaded and the threaded path.
#[test]
fn max_pool_gradient_goes_to_the_first_maximum_of_each_window() {
    for (k, planes) in [(2usize, 1usize), (3, 1), (2, 600), (3, 1200)] {
        let (h, w) = (2 * k, 2 * k + 1); // 2×2 windows, one column dropped
                                         // Every window is constant except its last element, 0: the first element is the first max.
        let mut v = vec![1f32; planes * h * w];
        for p in 0..planes {
            for y in 0..2 {
                for x in 0..2 {
                    v[p * h * w + (y * k + k - 1) * w + x * k + k - 1] = 0.0;
                }
            }
        }
        let x = Var::from_tensor(&Tensor::from_vec(v, (planes, 1, h, w), &Device::Cpu).unwrap())
            .unwrap();
        let y = pool2d(x.as_tensor(), k, PoolType::Max).unwrap();
        let g = grad_f32(
            &(y * 3.0).unwrap().sum_all().unwrap().backward().unwrap(),
            &x,
        );
        for (i, gv) in g.iter().enumerate() {
            let (r, c) = (i % (h * w) / w, i % w);
            let first = r % k == 0 && c % k == 0 && c < 2 * k;
            assert_eq!(*gv, if first { 3.0 } else { 0.0 }, "k={k} at {i}");
        }
    }
}
