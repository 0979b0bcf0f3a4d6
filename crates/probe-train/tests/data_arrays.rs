//! `dataset = "arrays"`: `.npz` and `.safetensors` files written by numpy and the safetensors
//! package (datasets/fixtures/arrays/, made by scripts/make_array_fixtures.py), files written
//! here (bf16, broken archives), and the committed Fashion-MNIST subset round-tripped through an
//! array file. Every value is checked against the formula the fixture script used; every bad
//! input must give an error naming the file, the key and the value, never a panic.

mod common;
use common::scratch::Scratch;
use common::{assert_err, assert_mentions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use probe_train::data::{
    load_arrays, load_mnist_dir, parse_npy, source_datasets_dir, ArrayKeys, ArrayLayout, DataError,
    ElemType, Npz,
};
use safetensors::{serialize, Dtype, View};

fn fixture(name: &str) -> PathBuf {
    source_datasets_dir().join("fixtures/arrays").join(name)
}

/// The fixture formula: sample i, flattened feature j → (7i + 3j) mod 11 (÷ 4 for floats).
fn v(i: usize, j: usize, float: bool) -> f32 {
    let r = ((7 * i + 3 * j) % 11) as f32;
    if float {
        r / 4.0
    } else {
        r
    }
}

fn expected_x(n: usize, d: usize, float: bool) -> Vec<f32> {
    (0..n)
        .flat_map(|i| (0..d).map(move |j| v(i, j, float)))
        .collect()
}

fn expected_y(n: usize, test: bool) -> Vec<u32> {
    (0..n)
        .map(|i| ((i + usize::from(test)) % 3) as u32)
        .collect()
}

fn load(name: &str) -> Result<probe_train::data::ArraySplits, DataError> {
    load_arrays(
        &fixture(name),
        &ArrayKeys::default(),
        ArrayLayout::Nchw,
        "t",
    )
}

#[test]
fn numpy_savez_plain_features() {
    let s = load("basic.npz").unwrap();
    let test = s.test.unwrap();
    assert_eq!((s.train.n, s.train.d, test.n, test.d), (6, 4, 3, 4));
    assert_eq!(s.train.x, expected_x(6, 4, true));
    assert_eq!(s.train.y, expected_y(6, false));
    assert_eq!(test.x, expected_x(3, 4, true));
    assert_eq!(test.y, expected_y(3, true));
    assert_eq!((s.train.classes, test.classes), (3, 3));
    assert_eq!(s.train.image_shape, None);
    assert_eq!(
        (s.train.name.as_str(), test.name.as_str()),
        ("t-train", "t-test")
    );
}

#[test]
fn numpy_savez_compressed_nchw_images() {
    let s = load("images_compressed.npz").unwrap();
    let test = s.test.unwrap();
    // [5, 2, 3, 4] uint8: 2 channels of 3x4, values kept as stored (no /255).
    assert_eq!((s.train.n, s.train.d), (5, 24));
    assert_eq!(s.train.image_shape, Some((3, 4)));
    assert_eq!(s.train.channels(), 2);
    assert_eq!(s.train.x, expected_x(5, 24, false));
    assert_eq!(s.train.y, expected_y(5, false)); // [N, 1] labels
    assert_eq!(test.x, expected_x(2, 24, false));
    assert_eq!(test.y, expected_y(2, true)); // int32
}

#[test]
fn fortran_order_nhwc_and_big_endian() {
    let path = fixture("nhwc_fortran_bigendian.npz");
    let s = load_arrays(&path, &ArrayKeys::default(), ArrayLayout::Nhwc, "t").unwrap();
    let test = s.test.unwrap();
    let (h, w, c) = (3, 4, 2);
    assert_eq!(s.train.image_shape, Some((h, w)));
    assert_eq!(s.train.channels(), c);
    for (ds, n) in [(&s.train, 4), (&test, 2)] {
        // Loaded channel-major: feature (ch, y, x) holds the NHWC element j = (y*w + x)*c + ch.
        for i in 0..n {
            for ch in 0..c {
                for p in 0..h * w {
                    assert_eq!(
                        ds.row(i)[ch * h * w + p],
                        v(i, p * c + ch, true),
                        "{i} {ch} {p}"
                    );
                }
            }
        }
    }
    assert_eq!(s.train.y, expected_y(4, false)); // int16
    assert_eq!(test.y, expected_y(2, true)); // big-endian int32

    // Read as NCHW the same file gives [3, 4, 2] images whose rows are the raw C-order values:
    // proves the Fortran-order array was reordered (and the big-endian one byte-swapped).
    let raw = load_arrays(&path, &ArrayKeys::default(), ArrayLayout::Nchw, "t").unwrap();
    assert_eq!(raw.train.x, expected_x(4, 24, true));
    assert_eq!(raw.test.unwrap().x, expected_x(2, 24, true));
    assert_eq!(raw.train.image_shape, Some((4, 2)));
}

#[test]
fn custom_keys_float16_and_uint16() {
    let keys = ArrayKeys {
        x_train: "images".into(),
        y_train: "labels".into(),
        x_test: "val_images".into(),
        y_test: "val_labels".into(),
    };
    let s = load_arrays(&fixture("custom_keys.npz"), &keys, ArrayLayout::Nchw, "t").unwrap();
    assert_eq!(s.train.x, expected_x(4, 3, true));
    assert_eq!(s.test.unwrap().y, expected_y(2, true));
    // The default keys are not in this file: the error lists what is.
    let err = load("custom_keys.npz").unwrap_err();
    assert_err!(err, DataError::MissingKey { .. });
    let listed = "images, labels, val_images, val_labels, meta";
    assert_mentions(
        &err,
        &["custom_keys.npz", "`x_train`", "data.keys.x_train", listed],
    );
}

#[test]
fn train_only_file_has_no_test_set() {
    let s = load("train_only.npz").unwrap();
    assert!(s.test.is_none());
    assert_eq!(s.train.x, expected_x(10, 2, false)); // int8
    assert_eq!(s.train.y, (0..10).map(|i| i % 2).collect::<Vec<u32>>()); // bool labels
    assert_eq!(s.train.classes, 2);
}

#[test]
fn safetensors_from_the_python_package() {
    let s = load("basic.safetensors").unwrap();
    let test = s.test.unwrap();
    assert_eq!(
        (s.train.n, s.train.d, s.train.image_shape),
        (4, 4, Some((2, 2)))
    );
    assert_eq!(s.train.channels(), 1);
    assert_eq!(s.train.x, expected_x(4, 4, true)); // float16
    assert_eq!(test.x, expected_x(2, 4, true));
    assert_eq!(s.train.y, expected_y(4, false));
    assert_eq!(test.y, expected_y(2, true));
}

#[test]
fn nan_names_file_key_sample_feature_and_value() {
    let err = load("bad_nan.npz").unwrap_err();
    assert_err!(
        err,
        DataError::NonFinite {
            sample: 2,
            feature: 1,
            ..
        }
    );
    let parts = ["bad_nan.npz", "`x_train`", "NaN", "sample 2, feature 1"];
    assert_mentions(&err, &parts);
}

#[test]
fn negative_and_float_labels_are_rejected() {
    let err = load("bad_label.npz").unwrap_err();
    assert_err!(err, DataError::BadLabel { index: 3, .. });
    let parts = ["bad_label.npz", "`y_train`", "label -1 at index 3"];
    assert_mentions(&err, &parts);

    let err = load("float_labels.npz").unwrap_err();
    assert_mentions(&err, &["`y_train`", "float32", "integer"]);
}

// ---------------------------------------------------------------------------------------------
// Files written here: safetensors of every dtype, inconsistent arrays, broken archives.

struct T(Dtype, Vec<usize>, Vec<u8>);
impl View for &T {
    fn dtype(&self) -> Dtype {
        self.0
    }
    fn shape(&self) -> &[usize] {
        &self.1
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.2)
    }
    fn data_len(&self) -> usize {
        self.2.len()
    }
}

