//! IDX reading and MNIST-directory loading, on small files written byte by byte in the tests.

mod common;
use common::scratch::Scratch;
use common::{assert_err, assert_mentions};
use flate2::write::GzEncoder;
use flate2::Compression;
use probe_train::data::{
    load_mnist_dir, read_idx_images, read_idx_labels, DataError, MAX_IDX_DATA_BYTES,
};
use std::io::Write;
use std::path::Path;

/// IDX bytes: 0, 0, type, ndim, big-endian dims, data.
fn idx_bytes(type_byte: u8, dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, type_byte, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
}

/// 3 images of 2x2 pixels with known bytes.
const PIXELS: [u8; 12] = [0, 255, 51, 102, 1, 2, 3, 4, 254, 128, 0, 17];

fn image_file() -> Vec<u8> {
    idx_bytes(0x08, &[3, 2, 2], &PIXELS)
}

fn check_images(path: &Path) {
    let img = read_idx_images(path).unwrap();
    assert_eq!((img.n, img.rows, img.cols), (3, 2, 2));
    let want: Vec<f32> = PIXELS.iter().map(|&b| b as f32 / 255.0).collect();
    assert_eq!(img.pixels, want);
    assert_eq!(img.pixels[1], 1.0);
    assert_eq!(img.pixels[2], 0.2);
}

#[test]
fn round_trip_raw() {
    let s = Scratch::new("round_trip_raw");
    write(&s.path("img"), &image_file());
    write(&s.path("lab"), &idx_bytes(0x08, &[3], &[7, 0, 9]));
    check_images(&s.path("img"));
    assert_eq!(read_idx_labels(&s.path("lab")).unwrap(), vec![7, 0, 9]);
}

#[test]
fn round_trip_gz() {
    let s = Scratch::new("round_trip_gz");
    write(&s.path("img.gz"), &gz(&image_file()));
    write(&s.path("lab.gz"), &gz(&idx_bytes(0x08, &[3], &[7, 0, 9])));
    check_images(&s.path("img.gz"));
    assert_eq!(read_idx_labels(&s.path("lab.gz")).unwrap(), vec![7, 0, 9]);
}

/// gzip is recognised by its magic bytes, not by the file name.
#[test]
fn gzip_detected_by_magic_not_extension() {
    let s = Scratch::new("gzip_magic");
    write(&s.path("compressed-but-no-suffix"), &gz(&image_file()));
    write(&s.path("raw-but-named.gz"), &image_file());
    check_images(&s.path("compressed-but-no-suffix"));
    check_images(&s.path("raw-but-named.gz"));
}

#[test]
fn zero_images_is_not_an_error() {
    let s = Scratch::new("zero_images");
    write(&s.path("img"), &idx_bytes(0x08, &[0, 28, 28], &[]));
    let img = read_idx_images(&s.path("img")).unwrap();
    assert_eq!(
        (img.n, img.rows, img.cols, img.pixels.len()),
        (0, 28, 28, 0)
    );
}

#[test]
fn missing_file_is_io_error_naming_it() {
    let s = Scratch::new("missing_file");
    let err = read_idx_labels(&s.path("nope")).unwrap_err();
    assert_err!(err, DataError::Io { .. });
    assert_mentions(&err, &["nope"]);
}

#[test]
fn wrong_magic_is_rejected() {
    let s = Scratch::new("wrong_magic");
    let mut bytes = image_file();
    bytes[0] = 0x50; // e.g. a PNG or text file
    bytes[1] = 0x4b;
    write(&s.path("img"), &bytes);
    let err = read_idx_images(&s.path("img")).unwrap_err();
    assert_err!(
        err,
        DataError::BadMagic {
            found: [0x50, 0x4b],
            ..
        }
    );
    assert_mentions(&err, &["not an IDX file", "img"]);
}

#[test]
fn non_byte_type_is_rejected() {
    let s = Scratch::new("wrong_type");
    // 0x0D = float32 in IDX.
    write(&s.path("img"), &idx_bytes(0x0D, &[1, 1, 1], &[0, 0, 0, 0]));
    let err = read_idx_images(&s.path("img")).unwrap_err();
    assert_err!(
        err,
        DataError::UnsupportedType {
            type_byte: 0x0D,
            ..
        }
    );
    assert_mentions(&err, &["only unsigned-byte IDX"]);
}

