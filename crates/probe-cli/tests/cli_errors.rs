//! Every bad config exits non-zero with a message naming the key (or file) and what is expected.

use std::process::Command;

mod common;
use common::root;

/// The tishby_tanh config with `from` replaced by `to` (which must occur).
fn variant(from: &str, to: &str) -> String {
    let base = std::fs::read_to_string(root().join("configs/tishby_tanh.toml")).unwrap();
    assert!(base.contains(from), "config has no {from:?}");
    base.replacen(from, to, 1)
}

/// Runs `probe train` on `config_text` and returns its stderr, asserting it failed.
fn fails(name: &str, config_text: &str, extra: &[&str]) -> String {
    let dir = std::env::temp_dir().join(format!("probe-cli-err-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, config_text).unwrap();
    let out = dir.join("run");
    let o = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args([
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ])
        .args(extra)
        .current_dir(root())
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!o.status.success(), "{name}: expected failure");
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!err.contains("panicked"), "{name} panicked: {err}");
    err
}

fn assert_mentions(err: &str, parts: &[&str]) {
    for p in parts {
        assert!(err.contains(p), "error should mention {p:?}:\n{err}");
    }
}

#[test]
fn unknown_key() {
    let err = fails(
        "unknown",
        &variant("lr = 0.0004", "lr = 0.0004\nlearning_rate = 1"),
        &[],
    );
    assert_mentions(&err, &["learning_rate", "unknown field"]);
}

#[test]
fn wrong_type() {
    let err = fails(
        "type",
        &variant("batch_size = 512", "batch_size = \"big\""),
        &[],
    );
    assert_mentions(&err, &["batch_size", "invalid type"]);
}

#[test]
fn zero_bins() {
    let err = fails("bins", &variant("edges = 30", "edges = 0"), &[]);
    assert_mentions(&err, &["measure.estimators[0]", "edges"]);
}

#[test]
fn negative_learning_rate() {
    let err = fails("lr", &variant("lr = 0.0004", "lr = -0.1"), &[]);
    assert_mentions(&err, &["train.lr", "positive"]);
}

#[test]
fn widths_that_do_not_match_the_data() {
    let err = fails("width-in", &variant("widths = [12,", "widths = [13,"), &[]);
    assert_mentions(&err, &["model.widths[0]", "12 features"]);
    let err = fails("width-out", &variant("3, 2]", "3, 5]"), &[]);
    assert_mentions(&err, &["model.widths[6]", "2 classes"]);
}

#[test]
fn a_filter_that_matches_nothing() {
    let err = fails(
        "filter",
        &variant("hooks = [\"layers.*.hook_post\"]", "hooks = [\"blocks.*\"]"),
        &[],
    );
    assert_mentions(&err, &["measure.hooks", "blocks.*", "layers.0.hook_pre"]);
}

#[test]
fn bad_enum_values() {
    let err = fails(
        "act",
        &variant("activation = \"tanh\"", "activation = \"swish\""),
        &[],
    );
    assert_mentions(&err, &["swish", "tanh", "relu"]);
    let err = fails(
        "sched",
        &variant("schedule = \"log\"", "schedule = \"sometimes\""),
        &[],
    );
    assert_mentions(&err, &["measure.schedule", "every_k"]);
    let err = fails(
        "opt",
        &variant("optimizer = \"adam\"", "optimizer = \"lbfgs\""),
        &[],
    );
    assert_mentions(&err, &["train.optimizer", "sgd"]);
}

#[test]
fn syntax_error_and_missing_file() {
    let err = fails("syntax", "name = \n", &[]);
    assert_mentions(&err, &["c.toml", "line 1"]);
    let o = Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(["train", "--config", "no/such/config.toml"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_mentions(
        &String::from_utf8_lossy(&o.stderr),
        &["no/such/config.toml"],
    );
}

#[test]
fn missing_mnist_files_are_listed() {
    let text = std::fs::read_to_string(root().join("configs/mlp_mnist.toml")).unwrap();
    let text = text.replace("path = \"datasets/mnist\"", "path = \"/nonexistent/mnist\"");
    let err = fails("mnist", &text, &[]);
    assert_mentions(
        &err,
        &[
            "train-images-idx3-ubyte",
            "t10k-labels-idx1-ubyte",
            "datasets/README.md",
        ],
    );
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_the_feature_is_a_clear_error() {
    let err = fails(
        "cuda",
        &variant("name = \"tishby_tanh\"", "name = \"cuda_check\""),
        &["--device", "cuda", "--epochs", "2"],
    );
    assert_mentions(&err, &["without CUDA support", "--features cuda"]);
}

#[test]
fn estimator_tables_of_every_kind_are_validated() {
    let table = "kind = \"binned\"\nlo = -1.0\nhi = 1.0\nedges = 30";
    let err = fails("kind", &variant(table, "kind = \"mine\""), &[]);
    assert_mentions(
        &err,
        &[
            "measure.estimators[0].kind",
            "\"mine\"",
            "\"kde\"",
            "\"knn\"",
        ],
    );
    let err = fails(
        "kde-sigma",
        &variant(table, "kind = \"kde\"\nname = \"k\""),
        &[],
    );
    assert_mentions(&err, &["measure.estimators[0].sigma2", "required"]);
    let err = fails(
        "kde-neg",
        &variant(table, "kind = \"kde\"\nsigma2 = -1.0"),
        &[],
    );
    assert_mentions(&err, &["measure.estimators[0].sigma2", "-1"]);
    let err = fails("knn-k", &variant(table, "kind = \"knn\"\nk = 0"), &[]);
    assert_mentions(&err, &["measure.estimators[0].k", "at least 1"]);
    // `lo`, `hi` and `edges` of the binned table do not apply to kde.
    let err = fails(
        "kde-lo",
        &variant("kind = \"binned\"", "kind = \"kde\"\nsigma2 = 0.1"),
        &[],
    );
    assert_mentions(
        &err,
        &["measure.estimators[0].lo", "does not apply", "sigma2"],
    );
}

#[test]
fn dump_epochs_must_be_measured() {
    let err = fails(
        "dump-epoch",
        &variant("points = 274", "points = 274\ndump_activations = [1, 7999]"),
        &[],
    );
    assert_mentions(&err, &["measure.dump_activations", "7999", "not measured"]);
    let err = fails(
        "dump-word",
        &variant(
            "points = 274",
            "points = 274\ndump_activations = \"sometimes\"",
        ),
        &[],
    );
    assert_mentions(&err, &["measure.dump_activations", "\"measured\""]);
    let err = fails(
        "dump-type",
        &variant("points = 274", "points = 274\ndump_activations = 3"),
        &[],
    );
    assert_mentions(&err, &["dump_activations"]);
}

#[test]
fn fused_trainer_asked_for_where_it_cannot_run() {
    let gelu = variant("activation = \"tanh\"", "activation = \"gelu\"").replacen(
        "epochs = 8000",
        "epochs = 8000\nfused = true",
        1,
    );
    let err = fails("fused-gelu", &gelu, &[]);
    assert_mentions(&err, &["train.fused", "Gelu", "set it to false"]);
    let fused = variant("epochs = 8000", "epochs = 8000\nfused = true");
    let err = fails(
        "fused-vib",
        &format!("{fused}\n[vib]\nk = 4\nbeta = 0.001\n"),
        &[],
    );
    assert_mentions(&err, &["train.fused", "MLPs only"]);
}
