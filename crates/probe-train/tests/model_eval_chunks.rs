//! Evaluation-mode forward passes run in slices of rows (`model::eval_chunks`, issue 20: one
//! 8192-row pass made 200–400 MB tensors that glibc mmapped afresh every time). Guards that the
//! sliced pass gives bit-for-bit the logits and hook activations of one pass over all rows (the
//! training-mode pass, which never slices; these models have no dropout or batch norm, so both
//! modes compute the same function), for the CNN, the Transformer and both RNN cells.

use candle_core::{Device, Tensor};
use probe_capture::{ActivationCache, NameFilter};
use probe_train::model::eval_chunks::eval_slices;
use probe_train::model::{CellKind, Cnn, Model, Pooling, Rnn, Tokens, Transformer};

mod common;
use common::bits;
use common::specs::{cnn, conv, rnn, transformer};

/// Logits and every hook's activation, in training mode (one pass) and in evaluation mode
/// (sliced), must be identical bit for bit.
fn check(m: &dyn Model, rows: usize, features: usize, elems_per_row: usize) {
    // The model's own slicing must actually happen at this size (elems_per_row is worked out by
    // hand from the architecture in each test).
    let (slices, _) = eval_slices(rows, elems_per_row * 4);
    assert!(
        slices > 1,
        "{rows} rows fit one slice: the test checks nothing"
    );
    let x = Tensor::rand(0f32, 1., (rows, features), &Device::Cpu).unwrap();
    let names = m.hook_names();
    let run = |training: bool| {
        m.set_training(training);
        let mut cache = ActivationCache::new(NameFilter::new(&names).unwrap());
        let logits = m.forward(&x, Some(&mut cache)).unwrap();
        let hooks: Vec<Vec<u32>> = names
            .iter()
            .map(|n| bits(&cache.take(n).unwrap().unwrap()))
            .collect();
        (bits(&logits), hooks)
    };
    let (one_logits, one_hooks) = run(true);
    let (sliced_logits, sliced_hooks) = run(false);
    assert_eq!(one_logits.len(), rows * 10);
    assert!(one_logits == sliced_logits, "logits differ");
    for ((n, a), b) in names.iter().zip(&one_hooks).zip(&sliced_hooks) {
        assert!(a == b, "hook {n} differs");
    }
}

#[test]
fn sliced_cnn_evaluation_is_bit_identical() {
    let convs = vec![conv(16, 3, 1, 1, 2), conv(32, 3, 1, 1, 2)];
    let m = Cnn::new(&cnn((1, 28, 28), convs, vec![32], 10), 0, &Device::Cpu).unwrap();
    // Largest map per sample: the second im2col, 16·9 rows × 14·14 columns.
    check(&m, 300, 784, 16 * 9 * 14 * 14);
}

#[test]
fn sliced_transformer_evaluation_is_bit_identical() {
    let spec = transformer((1, 28, 28), Tokens::Rows, [32, 4, 1, 512], Pooling::Cls, 10);
    let m = Transformer::new(&spec, 0, &Device::Cpu).unwrap();
    // Largest tensor per sample: the MLP's hidden layer, 29 tokens (28 rows + CLS) × 512.
    check(&m, 330, 784, 29 * 512);
}

#[test]
fn sliced_rnn_evaluation_is_bit_identical() {
    for cell in [CellKind::Gru, CellKind::Lstm] {
        let m = Rnn::new(&rnn((1, 28, 28), cell, 160, 2, 10), 0, &Device::Cpu).unwrap();
        // Largest tensor per sample: the input projection of 28 steps, G·160 gates each.
        check(&m, 700, 784, 28 * cell.gates() * 160);
    }
}
