//! The VIB's pieces against closed forms: σ = softplus(ρ − 5) against the f64 formula, the
//! differentiable KL(N(μ, diag σ²) ‖ N(0, I)) (`vib::kl`, nats) against ½ Σ (μ² + σ² − 1 − ln σ²)
//! in f32 and f64 and its gradients against ∂/∂μ = μ, ∂/∂σ = σ − 1/σ, and `evaluate_vib`'s I(Z;X)
//! bound against the mean closed-form KL of the encoder's own μ and σ, in bits.

use candle_core::{DType, Device, Tensor, Var};
use probe_train::data::tishby12;
use probe_train::model::{Activation, Init};
use probe_train::trainer::DeviceData;
use probe_train::vib::kl::kl_to_std_normal;
use probe_train::vib::trainer::{evaluate_vib, label_entropy_nats};
use probe_train::vib::{sigma_of_rho, Vib, VibSpec};

#[test]
fn sigma_is_softplus_of_rho_minus_5() {
    let rho = [
        -60.0f32, -20.0, -3.0, 0.0, 0.99, 1.0, 1.01, 4.0, 5.0, 6.5, 30.0, 200.0,
    ];
    let s = sigma_of_rho(&Tensor::new(&rho, &Device::Cpu).unwrap())
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (r, got) in rho.iter().zip(s) {
        let x = *r as f64 - 5.0;
        let want = if x > 30.0 { x } else { x.exp().ln_1p() };
        assert!(
            (got as f64 - want).abs() <= 1e-5 * want,
            "ρ = {r}: {got} vs {want}"
        );
    }
}

/// Regression: `ln(1 + e^x)` in f32 rounded σ to 0 for ρ < −12, making the KL infinite.
#[test]
fn sigma_stays_positive_for_very_negative_rho() {
    let s = sigma_of_rho(&Tensor::new(&[-13.0f32, -100.0, -1e6], &Device::Cpu).unwrap())
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(s.iter().all(|&v| v > 0.0 && v.ln().is_finite()), "{s:?}");
    assert!((s[0] as f64 / (-18f64).exp() - 1.0).abs() < 1e-5, "{s:?}");
}

