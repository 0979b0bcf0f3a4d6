//! Per-channel normalisation: on the committed Fashion-MNIST subset (one channel) the training set
//! ends with mean 0 and std 1 and the statistics agree with a plain two-pass computation; on
//! three-channel data each channel is standardised with its own statistics; constant channels
//! are only centred; the test set uses the training statistics.

use probe_train::data::{
    channel_stats, load_mnist_dir, normalize_channels, source_datasets_dir, Dataset,
};

fn mean_std(v: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = v.clone().count() as f64;
    let m = v.clone().sum::<f64>() / n;
    let s = (v.map(|x| (x - m) * (x - m)).sum::<f64>() / n).sqrt();
    (m, s)
}

#[test]
fn fashion_subset_standardised_with_training_statistics() {
    let dir = source_datasets_dir().join("fashion-mnist-subset");
    let s = load_mnist_dir(&dir, "fashion-mnist-subset").unwrap();
    let (mut train, mut test) = (s.train, s.test);
    let stats = channel_stats(&train);
    assert_eq!(stats.mean.len(), 1);
    let (m, sd) = mean_std(train.x.iter().map(|&v| f64::from(v)));
    // Same data, same two-pass formula: equal to rounding of the f64 sums.
    assert!((stats.mean[0] - m).abs() < 1e-12 && (stats.std[0] - sd).abs() < 1e-12);
    // Fashion-MNIST's well-known training statistics are mean 0.2860, std 0.3530; the first 2000
    // images are close to them.
    assert!((stats.mean[0] - 0.286).abs() < 0.01, "{stats:?}");
    assert!((stats.std[0] - 0.353).abs() < 0.01, "{stats:?}");
    let test_before = test.x.clone();
    normalize_channels(&mut train, &stats);
    normalize_channels(&mut test, &stats);
    let (m, sd) = mean_std(train.x.iter().map(|&v| f64::from(v)));
    assert!(m.abs() < 1e-5 && (sd - 1.0).abs() < 1e-5, "{m} {sd}");
    // The test set is transformed with the training statistics, not its own.
    for (a, b) in test.x.iter().zip(&test_before) {
        let want = ((f64::from(*b) - stats.mean[0]) / stats.std[0]) as f32;
        assert_eq!(*a, want);
    }
}

#[test]
fn three_channels_each_with_its_own_statistics() {
    // 2 samples of 3 channels of 2x1 pixels: channel c holds values around 10^c; channel 2 is
    // constant.
    let x = vec![
        1.0, 3.0, 10.0, 30.0, 5.0, 5.0, //
        2.0, 2.0, 20.0, 20.0, 5.0, 5.0,
    ];
    let mut ds = Dataset {
        name: "rgb".into(),
        x,
        y: vec![0, 1],
        n: 2,
        d: 6,
        classes: 2,
        image_shape: Some((2, 1)),
    };
    assert_eq!(ds.channels(), 3);
    let stats = channel_stats(&ds);
    assert_eq!(stats.mean, vec![2.0, 20.0, 5.0]);
    let sd0 = (0.5f64).sqrt();
    assert!((stats.std[0] - sd0).abs() < 1e-15 && (stats.std[1] - 10.0 * sd0).abs() < 1e-12);
    assert_eq!(stats.std[2], 0.0);
    normalize_channels(&mut ds, &stats);
    let r = (1.0 / sd0) as f32;
    assert_eq!(
        ds.x,
        vec![-r, r, -r, r, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    );
}
