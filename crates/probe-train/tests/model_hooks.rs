//! The CNN, Transformer and RNN: every declared hook point is reported with its documented shape
//! (and nothing undeclared), hook points relate to each other as their definitions say, and every
//! parameter receives the gradient central differences confirm.

use std::collections::{BTreeMap, BTreeSet};

use candle_core::{Device, Tensor};
use probe_capture::{ActivationCache, NameFilter};
use probe_train::model::layers::pool::pool2d;
use probe_train::model::{
    CellKind, Cnn, CnnSpec, Model, PoolType, Pooling, Rnn, Tokens, Transformer,
};

mod common;
use common::max_abs_diff;
use common::specs::{self, conv};

const B: usize = 5;

fn cnn(batch_norm: bool, dropout: f64) -> Cnn {
    let convs = vec![conv(4, 3, 1, 1, 2), conv(6, 3, 1, 0, 1)];
    let spec = CnnSpec {
        batch_norm,
        dropout,
        ..specs::cnn((1, 12, 10), convs, vec![7], 3)
    };
    Cnn::new(&spec, 1, &Device::Cpu).unwrap()
}

fn transformer(tokens: Tokens, pooling: Pooling) -> Transformer {
    let spec = specs::transformer((1, 8, 8), tokens, [12, 3, 2, 20], pooling, 3);
    Transformer::new(&spec, 2, &Device::Cpu).unwrap()
}

fn rnn(cell: CellKind, layers: usize) -> Rnn {
    Rnn::new(&specs::rnn((1, 6, 5), cell, 7, layers, 3), 3, &Device::Cpu).unwrap()
}

/// Runs `m` on a random batch of `d` features and returns every hook by name.
fn all_hooks(m: &dyn Model, d: usize) -> BTreeMap<String, Tensor> {
    m.set_training(false);
    let x = Tensor::rand(0f32, 1., (B, d), &Device::Cpu).unwrap();
    let mut cache = ActivationCache::new(NameFilter::all());
    let logits = m.forward(&x, Some(&mut cache)).unwrap();
    assert_eq!(logits.dims(), &[B, 3]);
    let names: Vec<String> = cache.names().into_iter().map(String::from).collect();
    let declared: BTreeSet<String> = m.hook_names().into_iter().collect();
    assert_eq!(
        names.iter().cloned().collect::<BTreeSet<_>>(),
        declared,
        "reported hooks differ from hook_names()"
    );
    assert_eq!(declared.len(), m.hook_names().len(), "duplicate hook names");
    names
        .into_iter()
        .map(|n| {
            let t = cache.take(&n).unwrap().unwrap();
            (n, t)
        })
        .collect()
}

#[test]
fn cnn_hooks_have_their_documented_shapes_and_meaning() {
    let h = all_hooks(&cnn(true, 0.0), 120);
    // 12×10 → conv k3 p1 → 12×10 → pool 2 → 6×5 → conv k3 p0 → 4×3.
    let shapes: [(&str, &[usize]); 8] = [
        ("convs.0.hook_pre", &[B, 4, 12, 10]),
        ("convs.0.hook_post", &[B, 4, 6, 5]),
        ("convs.1.hook_pre", &[B, 6, 4, 3]),
        ("convs.1.hook_post", &[B, 6, 4, 3]),
        ("fc.0.hook_pre", &[B, 7]),
        ("fc.0.hook_post", &[B, 7]),
        ("fc.1.hook_pre", &[B, 3]),
        ("fc.1.hook_post", &[B, 3]),
    ];
    for (name, shape) in shapes {
        assert_eq!(h[name].dims(), shape, "{name}");
    }
    let post = pool2d(&h["convs.0.hook_pre"].relu().unwrap(), 2, PoolType::Max).unwrap();
    assert_eq!(max_abs_diff(&post, &h["convs.0.hook_post"]), 0.0);
    let probs = candle_nn::ops::softmax(&h["fc.1.hook_pre"], 1).unwrap();
    assert!(max_abs_diff(&probs, &h["fc.1.hook_post"]) < 1e-6);
}