#[test]
fn wrong_rank_is_rejected() {
    let s = Scratch::new("wrong_rank");
    write(&s.path("img"), &image_file());
    write(&s.path("lab"), &idx_bytes(0x08, &[3], &[1, 2, 3]));
    let err = read_idx_labels(&s.path("img")).unwrap_err();
    assert_err!(
        err,
        DataError::WrongRank {
            expected: 1,
            found: 3,
            ..
        }
    );
    let err = read_idx_images(&s.path("lab")).unwrap_err();
    assert_err!(
        err,
        DataError::WrongRank {
            expected: 3,
            found: 1,
            ..
        }
    );
}

/// Writes `bytes` as `img` and gzip-compressed as `img.gz` into `s`; returns the two names.
fn write_raw_and_gz(s: &Scratch, bytes: &[u8]) -> [&'static str; 2] {
    write(&s.path("img"), bytes);
    write(&s.path("img.gz"), &gz(bytes));
    ["img", "img.gz"]
}

#[test]
fn truncated_data_is_rejected_raw_and_gz() {
    let s = Scratch::new("truncated");
    let mut bytes = image_file();
    bytes.truncate(bytes.len() - 2);
    for name in write_raw_and_gz(&s, &bytes) {
        let err = read_idx_images(&s.path(name)).unwrap_err();
        assert_err!(
            err,
            DataError::Truncated {
                expected: 12,
                found: 10,
                ..
            }
        );
        let truncated = "is truncated: header says 12 bytes of data, found 10";
        assert_mentions(&err, &[name, truncated]);
    }
}

#[test]
fn truncated_header_is_rejected() {
    let s = Scratch::new("truncated_header");
    write(&s.path("empty"), &[]);
    write(&s.path("short"), &image_file()[..9]);
    let err = read_idx_images(&s.path("empty")).unwrap_err();
    assert_err!(err, DataError::TruncatedHeader { found: 0, .. });
    let err = read_idx_images(&s.path("short")).unwrap_err();
    assert_err!(
        err,
        DataError::TruncatedHeader {
            expected: 16,
            found: 9,
            ..
        }
    );
    assert_mentions(&err, &["is truncated"]);
}

/// A gzip stream cut short is reported as a corrupt download, not as an IDX problem.
#[test]
fn cut_gzip_stream_is_rejected() {
    let s = Scratch::new("cut_gzip");
    let big: Vec<u8> = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    let mut compressed = gz(&idx_bytes(0x08, &[5000], &big));
    compressed.truncate(compressed.len() / 2);
    write(&s.path("lab.gz"), &compressed);
    let err = read_idx_labels(&s.path("lab.gz")).unwrap_err();
    assert_err!(err, DataError::Gzip { .. });
    assert_mentions(&err, &["gzip"]);
}

#[test]
fn trailing_bytes_are_rejected_raw_and_gz() {
    let s = Scratch::new("trailing");
    let mut bytes = image_file();
    bytes.extend_from_slice(&[1, 2, 3]);
    for name in write_raw_and_gz(&s, &bytes) {
        let err = read_idx_images(&s.path(name)).unwrap_err();
        assert_err!(
            err,
            DataError::TrailingBytes {
                expected: 12,
                extra: 3,
                ..
            }
        );
        assert_mentions(&err, &["3 trailing bytes"]);
    }
}

