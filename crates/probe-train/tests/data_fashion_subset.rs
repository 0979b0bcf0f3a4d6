//! The committed Fashion-MNIST subset (datasets/fashion-mnist-subset, made by
//! scripts/make_fashion_subset.py) loads and has the expected shape and content.

use probe_train::data::{load_mnist_dir, source_datasets_dir, FASHION_MNIST_DEBIAN_DIR};
use std::path::Path;

mod common;

#[test]
fn committed_subset_loads() {
    let dir = source_datasets_dir().join("fashion-mnist-subset");
    let m = load_mnist_dir(&dir, "fashion-mnist-subset").unwrap();
    for (ds, n) in [(&m.train, 2000), (&m.test, 500)] {
        assert_eq!(ds.n, n);
        assert_eq!(ds.d, 784);
        assert_eq!(ds.x.len(), n * 784);
        assert_eq!(ds.y.len(), n);
        assert_eq!(ds.classes, 10);
        assert_eq!(ds.image_shape, Some((28, 28)));
        assert!(ds.x.iter().all(|&v| (0.0..=1.0).contains(&v)));
        assert!(ds.y.iter().all(|&y| y < 10));
        // Every class occurs (the subset is the first rows, which are well mixed).
        assert!(
            ds.class_counts().iter().all(|&c| c > 0),
            "{:?}",
            ds.class_counts()
        );
    }
    // Known first items of Fashion-MNIST: train starts with label 9 (ankle boot), 0, 0, 3;
    // test starts with 9, 2, 1, 1.
    assert_eq!(m.train.y[..4], [9, 0, 0, 3]);
    assert_eq!(m.test.y[..4], [9, 2, 1, 1]);
    // Both extremes of the pixel range occur.
    assert!(m.train.x.contains(&1.0) && m.train.x.contains(&0.0));
    // Checksum of the first image's raw bytes (sum 76247 of 784 bytes), computed independently
    // with Python's gzip module.
    let sum: f64 = m
        .train
        .row(0)
        .iter()
        .map(|&v| (v as f64 * 255.0).round())
        .sum();
    assert_eq!(sum, 76247.0);
}

/// When the full Fashion-MNIST is installed (Debian package dataset-fashion-mnist), the subset
/// must be exactly its first rows. When it is not installed the test is skipped, saying so
/// (`common::skip`: stderr and CI's list of skipped tests).
#[test]
fn committed_subset_is_prefix_of_full_fashion_mnist() {
    let full_dir = Path::new(FASHION_MNIST_DEBIAN_DIR);
    if !full_dir.is_dir() {
        common::skip(
            "committed_subset_is_prefix_of_full_fashion_mnist",
            &format!(
                "{FASHION_MNIST_DEBIAN_DIR} is not installed (bash scripts/get_fashion_mnist.sh)"
            ),
        );
        return;
    }
    let full = load_mnist_dir(full_dir, "fashion-mnist").unwrap();
    let sub = load_mnist_dir(
        &source_datasets_dir().join("fashion-mnist-subset"),
        "fashion-mnist-subset",
    )
    .unwrap();
    assert_eq!((full.train.n, full.test.n), (60_000, 10_000));
    assert_eq!(sub.train.x[..], full.train.x[..2000 * 784]);
    assert_eq!(sub.train.y[..], full.train.y[..2000]);
    assert_eq!(sub.test.x[..], full.test.x[..500 * 784]);
    assert_eq!(sub.test.y[..], full.test.y[..500]);
}
