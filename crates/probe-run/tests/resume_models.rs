//! Resume of the CNN, Transformer and RNN kinds, in process: a tiny model trained 4 epochs on 100
//! images of the committed Fashion-MNIST subset, checkpointed every 2nd epoch, is stopped after
//! epoch 2 and resumed; its `metrics.csv`, `infoplane.csv` and final weights must be
//! byte-identical to the same run uninterrupted. The CNN has batch norm (running statistics are
//! state outside the trained parameters) and dropout (masks drawn from a random stream whose
//! position must survive the checkpoint); the MLP's resume is checked in `resume.rs`.

mod common;
use common::{
    small_fashion, stop_and_resume, tmp_dir, toml_opts, train, SMALL_CNN, SMALL_CNN_HOOKS,
    TINY_LSTM, TINY_VIT,
};

/// The files a resumed run must reproduce byte for byte.
const SAME: [&str; 3] = ["metrics.csv", "infoplane.csv", "model.safetensors"];

/// Trains `model` uninterrupted and stopped after epoch 2 then resumed, and compares the files.
fn resume_is_byte_identical(name: &str, model: &str, hooks: &str) {
    let tmp = tmp_dir(&format!("resume-{name}"));
    let cfg = small_fashion(name, model, hooks, 4);
    let full = tmp.join("full");
    train(&toml_opts(&cfg, &full));
    let resumed = stop_and_resume(&cfg, &tmp.join("cut"), 2, &full, &SAME);
    assert_eq!(resumed.epoch, 4);
    // Sanity: the run trained (four metrics rows) and measured every epoch's hooks.
    let m = std::fs::read_to_string(full.join("metrics.csv")).unwrap();
    assert_eq!(m.lines().count(), 5, "{m}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn cnn_with_batch_norm_and_dropout_resumes_bit_identically() {
    resume_is_byte_identical("cnn", SMALL_CNN, SMALL_CNN_HOOKS);
}

#[test]
fn transformer_resumes_bit_identically() {
    resume_is_byte_identical(
        "vit",
        TINY_VIT,
        r#"["blocks.0.hook_resid_post", "head.hook_pre"]"#,
    );
}

#[test]
fn rnn_resumes_bit_identically() {
    resume_is_byte_identical("lstm", TINY_LSTM, r#"["rnn.0.hook_h_n", "head.hook_pre"]"#);
}
