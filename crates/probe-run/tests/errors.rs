//! Every bad config fails with an error whose chain names the key (or file) and what is
//! expected, and counts as bad user input. (The binary's exit code and `error: ` line are
//! checked end to end in probe-cli's tests.)

use std::path::Path;

use probe_run::{Error, TrainOptions};

mod common;
use common::{assert_mentions, config_file, file_opts, tmp_dir, train_err, variant};

/// Trains `config_text` (written to `c.toml` in a scratch directory), with `tweak` applied to
/// the options; returns the error, asserting the run failed.
fn run_fails(name: &str, config_text: &str, tweak: impl FnOnce(&mut TrainOptions)) -> Error {
    let dir = tmp_dir(&format!("err-{name}"));
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, config_text).unwrap();
    let mut opts = file_opts(&cfg, &dir.join("run"));
    tweak(&mut opts);
    let err = train_err(&opts);
    let _ = std::fs::remove_dir_all(&dir);
    err
}

/// [`run_fails`], also asserting that the error counts as bad user input; returns the whole
/// error chain.
fn fails_with(name: &str, config_text: &str, tweak: impl FnOnce(&mut TrainOptions)) -> String {
    let err = run_fails(name, config_text, tweak);
    let chain = err.chain();
    assert!(
        err.is_invalid_input(),
        "{name}: expected bad user input: {chain}"
    );
    chain
}

fn fails(name: &str, config_text: &str) -> String {
    fails_with(name, config_text, |_| {})
}

/// One bad variant of tishby_tanh: `(name, from, to, words)`, `from` replaced by `to`, fails
/// with a chain that mentions every one of `words`.
type BadVariant<'a> = (&'a str, &'a str, &'a str, &'a [&'a str]);

/// Asserts of every case that it [`fails`] as bad user input mentioning its words.
fn variants_fail(cases: &[BadVariant]) {
    for &(name, from, to, words) in cases {
        assert_mentions(&fails(name, &variant(from, to)), words);
    }
}

#[test]
fn bad_keys_types_and_values() {
    variants_fail(&[
        (
            "unknown",
            "lr = 0.0004",
            "lr = 0.0004\nlearning_rate = 1",
            &["learning_rate", "unknown field"],
        ),
        (
            "type",
            "batch_size = 512",
            "batch_size = \"big\"",
            &["batch_size", "invalid type"],
        ),
        ("lr", "lr = 0.0004", "lr = -0.1", &["train.lr", "positive"]),
    ]);
}

#[test]
fn zero_bins() {
    // Not checked with `is_invalid_input`: the binning's own check (probe-estimators) catches
    // it, and `is_invalid_input` does not count the estimators' errors as bad input.
    let err = run_fails("bins", &variant("edges = 30", "edges = 0"), |_| {}).chain();
    assert_mentions(&err, &["measure.estimators[0]", "edges"]);
}

#[test]
fn widths_that_do_not_match_the_data() {
    variants_fail(&[
        (
            "width-in",
            "widths = [12,",
            "widths = [13,",
            &["model.widths[0]", "12 features"],
        ),
        (
            "width-out",
            "3, 2]",
            "3, 5]",
            &["model.widths[6]", "2 classes"],
        ),
    ]);
}

#[test]
fn a_filter_that_matches_nothing() {
    variants_fail(&[(
        "filter",
        "hooks = [\"layers.*.hook_post\"]",
        "hooks = [\"blocks.*\"]",
        &["measure.hooks", "blocks.*", "layers.0.hook_pre"],
    )]);
}

#[test]
fn bad_enum_values() {
    variants_fail(&[
        (
            "act",
            "activation = \"tanh\"",
            "activation = \"swish\"",
            &["swish", "tanh", "relu"],
        ),
        (
            "sched",
            "schedule = \"log\"",
            "schedule = \"sometimes\"",
            &["measure.schedule", "every_k"],
        ),
        (
            "opt",
            "optimizer = \"adam\"",
            "optimizer = \"lbfgs\"",
            &["train.optimizer", "sgd"],
        ),
    ]);
}

#[test]
fn syntax_error_and_missing_file() {
    let err = fails("syntax", "name = \n");
    assert_mentions(&err, &["c.toml", "line 1"]);
    let missing = Path::new("no/such/config.toml");
    let err = train_err(&file_opts(missing, &tmp_dir("missing").join("run")));
    assert_mentions(&err.chain(), &["no/such/config.toml"]);
}

#[test]
fn missing_mnist_files_are_listed() {
    let text = std::fs::read_to_string(config_file("mlp_mnist.toml")).unwrap();
    let text = text.replace("path = \"datasets/mnist\"", "path = \"/nonexistent/mnist\"");
    let err = fails("mnist", &text);
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
    let err = fails_with(
        "cuda",
        &variant("name = \"tishby_tanh\"", "name = \"cuda_check\""),
        |o| {
            o.device = Some("cuda".parse().unwrap());
            o.epochs = Some(2);
        },
    );
    assert_mentions(&err, &["without CUDA support", "--features cuda"]);
}

