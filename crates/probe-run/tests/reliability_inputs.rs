//! Bad values, run names and data sets (issue 17), in process: each is refused before any work
//! with an error that counts as bad user input and names the key, flag or file (and for data the
//! index and value), and no run directory is created. Absurd sizes are config errors, not an
//! allocation that aborts: `epochs = 10^12` with `schedule = "every"` once asked for 8 TB.

use std::path::Path;

use probe_run::TrainOptions;

mod common;
use common::{file_opts, tmp_dir, train_err, variant};

/// Trains `text` with `tweak` applied to its options; asserts the run failed with bad user input
/// whose message holds every one of `words`, without creating its run directory.
fn refused(tag: &str, text: &str, tweak: impl FnOnce(&mut TrainOptions), words: &[&str]) {
    let dir = tmp_dir(&format!("rel-in-{tag}"));
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, text).unwrap();
    let out = dir.join("run");
    let mut opts = file_opts(&cfg, &out);
    tweak(&mut opts);
    let err = train_err(&opts);
    let msg = err.chain();
    assert!(err.is_invalid_input(), "{tag}: not bad input: {msg}");
    for w in words {
        assert!(msg.contains(w), "{tag}: missing {w:?} in: {msg}");
    }
    assert!(!out.exists(), "{tag}: a refused run creates no directory");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn absurd_sizes_are_config_errors_before_any_work() {
    let t = std::time::Instant::now();
    // Ten million epochs are allowed, but not measuring each of them.
    let every = variant("epochs = 8000", "epochs = 10000000")
        .replace("schedule = \"log\"", "schedule = \"every\"")
        .replace("points = 274\n", "");
    // `stop_after`: were the value accepted, the run would stop after one epoch (and fail).
    for (tag, text, words) in [
        (
            "epochs",
            variant("epochs = 8000", "epochs = 1000000000000"),
            &["`train.epochs`", "1000000000000", "at most 10000000"][..],
        ),
        (
            "every",
            every,
            &["`measure.schedule`", "10000000", "every_k"],
        ),
    ] {
        refused(tag, &text, |o| o.stop_after = Some(1), words);
    }
    for (tag, from, to, words) in [
        (
            "points",
            "points = 274",
            "points = 100000000",
            &["`measure.points`", "at most 100000"][..],
        ),
        (
            "width",
            "widths = [12, 10, 7, 5, 4, 3, 2]",
            "widths = [12, 100000000, 2]",
            &["`model.widths[1]`", "100000000"],
        ),
        (
            "edges",
            "edges = 30",
            "edges = 4000000000",
            &["`measure.estimators[0].edges`"],
        ),
    ] {
        refused(tag, &variant(from, to), |_| {}, words);
    }
    // The checks are arithmetic, not work proportional to the values.
    assert!(t.elapsed().as_secs() < 30, "{:?}", t.elapsed());
}

#[test]
fn flags_are_checked_and_named() {
    let base = variant("", "");
    refused(
        "e0",
        &base,
        |o| o.epochs = Some(0),
        &["--epochs", "at least 1"],
    );
    refused(
        "s0",
        &base,
        |o| o.stop_after = Some(0),
        &["--stop-after", "at least 1"],
    );
    refused(
        "s-beyond",
        &base,
        |o| {
            o.epochs = Some(3);
            o.stop_after = Some(5);
        },
        &["--stop-after", "5", "3 epochs", "--epochs N"],
    );
    for (tag, lr) in [("lr-neg", -1.0), ("lr-nan", f64::NAN), ("lr-zero", 0.0)] {
        refused(tag, &base, |o| o.lr = Some(lr), &["--lr", "positive"]);
    }
}

#[test]
fn run_names_are_one_path_component() {
    for (tag, name) in [
        ("abs", "/abs/x"),
        ("up", "../../escape"),
        ("slash", "a/b"),
        ("dotdot", ".."),
        ("empty", ""),
        ("backslash", "a\\\\b"),
        ("newline", "a\\nb"),
    ] {
        let text = variant("name = \"tishby_tanh\"", &format!("name = \"{name}\""));
        // One epoch: were the name accepted, the run would end at once (and fail this test).
        refused(tag, &text, |o| o.epochs = Some(1), &["`name`", "--out DIR"]);
    }
}

/// An MNIST-format directory: `train` and `test` are (label, pixel) pairs of 2×2 images.
fn idx_dir(dir: &Path, train: &[(u8, u8)], test: &[(u8, u8)]) {
    std::fs::create_dir_all(dir).unwrap();
    let write = |stem: &str, items: &[(u8, u8)]| {
        let n = (items.len() as u32).to_be_bytes();
        let mut img = vec![0, 0, 8, 3];
        img.extend(n);
        img.extend(2u32.to_be_bytes());
        img.extend(2u32.to_be_bytes());
        let mut lab = vec![0, 0, 8, 1];
        lab.extend(n);
        for &(label, pixel) in items {
            img.extend([pixel; 4]);
            lab.push(label);
        }
        std::fs::write(dir.join(format!("{stem}-images-idx3-ubyte")), img).unwrap();
        std::fs::write(dir.join(format!("{stem}-labels-idx1-ubyte")), lab).unwrap();
    };
    write("train", train);
    write("t10k", test);
}

/// A one-epoch run of the IDX set `dataset` in `path` through a 4-3-`classes` MLP.
fn idx_config(dataset: &str, path: &Path, classes: usize) -> String {
    format!(
        r#"name = "idx"
device = "cpu"
[data]
dataset = "{dataset}"
path = "{}"
[model]
widths = [4, 3, {classes}]
activation = "tanh"
[train]
optimizer = "adam"
lr = 0.01
batch_size = 2
epochs = 1
[measure]
schedule = "every"
estimators = [{{ kind = "binned" }}]
"#,
        path.display()
    )
}

#[test]
fn bad_data_sets_name_the_file_the_index_and_the_value() {
    let tmp = tmp_dir("rel-in-data");
    let ten: Vec<(u8, u8)> = (0..10).map(|i| (i, i * 20)).collect();

    // No training images: once "trained" and wrote train_loss 0.
    let empty = tmp.join("empty");
    idx_dir(&empty, &[], &ten);
    let train_images = empty.join("train-images-idx3-ubyte");
    refused(
        "empty",
        &idx_config("idx", &empty, 10),
        |_| {},
        &[train_images.to_str().unwrap(), "0 images"],
    );

    // A label of 200 in the test file of a 10-class set: once blamed on `model.widths` and on
    // the training file; accepted when the widths ended in 201.
    let label = tmp.join("label");
    let mut test = ten.clone();
    test[3] = (200, 0);
    idx_dir(&label, &ten, &test);
    let t10k = label.join("t10k-labels-idx1-ubyte");
    for classes in [10, 201] {
        refused(
            &format!("label{classes}"),
            &idx_config("fashion-mnist", &label, classes),
            |_| {},
            &[t10k.to_str().unwrap(), "label 200 at index 3", "0..10"],
        );
    }
    // For a generic IDX set the training labels define the classes; a test label beyond them
    // is named in its file.
    refused(
        "label-idx",
        &idx_config("idx", &label, 201),
        |_| {},
        &[t10k.to_str().unwrap(), "label 200 at index 3", "0..10"],
    );

    // `path` naming a file: once "does not exist".
    refused(
        "file",
        &idx_config("idx", &train_images, 10),
        |_| {},
        &[train_images.to_str().unwrap(), "is a file", "directory"],
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