fn write_safetensors(path: &Path, tensors: &[(&str, T)]) {
    let map: HashMap<String, &T> = tensors.iter().map(|(k, t)| (k.to_string(), t)).collect();
    std::fs::write(path, serialize(map, None).unwrap()).unwrap();
}

/// Writes `tensors` to `path` and returns the error of loading it (default keys, NCHW).
fn load_error(path: &Path, tensors: &[(&str, T)]) -> String {
    write_safetensors(path, tensors);
    load_arrays(path, &ArrayKeys::default(), ArrayLayout::Nchw, "t")
        .unwrap_err()
        .to_string()
}

fn le<const N: usize>(vals: impl IntoIterator<Item = [u8; N]>) -> Vec<u8> {
    vals.into_iter().flatten().collect()
}

#[test]
fn safetensors_bf16_i32_and_u64() {
    let dir = Scratch::new("bf16");
    let p = dir.path("d.safetensors");
    let xs = [1.5f32, -2.0, 0.25, 8.0, 3.0, -0.5];
    let bf16 = le(xs.iter().map(|x| {
        let b = (x.to_bits() >> 16) as u16;
        b.to_le_bytes()
    }));
    write_safetensors(
        &p,
        &[
            ("x_train", T(Dtype::BF16, vec![3, 2], bf16.clone())),
            (
                "y_train",
                T(Dtype::U64, vec![3], le([0u64, 4, 2].map(u64::to_le_bytes))),
            ),
            (
                "x_test",
                T(Dtype::I32, vec![1, 2], le([-7i32, 9].map(i32::to_le_bytes))),
            ),
            (
                "y_test",
                T(Dtype::I32, vec![1], le([1i32].map(i32::to_le_bytes))),
            ),
        ],
    );
    let s = load_arrays(&p, &ArrayKeys::default(), ArrayLayout::Nchw, "t").unwrap();
    assert_eq!(s.train.x, xs);
    assert_eq!(s.train.y, [0, 4, 2]);
    assert_eq!(s.train.classes, 5);
    assert_eq!(s.test.unwrap().x, [-7.0, 9.0]);
}