#[test]
fn kl_matches_the_closed_form_and_its_gradients() {
    let dev = Device::Cpu;
    let mu = [[0.5f32, -1.0, 2.0], [0.0, 0.0, 0.0]];
    let sg = [[1.0f32, 0.5, 2.0], [1.0, 1.0, 1.0]];
    let mu_v = Var::new(&mu, &dev).unwrap();
    let sg_v = Var::new(&sg, &dev).unwrap();
    let kl = kl_to_std_normal(mu_v.as_tensor(), sg_v.as_tensor()).unwrap();
    let got = kl.to_vec1::<f32>().unwrap();
    for (r, g) in got.iter().enumerate() {
        let want: f64 = (0..3)
            .map(|k| {
                let (m, s) = (mu[r][k] as f64, sg[r][k] as f64);
                0.5 * (m * m + s * s - 1.0 - (s * s).ln())
            })
            .sum();
        assert!((*g as f64 - want).abs() < 1e-6, "row {r}: {g} vs {want}");
    }
    // Row 0 by hand: ½(0.25) + ½(1 + 0.25 − 1 − ln 0.25) + ½(4 + 4 − 1 − ln 4) = 0.125 + 0.818147 + 2.806853.
    assert!((got[0] as f64 - 3.75).abs() < 1e-5, "{}", got[0]);
    assert_eq!(got[1], 0.0);
    let g = kl.sum_all().unwrap().backward().unwrap();
    let gm = g.get(mu_v.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
    let gs = g.get(sg_v.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
    for r in 0..2 {
        for k in 0..3 {
            assert!((gm[r][k] - mu[r][k]).abs() < 1e-6);
            assert!((gs[r][k] - (sg[r][k] - 1.0 / sg[r][k])).abs() < 1e-6);
        }
    }
}

/// `½ Σ (μ² + σ² − 1) − Σ ln σ` in f64, the reference of the tensor op.
fn kl_f64(mu: &[f64], sigma: &[f64]) -> f64 {
    mu.iter()
        .zip(sigma)
        .map(|(&m, &s)| 0.5 * (m * m + s * s - 1.0) - s.ln())
        .sum()
}

/// In f64 the op agrees with the closed form to rounding (1e-14 on values of order 1–5), in f32 to
/// f32 rounding (1e-5); the gradients are exact to rounding in f64.
#[test]
fn kl_in_f64_and_f32_matches_the_closed_form() {
    let mu = [0.5f64, -1.0, 0.0, 2.0, 0.1, -0.3];
    let sigma = [0.7f64, 1.0, 2.0, 0.1, 1.3, 0.9];
    let dev = Device::Cpu;
    let want: Vec<f64> = (0..2)
        .map(|r| kl_f64(&mu[3 * r..3 * r + 3], &sigma[3 * r..3 * r + 3]))
        .collect();
    let m = Tensor::from_slice(&mu, (2, 3), &dev).unwrap();
    let s = Tensor::from_slice(&sigma, (2, 3), &dev).unwrap();
    let got = kl_to_std_normal(&m, &s).unwrap();
    assert_eq!(got.dims(), &[2]);
    for (g, w) in got.to_vec1::<f64>().unwrap().iter().zip(&want) {
        assert!((g - w).abs() < 1e-14, "{g} vs {w}");
    }
    let (m32, s32) = (
        m.to_dtype(DType::F32).unwrap(),
        s.to_dtype(DType::F32).unwrap(),
    );
    let got32 = kl_to_std_normal(&m32, &s32).unwrap();
    for (g, w) in got32.to_vec1::<f32>().unwrap().iter().zip(&want) {
        assert!((*g as f64 - w).abs() < 1e-5, "f32: {g} vs {w}");
    }
    let mv = Var::from_slice(&mu, (2, 3), &dev).unwrap();
    let sv = Var::from_slice(&sigma, (2, 3), &dev).unwrap();
    let grads = kl_to_std_normal(mv.as_tensor(), sv.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let flat = |v: &Var| {
        grads
            .get(v)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()
    };
    let (gm, gs) = (flat(&mv), flat(&sv));
    for i in 0..6 {
        assert!((gm[i] - mu[i]).abs() < 1e-14, "d/dmu[{i}]");
        let want = sigma[i] - 1.0 / sigma[i];
        assert!((gs[i] - want).abs() < 1e-12, "d/dsigma[{i}]");
    }
}

#[test]
fn kl_rejects_mismatched_shapes_integer_dtypes_and_scalars() {
    let dev = Device::Cpu;
    let a = Tensor::zeros((2, 3), DType::F32, &dev).unwrap();
    let b = Tensor::ones((3, 2), DType::F32, &dev).unwrap();
    let e = kl_to_std_normal(&a, &b).unwrap_err().to_string();
    assert!(
        e.contains("kl_to_std_normal") && e.contains("[3, 2]"),
        "{e}"
    );
    let i = Tensor::zeros((2, 3), DType::U32, &dev).unwrap();
    let e = kl_to_std_normal(&i, &a).unwrap_err().to_string();
    assert!(e.contains("U32") && e.contains("kl_to_std_normal"), "{e}");
    let scalar = Tensor::new(1.0f32, &dev).unwrap();
    let e = kl_to_std_normal(&scalar, &scalar).unwrap_err().to_string();
    assert!(e.contains("kl_to_std_normal"), "{e}");
}

#[test]
fn evaluation_bounds_follow_from_the_encoder_outputs() {
    let dev = Device::Cpu;
    let ds = tishby12();
    let data = DeviceData::new(&ds, &dev).unwrap();
    let spec = VibSpec {
        input_dim: 12,
        hidden: vec![8],
        k: 3,
        classes: 2,
        activation: Activation::Tanh,
        init: Init::Default,
    };
    let vib = Vib::new(&spec, 4, &dev).unwrap();
    let ev = evaluate_vib(&vib, &data, 3, 4, 1000).unwrap();
    let (mu, sigma) = vib.encode(&data.x, None).unwrap();
    let (mu, sigma) = (
        mu.to_vec2::<f32>().unwrap(),
        sigma.to_vec2::<f32>().unwrap(),
    );
    let mean_kl: f64 = mu
        .iter()
        .zip(&sigma)
        .map(|(m, s)| {
            m.iter()
                .zip(s)
                .map(|(&m, &s)| {
                    let (m, s) = (m as f64, s as f64);
                    0.5 * (m * m + s * s - 1.0 - (s * s).ln())
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        / ds.n as f64;
    assert!(
        (ev.izx_bits - mean_kl / std::f64::consts::LN_2).abs() < 1e-4 * ev.izx_bits.max(1.0),
        "{} vs {}",
        ev.izx_bits,
        mean_kl / std::f64::consts::LN_2
    );
    let h_y = label_entropy_nats(&ds.y);
    assert!((ev.izy_bits - (h_y - ev.ce_sampled) / std::f64::consts::LN_2).abs() < 1e-12);
    // The sample-averaged prediction is no worse than one sample on average (Jensen).
    assert!(ev.ce_avg <= ev.ce_sampled + 1e-6, "{ev:?}");
    // Evaluation noise is restarted every time: the same numbers again.
    assert_eq!(evaluate_vib(&vib, &data, 3, 4, 1000).unwrap(), ev);
}
