//! Whole runs in process: a short 12-bit run produces every file with values inside their
//! ground-truth bounds (and returns the same tables in memory), runs are reproducible, an
//! existing run directory needs `overwrite`, and the Fashion-MNIST subset trains through the IDX
//! reader.

mod common;
use common::{
    assert_mentions, assert_same_files, assert_tables_match_files, config_file, file_opts,
    read_csv, tmp_dir, toml_opts, train, train_err, INFOPLANE_HEADER,
};

/// H(Y) of the 12-bit labels (2118 of 4096 positive), in bits.
const H_Y: f64 = 0.99916;

#[test]
fn short_tishby_run_writes_every_file_with_sane_values() {
    let tmp = tmp_dir("tishby");
    let out = tmp.join("run");
    let mut opts = file_opts(&config_file("tishby_tanh.toml"), &out);
    opts.epochs = Some(30);
    let outcome = train(&opts);
    assert_eq!(outcome.out, out);
    assert_eq!(outcome.epoch, 30);
    assert_eq!(outcome.stopped_after, None);
    assert_tables_match_files(&outcome);
    let files =
        "config.toml metrics.csv infoplane.csv model.safetensors infoplane.png infoplane.svg";
    for f in files.split(' ') {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    let png = std::fs::read(out.join("infoplane.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    let (h, rows) = read_csv(&out.join("metrics.csv"));
    assert_eq!(
        h,
        ["epoch", "train_loss", "train_acc", "test_loss", "test_acc"]
    );
    assert_eq!(rows.len(), 30);
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], (i + 1).to_string());
        let v: Vec<f64> = r[1..].iter().map(|x| x.parse().unwrap()).collect();
        assert!(
            v[0] > 0.0 && v[0] < 2.0 && v[2] > 0.0 && v[2] < 2.0,
            "losses {r:?}"
        );
        assert!(
            (0.0..=1.0).contains(&v[1]) && (0.0..=1.0).contains(&v[3]),
            "accuracies {r:?}"
        );
    }

    let (h, rows) = read_csv(&out.join("infoplane.csv"));
    // The KDE columns are always present (empty for binned rows): one schema for every run and
    // for `probe analyze`'s analysis.csv.
    assert_eq!(h.join(","), INFOPLANE_HEADER);
    // 30 log-spaced points of 30 epochs = every epoch; 6 layers (5 hidden + softmax output).
    assert_eq!(rows.len(), 30 * 6);
    let mut layers: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
    layers.sort();
    layers.dedup();
    assert_eq!(
        layers,
        (0..6)
            .map(|i| format!("layers.{i}.hook_post"))
            .collect::<Vec<_>>()
    );
    for r in &rows {
        let (i_xt, i_ty): (f64, f64) = (r[3].parse().unwrap(), r[4].parse().unwrap());
        assert!((0.0..=12.0).contains(&i_xt), "I(X;T) {r:?}");
        assert!((0.0..=H_Y + 1e-9).contains(&i_ty), "I(T;Y) {r:?}");
        assert!(
            i_ty <= i_xt + 1e-9,
            "data processing: I(T;Y) ≤ I(X;T) {r:?}"
        );
        assert_eq!(r[2], "binned");
        assert_eq!(
            r[5..],
            ["", "", ""],
            "binned rows have no bounds or σ² {r:?}"
        );
    }
    // 10 tanh units with 29 bins each separate almost all 4096 patterns.
    let first: Vec<f64> = rows
        .iter()
        .filter(|r| r[1] == "layers.0.hook_post")
        .map(|r| r[3].parse().unwrap())
        .collect();
    assert!(
        first.iter().all(|&x| x > 11.5),
        "first layer I(X;T) {first:?}"
    );

    let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        cfg.contains("epochs = 30") && cfg.contains("device = \"cpu\""),
        "{cfg}"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn same_config_and_seed_are_bit_identical_on_cpu() {
    let tmp = tmp_dir("det");
    let (a, b, c) = (tmp.join("a"), tmp.join("b"), tmp.join("c"));
    let cfg = config_file("tishby_relu.toml");
    for d in [&a, &b] {
        let mut opts = file_opts(&cfg, d);
        opts.epochs = Some(12);
        opts.device = Some("cpu".parse().unwrap());
        train(&opts);
    }
    assert_same_files(
        &a,
        &b,
        &["metrics.csv", "infoplane.csv", "model.safetensors"],
    );
    // A different seed must give different weights (the test above could otherwise pass trivially).
    let mut opts = file_opts(&cfg, &c);
    opts.epochs = Some(12);
    opts.seed = Some(1);
    train(&opts);
    assert_ne!(
        std::fs::read(a.join("model.safetensors")).unwrap(),
        std::fs::read(c.join("model.safetensors")).unwrap()
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn an_existing_run_directory_needs_overwrite() {
    let tmp = tmp_dir("exists");
    let out = tmp.join("run");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let mut opts = file_opts(&config_file("tishby_tanh.toml"), &out);
    opts.epochs = Some(2);
    let err = train_err(&opts);
    assert_mentions(&err.chain(), &["--overwrite"]);
    assert!(err.is_invalid_input(), "{}", err.chain());
    opts.overwrite = true;
    train(&opts);
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(out.join("infoplane.csv").is_file());
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn fashion_subset_trains_through_the_idx_reader() {
    let tmp = tmp_dir("fashion");
    let out = tmp.join("run");
    let outcome = train(&toml_opts(
        r#"
name = "fashion_small"
[data]
dataset = "fashion-mnist-subset"
[model]
widths = [784, 32, 16, 10]
activation = "relu"
[train]
optimizer = "adam"
lr = 0.001
batch_size = 100
epochs = 3
[measure]
schedule = "every"
on = "test"
estimators = [{ kind = "floor", width = 0.5 }]
"#,
        &out,
    ));
    assert_tables_match_files(&outcome);
    let (_, rows) = read_csv(&out.join("metrics.csv"));
    let acc: f64 = rows[2][4].parse().unwrap();
    // 3 epochs on 2000 images already beat chance (10%) by far.
    assert!(acc > 0.5, "test accuracy {acc}");
    let (_, rows) = read_csv(&out.join("infoplane.csv"));
    // 500 test images: I(X;T) ≤ log2 500; I(T;Y) ≤ H(Y) ≤ log2 10.
    for r in &rows {
        let (i_xt, i_ty): (f64, f64) = (r[3].parse().unwrap(), r[4].parse().unwrap());
        assert!(
            i_xt <= 500f64.log2() + 1e-9 && i_ty <= 10f64.log2() + 1e-9,
            "{r:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&tmp);
}
