//! Resume of the CNN, Transformer and RNN kinds, in process: a tiny model trained 4 epochs on 100
//! images of the committed Fashion-MNIST subset, checkpointed every 2nd epoch, is stopped after
//! epoch 2 and resumed; its `metrics.csv`, `infoplane.csv` and final weights must be
//! byte-identical to the same run uninterrupted. The CNN has batch norm (running statistics are
//! state outside the trained parameters) and dropout (masks drawn from a random stream whose
//! position must survive the checkpoint); the MLP's resume is checked in `resume.rs`.

mod common;
use common::{resume_opts, tmp_dir, toml_opts, train};

/// The files a resumed run must reproduce byte for byte.
const SAME: [&str; 3] = ["metrics.csv", "infoplane.csv", "model.safetensors"];

/// The run of `model` (a `[model]` table's keys) measuring `hooks` (a `measure.hooks` list).
fn config(name: &str, model: &str, hooks: &str) -> String {
    format!(
        r#"
name = "{name}"
seed = 3
device = "cpu"
[data]
dataset = "fashion-mnist-subset"
train_limit = 100
[model]
{model}
[train]
optimizer = "adam"
lr = 0.003
batch_size = 25
epochs = 4
checkpoint_every = 2
[measure]
schedule = "every"
on = "test"
flow = false
hooks = {hooks}
estimators = [{{ kind = "adaptive", bins = 10 }}]
"#
    )
}

/// Trains `model` uninterrupted and stopped after epoch 2 then resumed, and compares the files.
fn resume_is_byte_identical(name: &str, model: &str, hooks: &str) {
    let tmp = tmp_dir(&format!("resume-{name}"));
    let cfg = config(name, model, hooks);
    let full = tmp.join("full");
    train(&toml_opts(&cfg, &full));
    let cut = tmp.join("cut");
    let mut opts = toml_opts(&cfg, &cut);
    opts.stop_after = Some(2);
    let stopped = train(&opts);
    assert_eq!((stopped.epoch, stopped.stopped_after), (2, Some(2)));
    let resumed = train(&resume_opts(&cut));
    assert_eq!((resumed.epoch, resumed.stopped_after), (4, None));
    for f in SAME {
        let (a, b) = (
            std::fs::read(full.join(f)).unwrap(),
            std::fs::read(cut.join(f)).unwrap(),
        );
        assert!(
            a == b,
            "{name}: {f} differs between the uninterrupted and the resumed run"
        );
    }
    // Sanity: the run trained (four metrics rows) and measured every epoch's hooks.
    let m = std::fs::read_to_string(full.join("metrics.csv")).unwrap();
    assert_eq!(m.lines().count(), 5, "{m}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn cnn_with_batch_norm_and_dropout_resumes_bit_identically() {
    resume_is_byte_identical(
        "cnn",
        r#"kind = "cnn"
channels = [2, 4]
fc = [8]
batch_norm = true
dropout = 0.3"#,
        r#"["convs.*.hook_post", "fc.0.hook_post"]"#,
    );
}

#[test]
fn transformer_resumes_bit_identically() {
    resume_is_byte_identical(
        "vit",
        r#"kind = "transformer"
patch = 7
d_model = 8
heads = 2
layers = 1
d_mlp = 16"#,
        r#"["blocks.0.hook_resid_post", "head.hook_pre"]"#,
    );
}

#[test]
fn rnn_resumes_bit_identically() {
    resume_is_byte_identical(
        "lstm",
        r#"kind = "rnn"
cell = "lstm"
hidden = 8"#,
        r#"["rnn.0.hook_h_n", "head.hook_pre"]"#,
    );
}
