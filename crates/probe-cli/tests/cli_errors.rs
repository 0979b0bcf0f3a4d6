//! A handful of bad configs and flags through the real binary: a bad config exits with code 1 and
//! one `error: ` line naming the file, the key and what is expected; bad flags are clap's usage
//! errors (code 2). Every config error's message is checked in process in
//! `crates/probe-run/tests/errors.rs`.

mod common;
use common::{assert_mentions, probe, run_error, tmp_dir, train_one_quiet_epoch, variant};

/// Runs `probe train` on `config_text` (as `c.toml`) and returns its stderr, asserting it failed
/// with exit code 1 and an `error: ` line.
fn fails(name: &str, config_text: &str, extra: &[&str]) -> String {
    let dir = tmp_dir(&format!("err-{name}"));
    let cfg = dir.join("c.toml");
    std::fs::write(&cfg, config_text).unwrap();
    let out = dir.join("run");
    let mut args = vec![
        "train",
        "--config",
        cfg.to_str().unwrap(),
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend(extra);
    let o = probe(&args);
    let err = run_error(&o);
    assert!(!out.exists(), "{name}: no run directory for a bad config");
    let _ = std::fs::remove_dir_all(&dir);
    err
}

#[test]
fn unknown_key_and_wrong_type() {
    let err = fails(
        "unknown",
        &variant("lr = 0.0004", "lr = 0.0004\nlearning_rate = 1"),
        &[],
    );
    assert_mentions(&err, &["c.toml", "learning_rate", "unknown field"]);
    let err = fails(
        "type",
        &variant("batch_size = 512", "batch_size = \"big\""),
        &[],
    );
    assert_mentions(&err, &["batch_size", "invalid type"]);
}

#[test]
fn invalid_value_names_the_file_and_key() {
    let err = fails("lr", &variant("lr = 0.0004", "lr = -0.1"), &[]);
    assert_mentions(
        &err,
        &[
            "error: invalid config file",
            "c.toml",
            "train.lr",
            "positive",
        ],
    );
}

#[test]
fn syntax_error_and_missing_file() {
    let err = fails("syntax", "name = \n", &[]);
    assert_mentions(&err, &["c.toml", "line 1"]);
    let err = run_error(&probe(&["train", "--config", "no/such/config.toml"]));
    assert_mentions(&err, &["no/such/config.toml"]);
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
fn an_existing_run_directory_needs_overwrite() {
    let dir = tmp_dir("exists");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let err = run_error(&train_one_quiet_epoch(&dir));
    assert_mentions(&err, &["already exists", "--overwrite"]);
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["train"][..],
        &[
            "train",
            "--config",
            "configs/tishby_tanh.toml",
            "--resume",
            "runs/x",
        ],
        &[
            "train",
            "--config",
            "configs/tishby_tanh.toml",
            "--device",
            "tpu",
        ],
    ] {
        let o = probe(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "probe {args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains("--help"),
            "probe {args:?}: {err}"
        );
    }
}