#[test]
fn estimator_tables_of_every_kind_are_validated() {
    let table = "kind = \"binned\"\nlo = -1.0\nhi = 1.0\nedges = 30";
    variants_fail(&[
        (
            "kind",
            table,
            "kind = \"mine\"",
            &[
                "measure.estimators[0].kind",
                "\"mine\"",
                "\"kde\"",
                "\"knn\"",
            ],
        ),
        (
            "kde-sigma",
            table,
            "kind = \"kde\"\nname = \"k\"",
            &["measure.estimators[0].sigma2", "required"],
        ),
        (
            "kde-neg",
            table,
            "kind = \"kde\"\nsigma2 = -1.0",
            &["measure.estimators[0].sigma2", "-1"],
        ),
        (
            "knn-k",
            table,
            "kind = \"knn\"\nk = 0",
            &["measure.estimators[0].k", "at least 1"],
        ),
        // `lo`, `hi` and `edges` of the binned table do not apply to kde.
        (
            "kde-lo",
            "kind = \"binned\"",
            "kind = \"kde\"\nsigma2 = 0.1",
            &["measure.estimators[0].lo", "does not apply", "sigma2"],
        ),
    ]);
}

#[test]
fn dump_epochs_must_be_measured() {
    variants_fail(&[
        (
            "dump-epoch",
            "points = 274",
            "points = 274\ndump_activations = [1, 7999]",
            &["measure.dump_activations", "7999", "not measured"],
        ),
        (
            "dump-word",
            "points = 274",
            "points = 274\ndump_activations = \"sometimes\"",
            &["measure.dump_activations", "\"measured\""],
        ),
        (
            "dump-type",
            "points = 274",
            "points = 274\ndump_activations = 3",
            &["dump_activations"],
        ),
    ]);
}

#[test]
fn fused_trainer_asked_for_where_it_cannot_run() {
    let gelu = variant("activation = \"tanh\"", "activation = \"gelu\"").replacen(
        "epochs = 8000",
        "epochs = 8000\nfused = true",
        1,
    );
    let err = fails("fused-gelu", &gelu);
    assert_mentions(&err, &["train.fused", "Gelu", "set it to false"]);
    let fused = variant("epochs = 8000", "epochs = 8000\nfused = true");
    let err = fails(
        "fused-vib",
        &format!("{fused}\n[vib]\nk = 4\nbeta = 0.001\n"),
    );
    assert_mentions(&err, &["train.fused", "MLPs only"]);
}

/// A small 12-bit config for the flow and statistics settings below.
const FLOW_BASE: &str = r#"
name = "bad"
[data]
dataset = "tishby12"
[model]
widths = [12, 2]
activation = "tanh"
[train]
optimizer = "adam"
lr = 0.01
batch_size = 64
epochs = 1
[measure]
schedule = "every"
[[measure.estimators]]
kind = "binned"
bins = 5
"#;

#[test]
fn estimator_and_statistics_settings_name_their_key() {
    let err = fails("binned-bins", FLOW_BASE);
    assert_mentions(
        &err,
        &["`measure.estimators[0].bins` does not apply to kind = \"binned\""],
    );
    let err = fails(
        "saturation",
        &FLOW_BASE
            .replace(
                "kind = \"binned\"\nbins = 5",
                "kind = \"adaptive\"\nbins = 5",
            )
            .replace(
                "schedule = \"every\"",
                "schedule = \"every\"\nsaturation = -1.0",
            ),
    );
    assert_mentions(&err, &["`measure.saturation`", "-1"]);
}

/// A config built in code is validated the same way, its errors naming where it came from.
#[test]
fn configs_built_in_code_are_validated_too() {
    let text = variant("lr = 0.0004", "lr = -0.1");
    let config = probe_run::config::Config::from_toml(&text, "the test config").unwrap();
    let dir = tmp_dir("err-value");
    let mut opts = TrainOptions::new(probe_run::ConfigSource::Value {
        config: Box::new(config),
        name: "the config dict".into(),
    });
    opts.out = Some(dir.join("run"));
    let err = train_err(&opts);
    assert!(err.is_invalid_input());
    assert_mentions(&err.chain(), &["the config dict", "train.lr", "positive"]);
    let err = probe_run::config::Config::from_toml("name = \n", "the test config").unwrap_err();
    assert_mentions(&err.chain(), &["the test config", "line 1"]);
    assert!(
        !dir.join("run").exists(),
        "nothing written for a bad config"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
