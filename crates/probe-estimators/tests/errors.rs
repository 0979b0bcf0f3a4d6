//! Bad input gives a typed error naming the value and what was expected, never a panic.

use candle_core::{DType, Device, Tensor};
use probe_estimators::{
    binned_mi, binned_mi_tensor, binned_symbols, exact_symbols, Binning, Error,
};

mod common;

const B: Binning = Binning::DEFAULT_FIXED;

fn message(e: Error) -> String {
    e.to_string()
}

#[test]
fn shape_errors() {
    let acts = [0.0f32; 6];
    let e = binned_symbols(&acts, 4, 2, &B).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                what: "acts",
                expected: 8,
                got: 6
            }
        ),
        "{e}"
    );
    assert!(message(e).contains("expected 8"));
    let e = binned_symbols(&[], 0, 2, &B).unwrap_err();
    common::assert_zero_dimension(&e, "n");
    let e = binned_symbols(&[], 3, 0, &B).unwrap_err();
    common::assert_zero_dimension(&e, "d");
    let e = exact_symbols(&acts, 2, usize::MAX).unwrap_err();
    assert!(
        matches!(e, Error::InvalidDimension { what: "d", .. }),
        "{e}"
    );
    let e = exact_symbols(&acts, 5, 1).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                what: "rows",
                expected: 5,
                got: 6
            }
        ),
        "{e}"
    );
}

#[test]
fn label_length_errors() {
    let acts = [0.0f32; 6];
    let e = binned_mi(&acts, 3, 2, &B, &[0, 1], &[0, 1, 2]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                what: "x_ids",
                expected: 3,
                got: 2
            }
        ),
        "{e}"
    );
    let e = binned_mi(&acts, 3, 2, &B, &[0, 1, 2], &[0; 4]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::LengthMismatch {
                what: "y",
                expected: 3,
                got: 4
            }
        ),
        "{e}"
    );
    assert!(message(e).contains("y has length 4"));
}

#[test]
fn binning_errors() {
    let acts = [0.0f32; 4];
    for bad in [
        Binning::fixed(1.0, -1.0, 30),
        Binning::Floor { width: -1.0 },
    ] {
        let e = binned_mi(&acts, 4, 1, &bad, &[0; 4], &[0; 4]).unwrap_err();
        assert!(matches!(e, Error::InvalidBinning(_)), "{e}");
        assert!(binned_symbols(&acts, 4, 1, &bad).is_err());
    }
    let e = B.validate();
    assert!(e.is_ok());
    let msg = message(Binning::Floor { width: 0.0 }.validate().unwrap_err());
    assert!(
        msg.contains("width = 0") && msg.contains("expected"),
        "{msg}"
    );
}

#[test]
fn tensor_errors_and_agreement_with_the_slice_api() {
    let dev = Device::Cpu;
    let scalar = Tensor::new(1.0f32, &dev).unwrap();
    let e = binned_mi_tensor(&scalar, &B, &[0], &[0]).unwrap_err();
    assert!(matches!(e, Error::InvalidShape { .. }), "{e}");
    let ints = Tensor::zeros((4, 3), DType::U32, &dev).unwrap();
    let e = binned_mi_tensor(&ints, &B, &[0; 4], &[0; 4]).unwrap_err();
    assert!(matches!(e, Error::UnsupportedDtype(DType::U32)), "{e}");

    // [6, 2, 3] tensor = 6 samples of 6 values; f32, f64 and bf16 agree with the slice API.
    let host: Vec<f32> = (0..36).map(|i| ((i * 7) % 11) as f32 / 5.0 - 1.0).collect();
    let x: Vec<u32> = (0..6).collect();
    let y = [0, 1, 0, 1, 1, 0];
    let want = binned_mi(&host, 6, 6, &B, &x, &y).unwrap();
    let t = Tensor::from_vec(host.clone(), (6, 2, 3), &dev).unwrap();
    for dtype in [DType::F32, DType::F64] {
        let got = binned_mi_tensor(&t.to_dtype(dtype).unwrap(), &B, &x, &y).unwrap();
        assert_eq!(got, want, "{dtype:?}");
    }
    let bf = binned_mi_tensor(&t.to_dtype(DType::BF16).unwrap(), &B, &x, &y).unwrap();
    assert!(bf.i_xt.is_finite());
    // A rank-1 tensor is n samples of one value (0.05 and 0.08 share bin 15 of linspace(-1, 1, 30)).
    let col = Tensor::new(&[0.05f32, 0.08, -0.5], &dev).unwrap();
    assert_eq!(
        binned_mi_tensor(&col, &B, &[0, 1, 2], &[0, 0, 1])
            .unwrap()
            .distinct,
        2
    );
    let e = binned_mi_tensor(&t, &B, &x[..5], &y).unwrap_err();
    assert!(
        matches!(e, Error::LengthMismatch { what: "x_ids", .. }),
        "{e}"
    );
}