#[test]
fn inconsistent_arrays_name_both_keys() {
    let dir = Scratch::new("mismatch");
    let f32s = |n: usize| le((0..n).map(|i| (i as f32).to_le_bytes()));
    let i64s = |n: usize| le((0..n).map(|i| ((i % 2) as i64).to_le_bytes()));

    let msg = load_error(
        &dir.path("count.safetensors"),
        &[
            ("x_train", T(Dtype::F32, vec![4, 2], f32s(8))),
            ("y_train", T(Dtype::I64, vec![3], i64s(3))),
        ],
    );
    let counts = "`x_train` holds 4 samples but `y_train` holds 3 labels";
    assert_mentions(&msg, &["count.safetensors", counts]);

    let msg = load_error(
        &dir.path("shape.safetensors"),
        &[
            ("x_train", T(Dtype::F32, vec![2, 3], f32s(6))),
            ("y_train", T(Dtype::I64, vec![2], i64s(2))),
            ("x_test", T(Dtype::F32, vec![3, 2], f32s(6))),
            ("y_test", T(Dtype::I64, vec![3], i64s(3))),
        ],
    );
    assert_mentions(&msg, &["[3]", "[2]", "`x_test`"]);

    // Only one of the two test arrays.
    let msg = load_error(
        &dir.path("half.safetensors"),
        &[
            ("x_train", T(Dtype::F32, vec![2, 3], f32s(6))),
            ("y_train", T(Dtype::I64, vec![2], i64s(2))),
            ("x_test", T(Dtype::F32, vec![2, 3], f32s(6))),
        ],
    );
    assert_mentions(&msg, &["no array `y_test`"]);

    // One-hot labels, infinite and f32-overflowing features.
    let msg = load_error(
        &dir.path("onehot.safetensors"),
        &[
            (
                "x_train",
                T(
                    Dtype::F64,
                    vec![2, 1],
                    le([1.0f64, 1e300].map(f64::to_le_bytes)),
                ),
            ),
            ("y_train", T(Dtype::I64, vec![2, 2], i64s(4))),
        ],
    );
    let parts = ["value 1e300 at sample 1, feature 0", "too large for f32"];
    assert_mentions(&msg, &parts);
}

