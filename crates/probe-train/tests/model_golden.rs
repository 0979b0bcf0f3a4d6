//! Golden tests: probe's CNN, Transformer and RNN against their PyTorch twins.
//!
//! `scripts/golden_models.py` (PyTorch, f32, CPU) built each model below with the same parameter
//! names, drew weights, ran one batch in training mode and saved the weights, the batch, the
//! logits, the loss, every parameter's gradient, batch norm's running statistics after the batch,
//! the evaluation-mode logits after it, and a few hook points. Here the same architecture is
//! built, the PyTorch weights loaded by name (`checkpoint::load`, as a user would load a
//! `state_dict`), and every quantity compared.
//!
//! Tolerance: `max |probe − torch| ≤ 2e-5 · max(1, max |torch|)` per tensor. Both sides compute in
//! f32 (ε ≈ 1.2e-7) with different summation orders over at most a few hundred terms, so honest
//! differences stay around 1e-6 of the tensor's scale; a wrong formula, gate order, transpose or
//! normalisation gives differences of the order of the values themselves. Gradients get the same
//! scale-relative bound: a gradient entry that is tiny compared with its tensor's largest one is
//! compared at that tensor's scale.

use candle_core::{DType, Device};
use probe_capture::{ActivationCache, NameFilter};
use probe_train::checkpoint;
use probe_train::model::{
    Activation, CellKind, Cnn, CnnSpec, Model, PoolType, Pooling, Rnn, RnnSpec, Tokens,
    Transformer, TransformerSpec,
};

mod common;
use common::golden::{close, fixture, fixture_spec};
use common::specs::{cnn, conv, rnn, transformer};
use Pooling::{Cls, Mean};
use Tokens::{Patch, Rows};

const CLASSES: usize = 5;

/// A list as `json.dumps` writes it: `[1, 9, 10]`.
fn list(v: &[usize]) -> String {
    let items: Vec<String> = v.iter().map(|x| x.to_string()).collect();
    format!("[{}]", items.join(", "))
}

/// `spec` of scripts/golden_models.py for a CNN, in its key order.
fn cnn_spec(s: &CnnSpec) -> String {
    let convs: Vec<String> = s
        .convs
        .iter()
        .map(|c| {
            format!(
                r#"{{"channels": {}, "kernel": {}, "stride": {}, "padding": {}, "pool": {}}}"#,
                c.channels, c.kernel, c.stride, c.padding, c.pool
            )
        })
        .collect();
    let act = match s.activation {
        Activation::Relu => "relu",
        Activation::Tanh => "tanh",
        other => panic!("the script has no {other:?}"),
    };
    let pool = match s.pool_type {
        PoolType::Max => "max",
        PoolType::Avg => "avg",
    };
    format!(
        r#"{{"image": {}, "batch_norm": {}, "activation": "{act}", "pool_type": "{pool}", "fc": {}, "convs": [{}]}}"#,
        list(&[s.image.0, s.image.1, s.image.2]),
        s.batch_norm,
        list(&s.fc),
        convs.join(", ")
    )
}