#[test]
fn transformer_hooks_have_their_documented_shapes_and_meaning() {
    // 8×8 in 4×4 patches: 4 tokens + CLS; d = 12, 3 heads of 4, d_mlp = 20.
    let h = all_hooks(&transformer(Tokens::Patch(4), Pooling::Cls), 64);
    let shapes: [(&str, &[usize]); 12] = [
        ("hook_embed", &[B, 4, 12]),
        ("blocks.0.hook_resid_pre", &[B, 5, 12]),
        ("blocks.0.attn.hook_q", &[B, 5, 3, 4]),
        ("blocks.0.attn.hook_attn_scores", &[B, 3, 5, 5]),
        ("blocks.0.attn.hook_pattern", &[B, 3, 5, 5]),
        ("blocks.1.attn.hook_z", &[B, 5, 3, 4]),
        ("blocks.1.mlp.hook_pre", &[B, 5, 20]),
        ("blocks.1.hook_resid_post", &[B, 5, 12]),
        ("ln_final.hook_normalized", &[B, 5, 12]),
        ("hook_pooled", &[B, 12]),
        ("head.hook_pre", &[B, 3]),
        ("head.hook_post", &[B, 3]),
    ];
    for (name, shape) in shapes {
        assert_eq!(h[name].dims(), shape, "{name}");
    }
    for l in 0..2 {
        let g = |s: &str| &h[&format!("blocks.{l}.{s}")];
        let mid = (g("hook_resid_pre") + g("hook_attn_out")).unwrap();
        assert!(max_abs_diff(&mid, g("hook_resid_mid")) < 1e-6);
        let post = (g("hook_resid_mid") + g("hook_mlp_out")).unwrap();
        assert!(max_abs_diff(&post, g("hook_resid_post")) < 1e-6);
        let gelu = g("mlp.hook_pre").gelu_erf().unwrap();
        assert!(max_abs_diff(&gelu, g("mlp.hook_post")) < 1e-6);
        // Each query's pattern is a distribution over the keys.
        let sums = g("attn.hook_pattern").sum(3).unwrap();
        assert!(max_abs_diff(&sums, &sums.ones_like().unwrap()) < 1e-5);
    }
    // CLS pooling reads token 0 of the final layer norm.
    let cls = h["ln_final.hook_normalized"]
        .narrow(1, 0, 1)
        .unwrap()
        .squeeze(1)
        .unwrap();
    assert_eq!(max_abs_diff(&cls, &h["hook_pooled"]), 0.0);

    // Rows and mean pooling: 8 tokens, no CLS; the pooled vector is the token mean.
    let h = all_hooks(&transformer(Tokens::Rows, Pooling::Mean), 64);
    assert_eq!(h["hook_embed"].dims(), &[B, 8, 12]);
    assert_eq!(h["blocks.0.attn.hook_pattern"].dims(), &[B, 3, 8, 8]);
    let mean = h["ln_final.hook_normalized"].mean(1).unwrap();
    assert!(max_abs_diff(&mean, &h["hook_pooled"]) < 1e-6);
}

#[test]
fn rnn_hooks_have_their_documented_shapes_and_meaning() {
    let m = rnn(CellKind::Lstm, 2);
    let names = m.hook_names();
    // 2 layers × (6 steps × (h, c) + h_n + c_n) + head.hook_pre/post.
    assert_eq!(names.len(), 2 * (6 * 2 + 2) + 2);
    let h = all_hooks(&m, 30);
    for l in 0..2 {
        for t in 0..6 {
            assert_eq!(h[&format!("rnn.{l}.steps.{t}.hook_h")].dims(), &[B, 7]);
            assert_eq!(h[&format!("rnn.{l}.steps.{t}.hook_c")].dims(), &[B, 7]);
        }
        let last = &h[&format!("rnn.{l}.steps.5.hook_h")];
        assert_eq!(max_abs_diff(last, &h[&format!("rnn.{l}.hook_h_n")]), 0.0);
        let last_c = &h[&format!("rnn.{l}.steps.5.hook_c")];
        assert_eq!(max_abs_diff(last_c, &h[&format!("rnn.{l}.hook_c_n")]), 0.0);
    }
    let gru = rnn(CellKind::Gru, 1);
    let h = all_hooks(&gru, 30);
    assert!(!h.keys().any(|k| k.contains("hook_c")));
    assert_eq!(h["rnn.0.hook_h_n"].dims(), &[B, 7]);
}

/// Every parameter of `m` gets the gradient of a cross-entropy loss that central differences
/// confirm (`common::check_gradients`), in training mode (batch norm on batch statistics, dropout
/// on).
fn every_parameter_learns(what: &str, m: &dyn Model, d: usize) {
    m.set_training(true);
    let x = common::inputs(8, d, 0.0, 1.0);
    let y = Tensor::new(&[0u32, 1, 2, 0, 1, 2, 2, 1], &Device::Cpu).unwrap();
    common::check_gradients(what, m, &x, &y);
}

#[test]
fn every_parameter_gets_the_gradient_finite_differences_confirm() {
    every_parameter_learns("cnn", &cnn(false, 0.0), 120);
    every_parameter_learns("cnn + batch norm + dropout", &cnn(true, 0.3), 120);
    every_parameter_learns("vit", &transformer(Tokens::Patch(4), Pooling::Cls), 64);
    every_parameter_learns("rows", &transformer(Tokens::Rows, Pooling::Mean), 64);
    every_parameter_learns("lstm", &rnn(CellKind::Lstm, 2), 30);
    every_parameter_learns("gru", &rnn(CellKind::Gru, 2), 30);
}