#[test]
fn unknown_and_empty_files() {
    let dir = Scratch::new("unknown");
    let p = dir.path("x.npz");
    std::fs::write(&p, b"hello, world").unwrap();
    let err = load_arrays(&p, &ArrayKeys::default(), ArrayLayout::Nchw, "t").unwrap_err();
    assert_err!(err, DataError::UnknownArrayFormat { .. });
    assert_mentions(&err, &["x.npz"]);
    std::fs::write(&p, b"").unwrap();
    assert!(load_arrays(&p, &ArrayKeys::default(), ArrayLayout::Nchw, "t").is_err());
    let missing = dir.path("absent.npz");
    let err = load_arrays(&missing, &ArrayKeys::default(), ArrayLayout::Nchw, "t").unwrap_err();
    assert_err!(err, DataError::Io { .. });
    assert_mentions(&err, &["absent.npz"]);
}

/// Every truncation and many single-byte corruptions of real numpy archives give an error, and
/// never a panic; the CRC catches a flipped payload byte of a stored member.
#[test]
fn broken_archives_never_panic() {
    for name in [
        "basic.npz",
        "images_compressed.npz",
        "nhwc_fortran_bigendian.npz",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let dir = Scratch::new(&format!("broken-{name}"));
        let p = dir.path(name);
        for cut in (0..bytes.len()).step_by(7) {
            std::fs::write(&p, &bytes[..cut]).unwrap();
            assert!(
                load_arrays(&p, &ArrayKeys::default(), ArrayLayout::Nhwc, "t").is_err(),
                "{name} cut at {cut} loaded"
            );
        }
        for at in (0..bytes.len()).step_by(3) {
            let mut b = bytes.clone();
            b[at] ^= 0x5a;
            std::fs::write(&p, &b).unwrap();
            // Either an error or (a flipped value that the CRC cannot see, e.g. in a comment
            // field) a successful load; both are fine, a panic is not.
            let _ = load_arrays(&p, &ArrayKeys::default(), ArrayLayout::Nhwc, "t");
        }
    }
    // Offsets from the file near usize::MAX must not overflow (a panic in debug builds): a zip64
    // locator pointing at u64::MAX, a central directory at 0xFFFF_FFF0.
    let mut z = b"PK\x06\x07".to_vec(); // zip64 locator
    z.extend(0u32.to_le_bytes());
    z.extend(u64::MAX.to_le_bytes());
    z.extend(1u32.to_le_bytes());
    z.extend(b"PK\x05\x06\0\0\0\0\xff\xff\xff\xff"); // EOCD, 0xFFFF entries
    z.extend(0xFFFF_FFFFu32.to_le_bytes());
    z.extend(0xFFFF_FFF0u32.to_le_bytes());
    z.extend([0, 0]);
    let err = Npz::from_bytes(Path::new("z.npz"), z.clone())
        .err()
        .unwrap();
    assert_mentions(&err, &["zip64"]);
    let n = z.len();
    z[n - 10..n - 6].copy_from_slice(&1u32.to_le_bytes()); // plain cd_size 1 at 0xFFFF_FFF0
    z[n - 14..n - 12].copy_from_slice(&1u16.to_le_bytes());
    z[n - 12..n - 10].copy_from_slice(&1u16.to_le_bytes());
    assert!(Npz::from_bytes(Path::new("z.npz"), z).is_err());

    // A flipped data byte of the stored x_train member: CRC mismatch naming the member.
    let mut b = std::fs::read(fixture("basic.npz")).unwrap();
    let npz = Npz::from_bytes(Path::new("basic.npz"), b.clone()).unwrap();
    assert_eq!(npz.keys(), ["x_train", "y_train", "x_test", "y_test"]);
    let header_end = b.windows(2).position(|w| w == b"}\x20").unwrap(); // inside member 1's header
    let data_at = header_end + 100; // well inside x_train's data
    b[data_at] ^= 1;
    let err = Npz::from_bytes(Path::new("basic.npz"), b)
        .unwrap()
        .array("x_train")
        .unwrap_err();
    assert_mentions(&err, &["basic.npz", "x_train.npy", "CRC-32"]);
}