/// `spec` of scripts/golden_models.py for a transformer.
fn transformer_spec(s: &TransformerSpec) -> String {
    let tokens = match s.tokens {
        Tokens::Patch(p) => format!(r#""tokens": "patch", "patch": {p}"#),
        Tokens::Rows => r#""tokens": "rows""#.to_string(),
    };
    let pooling = match s.pooling {
        Pooling::Cls => "cls",
        Pooling::Mean => "mean",
    };
    format!(
        r#"{{"image": {}, {tokens}, "d_model": {}, "heads": {}, "layers": {}, "d_mlp": {}, "pooling": "{pooling}"}}"#,
        list(&[s.image.0, s.image.1, s.image.2]),
        s.d_model,
        s.heads,
        s.layers,
        s.d_mlp
    )
}

/// `spec` of scripts/golden_models.py for an RNN.
fn rnn_spec(s: &RnnSpec) -> String {
    let cell = match s.cell {
        CellKind::Lstm => "lstm",
        CellKind::Gru => "gru",
    };
    format!(
        r#"{{"image": {}, "cell": "{cell}", "hidden": {}, "layers": {}}}"#,
        list(&[s.image.0, s.image.1, s.image.2]),
        s.hidden,
        s.layers
    )
}

/// Asserts `max |a − b| ≤ RTOL · max(1, max |b|)` and returns the observed ratio.
/// Checks that the fixture was made for `spec` (its JSON), loads the fixture's weights into
/// `model`, runs the batch and compares everything.
fn check(name: &str, spec: &str, model: &dyn Model) {
    let (path, t) = fixture(name);
    assert_eq!(
        fixture_spec(&path),
        spec,
        "{name}: the fixture was made for another architecture; rerun scripts/golden_models.py"
    );
    checkpoint::load(model, &path, &Device::Cpu).unwrap();
    let x = &t["input.x"];
    let y = t["input.y"].to_dtype(DType::U32).unwrap();

    model.set_training(true);
    let hooked: Vec<String> = t
        .keys()
        .filter_map(|k| k.strip_prefix("hook.").map(String::from))
        .collect();
    assert!(!hooked.is_empty(), "{name}: fixture has no hooks");
    let mut cache = ActivationCache::new(NameFilter::new(&hooked).unwrap());
    let logits = model.forward(x, Some(&mut cache)).unwrap();
    close(&format!("{name} logits"), &logits, &t["out.logits"]);
    let loss = candle_nn::loss::cross_entropy(&logits, &y).unwrap();
    close(
        &format!("{name} loss"),
        &loss.reshape(1).unwrap(),
        &t["out.loss"],
    );
    for h in &hooked {
        let got = cache
            .take(h)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: hook {h} not reported"));
        close(&format!("{name} {h}"), &got, &t[&format!("hook.{h}")]);
    }

    let grads = loss.backward().unwrap();
    let vars = model.named_vars();
    assert_eq!(
        vars.len(),
        t.keys().filter(|k| k.starts_with("grad.")).count(),
        "{name}: probe and PyTorch have different parameter counts"
    );
    for (pname, var) in &vars {
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("{name}: no gradient for {pname}"));
        close(
            &format!("{name} grad {pname}"),
            g,
            &t[&format!("grad.{pname}")],
        );
    }
    for (bname, var) in model.named_buffers() {
        close(
            &format!("{name} {bname} after the batch"),
            var.as_tensor(),
            &t[&format!("after.{bname}")],
        );
    }

    model.set_training(false);
    let eval = model.forward(x, None).unwrap();
    close(&format!("{name} eval logits"), &eval, &t["out.eval_logits"]);
}

/// [`check`] of the CNN `spec` against the fixture `name`.
fn check_cnn(name: &str, spec: &CnnSpec) {
    check(
        name,
        &cnn_spec(spec),
        &Cnn::new(spec, 0, &Device::Cpu).unwrap(),
    );
}

/// [`check`] of the transformer `spec` against the fixture `name`.
fn check_transformer(name: &str, spec: &TransformerSpec) {
    let m = Transformer::new(spec, 0, &Device::Cpu).unwrap();
    check(name, &transformer_spec(spec), &m);
}

/// [`check`] of the RNN `spec` against the fixture `name`.
fn check_rnn(name: &str, spec: &RnnSpec) {
    check(
        name,
        &rnn_spec(spec),
        &Rnn::new(spec, 0, &Device::Cpu).unwrap(),
    );
}

#[test]
fn cnn_with_batch_norm_matches_pytorch() {
    let convs = vec![conv(4, 3, 1, 1, 2), conv(6, 3, 1, 1, 2)];
    let spec = CnnSpec {
        batch_norm: true,
        ..cnn((1, 9, 10), convs, vec![8], CLASSES)
    };
    let m = Cnn::new(&spec, 0, &Device::Cpu).unwrap();
    assert_eq!(m.named_buffers().len(), 4);
    check_cnn("cnn_bn", &spec);
}

#[test]
fn cnn_with_tanh_stride_and_average_pooling_matches_pytorch() {
    let convs = vec![conv(3, 2, 2, 0, 1), conv(5, 3, 1, 1, 2)];
    let spec = CnnSpec {
        pool_type: PoolType::Avg,
        activation: Activation::Tanh,
        ..cnn((2, 8, 7), convs, vec![], CLASSES)
    };
    check_cnn("cnn_tanh", &spec);
}

#[test]
fn vit_with_cls_token_matches_pytorch() {
    let spec = transformer((1, 8, 8), Patch(4), [8, 2, 2, 16], Cls, CLASSES);
    check_transformer("vit_cls", &spec);
}

#[test]
fn row_transformer_with_mean_pooling_matches_pytorch() {
    let spec = transformer((1, 6, 8), Rows, [8, 4, 1, 12], Mean, CLASSES);
    check_transformer("rows_mean", &spec);
}

#[test]
fn two_layer_lstm_matches_pytorch() {
    check_rnn("lstm", &rnn((1, 5, 4), CellKind::Lstm, 6, 2, CLASSES));
}

#[test]
fn gru_matches_pytorch() {
    check_rnn("gru", &rnn((1, 5, 4), CellKind::Gru, 6, 1, CLASSES));
}