/// A corrupt header must be rejected before anything is allocated for it.
#[test]
fn header_over_4_gib_is_rejected() {
    let s = Scratch::new("too_large");
    write(
        &s.path("img"),
        &idx_bytes(0x08, &[70_000, 256, 256], &[0; 16]),
    );
    let err = read_idx_images(&s.path("img")).unwrap_err();
    match err {
        DataError::TooLarge { bytes, limit, .. } => {
            assert_eq!(bytes, 70_000 * 65_536);
            assert_eq!(limit, MAX_IDX_DATA_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
    // Products that overflow u64 too.
    write(
        &s.path("img2"),
        &idx_bytes(0x08, &[u32::MAX, u32::MAX, u32::MAX], &[]),
    );
    assert!(matches!(
        read_idx_images(&s.path("img2")).unwrap_err(),
        DataError::TooLarge { .. }
    ));
}

/// The four files of an MNIST-style directory, in the order the loader reads them.
const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// Writes the four MNIST files into `dir`; `gz_mask[k]` compresses file k.
fn write_mnist_dir(dir: &Path, n_train: u32, n_test: u32, gz_mask: [bool; 4]) {
    let img = |n: u32| idx_bytes(0x08, &[n, 2, 2], &vec![255u8; 4 * n as usize]);
    let lab = |n: u32| {
        idx_bytes(
            0x08,
            &[n],
            &(0..n).map(|i| (i % 4) as u8).collect::<Vec<_>>(),
        )
    };
    let files = [img(n_train), lab(n_train), img(n_test), lab(n_test)];
    for ((name, bytes), compress) in MNIST_FILES.into_iter().zip(files).zip(gz_mask) {
        if compress {
            write(&dir.join(format!("{name}.gz")), &gz(&bytes));
        } else {
            write(&dir.join(name), &bytes);
        }
    }
}

#[test]
fn mnist_dir_loads_mixed_raw_and_gz() {
    let s = Scratch::new("mnist_dir");
    write_mnist_dir(&s.0, 6, 3, [true, false, false, true]);
    let m = load_mnist_dir(&s.0, "toy").unwrap();
    assert_eq!((m.train.n, m.train.d, m.train.classes), (6, 4, 4));
    assert_eq!((m.test.n, m.test.d, m.test.classes), (3, 4, 4));
    assert_eq!(m.train.image_shape, Some((2, 2)));
    assert_eq!(m.train.name, "toy-train");
    assert_eq!(m.test.name, "toy-test");
    assert_eq!(m.train.y, vec![0, 1, 2, 3, 0, 1]);
    assert!(m.train.x.iter().all(|&v| v == 1.0));
}

#[test]
fn mnist_dir_count_mismatch_names_both_files() {
    let s = Scratch::new("count_mismatch");
    write_mnist_dir(&s.0, 6, 3, [false; 4]);
    // Replace the test labels with 4 labels for 3 images.
    write(
        &s.path("t10k-labels-idx1-ubyte"),
        &idx_bytes(0x08, &[4], &[0, 1, 2, 3]),
    );
    let err = load_mnist_dir(&s.0, "toy").unwrap_err();
    assert_err!(
        err,
        DataError::CountMismatch {
            n_images: 3,
            n_labels: 4,
            ..
        }
    );
    assert_mentions(&err, &MNIST_FILES[2..]);
    assert_mentions(&err, &["3 images", "4 labels"]);
}

#[test]
fn mnist_dir_lists_every_missing_file() {
    let s = Scratch::new("missing_files");
    write(&s.path("train-images-idx3-ubyte.gz"), &gz(&image_file()));
    let err = load_mnist_dir(&s.0, "toy").unwrap_err();
    match &err {
        DataError::MissingFiles {
            missing,
            dir_exists,
            ..
        } => {
            assert!(*dir_exists);
            assert_eq!(missing, &MNIST_FILES[1..]);
        }
        other => panic!("expected MissingFiles, got {other:?}"),
    }
    assert_mentions(&err, &["datasets/README.md"]);
    let msg = err.to_string();
    assert!(!msg.contains("train-images"), "{msg}");

    let gone = s.path("no-such-dir");
    let err = load_mnist_dir(&gone, "toy").unwrap_err();
    assert_mentions(&err, &["does not exist"]);
    assert_mentions(&err, &MNIST_FILES);
}

#[test]
fn mnist_dir_shape_mismatch_is_rejected() {
    let s = Scratch::new("shape_mismatch");
    write_mnist_dir(&s.0, 2, 2, [false; 4]);
    write(
        &s.path("t10k-images-idx3-ubyte"),
        &idx_bytes(0x08, &[2, 1, 4], &[0; 8]),
    );
    let err = load_mnist_dir(&s.0, "toy").unwrap_err();
    assert_err!(err, DataError::ShapeMismatch { .. });
    assert_mentions(&err, &["2x2", "1x4"]);
}