#[test]
fn npy_header_errors_name_the_problem() {
    let npy = |descr: &str, shape: &str, data: &[u8]| {
        let h = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut f = b"\x93NUMPY\x01\x00".to_vec();
        f.extend((h.len() as u16).to_le_bytes());
        f.extend(h.as_bytes());
        f.extend(data);
        f
    };
    assert_eq!(
        parse_npy(&npy("<u2", "(2,)", &[1, 0, 2, 0])).unwrap().dtype,
        ElemType::U16
    );
    assert!(parse_npy(&npy("|O", "(1,)", &[0; 8]))
        .unwrap_err()
        .contains("object arrays"));
    assert!(parse_npy(&npy("<U3", "(1,)", &[0; 12]))
        .unwrap_err()
        .contains("'<U3'"));
    assert!(parse_npy(&npy("<c8", "(1,)", &[0; 8]))
        .unwrap_err()
        .contains("not supported"));
    let e = parse_npy(&npy("<f4", "(3,)", &[0; 8])).unwrap_err();
    assert!(e.contains("needs 12 bytes") && e.contains("has 8"), "{e}");
    let e = parse_npy(&npy("<f4", "(99999999999, 99999999999)", &[])).unwrap_err();
    assert!(e.contains("too large"), "{e}");
    assert!(parse_npy(b"\x93NUMPY\x09\x00")
        .unwrap_err()
        .contains("version 9.0"));
    assert!(parse_npy(b"PK").unwrap_err().contains("not an .npy"));
    // A scalar ([]) array and a [2, 0] array.
    let scalar = parse_npy(&npy("<f8", "()", &2.5f64.to_le_bytes())).unwrap();
    assert_eq!(
        (scalar.shape.len(), scalar.to_features().unwrap()),
        (0, vec![2.5])
    );
}

/// Real data: the committed Fashion-MNIST subset written as `[N, 1, 28, 28]` uint8 arrays loads
/// to the same images as the IDX files (times 255) and the same labels.
#[test]
fn fashion_subset_round_trips_through_safetensors() {
    let idx = load_mnist_dir(
        &source_datasets_dir().join("fashion-mnist-subset"),
        "fashion-mnist-subset",
    )
    .unwrap();
    let bytes = |ds: &probe_train::data::Dataset| -> Vec<u8> {
        ds.x.iter().map(|&v| (v * 255.0).round() as u8).collect()
    };
    let labels =
        |ds: &probe_train::data::Dataset| le(ds.y.iter().map(|&y| i64::from(y).to_le_bytes()));
    let dir = Scratch::new("fashion");
    let p = dir.path("fashion.safetensors");
    write_safetensors(
        &p,
        &[
            (
                "x_train",
                T(Dtype::U8, vec![idx.train.n, 1, 28, 28], bytes(&idx.train)),
            ),
            (
                "y_train",
                T(Dtype::I64, vec![idx.train.n], labels(&idx.train)),
            ),
            (
                "x_test",
                T(Dtype::U8, vec![idx.test.n, 1, 28, 28], bytes(&idx.test)),
            ),
            ("y_test", T(Dtype::I64, vec![idx.test.n], labels(&idx.test))),
        ],
    );
    let s = load_arrays(&p, &ArrayKeys::default(), ArrayLayout::Nchw, "fashion").unwrap();
    let test = s.test.unwrap();
    assert_eq!((s.train.n, test.n, s.train.d), (2000, 500, 784));
    assert_eq!(s.train.image_shape, Some((28, 28)));
    assert_eq!(
        (s.train.y.clone(), test.y.clone()),
        (idx.train.y.clone(), idx.test.y.clone())
    );
    assert_eq!(s.train.classes, 10);
    for (a, b) in s.train.x.iter().zip(&idx.train.x) {
        assert_eq!(*a / 255.0, *b);
    }
}
