//! CIFAR-10's binary batches, on small files of that format written here: values, order, the
//! nested `cifar-10-batches-bin/` directory, and every error (missing files, a partial record, a
//! label above 9) naming the file.

mod common;
use common::scratch::Scratch;
use common::{assert_err, assert_mentions};
use std::path::Path;

use probe_train::data::{load_cifar10_dir, DataError, CIFAR10_FILES, CIFAR10_RECORD};

/// Record `r` of file `f`: label (f + r) mod 10, pixel p = (31 f + 7 r + p) mod 256.
fn record(f: usize, r: usize) -> Vec<u8> {
    let mut rec = vec![((f + r) % 10) as u8];
    rec.extend((0..CIFAR10_RECORD - 1).map(|p| ((31 * f + 7 * r + p) % 256) as u8));
    rec
}

/// Writes the six files into `dir`: file f holds `counts[f]` records.
fn write_batches(dir: &Path, counts: [usize; 6]) {
    std::fs::create_dir_all(dir).unwrap();
    for (f, name) in CIFAR10_FILES.iter().enumerate() {
        let bytes: Vec<u8> = (0..counts[f]).flat_map(|r| record(f, r)).collect();
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn batches_load_in_order_channel_major() {
    let t = Scratch::new("load");
    write_batches(&t.0, [2, 3, 1, 2, 2, 3]);
    let s = load_cifar10_dir(&t.0, "cifar10").unwrap();
    assert_eq!((s.train.n, s.test.n), (10, 3));
    assert_eq!(
        (s.train.d, s.train.image_shape, s.train.channels()),
        (3072, Some((32, 32)), 3)
    );
    assert_eq!((s.train.classes, s.test.classes), (10, 10));
    assert_eq!(
        (s.train.name.as_str(), s.test.name.as_str()),
        ("cifar10-train", "cifar10-test")
    );
    // Training rows: batch 1's records, then batch 2's, ….
    let order: Vec<(usize, usize)> = [2, 3, 1, 2, 2]
        .iter()
        .enumerate()
        .flat_map(|(f, &n)| (0..n).map(move |r| (f, r)))
        .collect();
    for (row, &(f, r)) in order.iter().enumerate() {
        let rec = record(f, r);
        assert_eq!(s.train.y[row], u32::from(rec[0]));
        // The record's bytes are R, G, B planes: the row is exactly them / 255.
        let want: Vec<f32> = rec[1..].iter().map(|&b| f32::from(b) / 255.0).collect();
        assert_eq!(s.train.row(row), want.as_slice(), "row {row}");
    }
    for r in 0..3 {
        assert_eq!(s.test.y[r], u32::from(record(5, r)[0]));
        assert_eq!(s.test.row(r)[1024], f32::from(record(5, r)[1025]) / 255.0); // first green
    }
}

#[test]
fn archive_subdirectory_is_found() {
    let t = Scratch::new("nested");
    write_batches(&t.0.join("cifar-10-batches-bin"), [1, 1, 1, 1, 1, 1]);
    let s = load_cifar10_dir(&t.0, "cifar10").unwrap();
    assert_eq!((s.train.n, s.test.n), (5, 1));
}

#[test]
fn missing_files_are_listed_in_one_error() {
    let t = Scratch::new("missing");
    write_batches(&t.0, [1, 1, 1, 1, 1, 1]);
    std::fs::remove_file(t.0.join("data_batch_3.bin")).unwrap();
    std::fs::remove_file(t.0.join("test_batch.bin")).unwrap();
    let err = load_cifar10_dir(&t.0, "cifar10").unwrap_err();
    assert_err!(err, DataError::MissingDataFiles { .. });
    let lacks = "lacks data_batch_3.bin, test_batch.bin";
    assert_mentions(
        &err,
        &[lacks, "cifar-10-binary.tar.gz", "datasets/README.md"],
    );

    let gone = t.0.join("no-such-dir");
    let err = load_cifar10_dir(&gone, "cifar10").unwrap_err();
    assert_mentions(
        &err,
        &["no-such-dir (which does not exist) lacks data_batch_1.bin"],
    );
}

#[test]
fn partial_record_and_bad_label_name_the_file() {
    let t = Scratch::new("bad");
    write_batches(&t.0, [1, 1, 1, 1, 1, 1]);
    let p = t.0.join("data_batch_2.bin");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes.pop();
    std::fs::write(&p, &bytes).unwrap();
    let err = load_cifar10_dir(&t.0, "cifar10").unwrap_err();
    assert_err!(err, DataError::CifarRecordSize { len: 3072, .. });
    assert_mentions(&err, &["data_batch_2.bin is 3072 bytes"]);

    write_batches(&t.0, [1, 1, 1, 1, 1, 2]);
    let p = t.0.join("test_batch.bin");
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[CIFAR10_RECORD] = 10; // record 1's label
    std::fs::write(&p, &bytes).unwrap();
    let err = load_cifar10_dir(&t.0, "cifar10").unwrap_err();
    assert_err!(
        err,
        DataError::CifarLabel {
            record: 1,
            value: 10,
            ..
        }
    );
    assert_mentions(&err, &["test_batch.bin record 1 has label 10"]);

    write_batches(&t.0, [0, 0, 0, 0, 0, 1]);
    let err = load_cifar10_dir(&t.0, "cifar10").unwrap_err();
    assert_mentions(&err, &["no training samples"]);
}
