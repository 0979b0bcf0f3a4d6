//! Golden test: probe's VIB against its PyTorch twin (`scripts/golden_vib.py`), independently of
//! probe's own formulas.
//!
//! The script built the same encoder / head / decoder (same parameter names), drew weights (with
//! ρ biases that put σ = softplus(ρ − 5) on both branches of probe's softplus), a batch and a fixed
//! reparameterisation noise ε, and saved μ, σ, the logits of z = μ + σ ⊙ ε, the batch-mean
//! cross-entropy, KL and objective CE + β·KL (nats, float64 from the float32 tensors), the
//! I(Z;X) upper bound and one-sample I(Z;Y) lower bound (bits), the labels' entropy, and every
//! parameter's gradient of the objective. Here the weights are loaded by name and the objective
//! is computed by `vib::trainer::objective`, the function the training epoch runs.
//!
//! Tolerances: tensors within `common::golden::close`'s 2e-5 of their scale (f32 on both sides,
//! differing summation orders); σ, whose smallest entries are ~1e-5, entry by entry within 1e-5
//! relative (probe's softplus series and torch's log1p both keep ~1e-7); the scalars within
//! 2e-5·max(1, |value|) (f32 sums of 8 rows of values up to ~25 nats). A wrong KL term, a missing
//! β, nats for bits or a σ off by a factor differ by far more.

use std::f64::consts::LN_2;

use candle_core::{DType, Device, Tensor};
use probe_train::checkpoint;
use probe_train::model::{Activation, Init, Model};
use probe_train::trainer::DeviceData;
use probe_train::vib::trainer::{evaluate_vib, label_entropy_nats, objective};
use probe_train::vib::{Vib, VibSpec};

mod common;
use common::golden::{close, fixture, fixture_spec};

fn scalar(t: &Tensor) -> f64 {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()[0] as f64
}

fn near(what: &str, got: f64, want: f64) {
    let bound = 2e-5 * want.abs().max(1.0);
    assert!(
        (got - want).abs() <= bound,
        "{what}: probe {got} vs torch {want} (bound {bound:e})"
    );
}

#[test]
fn vib_matches_pytorch() {
    let dev = Device::Cpu;
    let (path, t) = fixture("vib");
    assert_eq!(
        fixture_spec(&path),
        r#"{"input_dim": 6, "hidden": [5, 4], "k": 3, "classes": 4, "activation": "tanh"}"#
    );
    let spec = VibSpec {
        input_dim: 6,
        hidden: vec![5, 4],
        k: 3,
        classes: 4,
        activation: Activation::Tanh,
        init: Init::Default,
    };
    let vib = Vib::new(&spec, 0, &dev).unwrap();
    checkpoint::load(&vib, &path, &dev).unwrap();
    let x = &t["input.x"];
    let y = t["input.y"].to_dtype(DType::U32).unwrap();
    let beta = scalar(&t["input.beta"]);

    let (mu, sigma) = vib.encode(x, None).unwrap();
    close("mu", &mu, &t["out.mu"]);
    let (s, s_ref) = (
        sigma.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        t["out.sigma"]
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap(),
    );
    assert!(s_ref.iter().any(|&v| v < 1e-4) && s_ref.iter().any(|&v| v > 1.0));
    for (i, (a, b)) in s.iter().zip(&s_ref).enumerate() {
        let rel = ((a - b) / b).abs();
        assert!(rel <= 1e-5, "sigma[{i}]: probe {a:e} vs torch {b:e}");
    }

    let obj = objective(&vib, x, &y, &t["input.eps"], beta).unwrap();
    close("logits", &obj.logits, &t["out.logits"]);
    let (ce, kl, loss) = (scalar(&obj.ce), scalar(&obj.kl), scalar(&obj.loss));
    near("ce", ce, scalar(&t["out.ce"]));
    near("kl", kl, scalar(&t["out.kl"]));
    near("loss", loss, scalar(&t["out.loss"]));
    let grads = obj.loss.backward().unwrap();
    for (name, var) in vib.named_vars() {
        let g = grads
            .get(&var)
            .unwrap_or_else(|| panic!("no gradient for {name}"));
        close(&format!("grad {name}"), g, &t[&format!("grad.{name}")]);
    }

    // The bounds: I(Z;X) ≤ E KL / ln 2 from the evaluation (no noise involved), H(Y) of the
    // labels, and the one-sample I(Z;Y) ≥ (H(Y) − CE) / ln 2 of the objective's CE.
    let data = DeviceData {
        x: x.clone(),
        y: y.clone(),
        n: 8,
    };
    let ev = evaluate_vib(&vib, &data, 2, 0, 3).unwrap();
    near("izx_bits", ev.izx_bits, scalar(&t["out.izx_bits"]));
    let h_y = label_entropy_nats(&y.to_vec1::<u32>().unwrap());
    near("h_y", h_y, scalar(&t["out.h_y"]));
    near("izy_bits", (h_y - ce) / LN_2, scalar(&t["out.izy_bits"]));
}
