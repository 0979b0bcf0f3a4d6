//! `infoplane.csv` from training against an independent computation on the activations the same
//! run dumped, not only against `probe analyze` (which shares the estimator code): the reference
//! of `reference/mod.rs`, written from the documented definitions. The reference itself is first
//! checked against numpy: on the committed `trained_fixture.safetensors` it must give the values
//! `scripts/make_binned_fixture.py` computed with numpy (`trained_fixture.json`).

mod common;
mod reference;
use common::{root, small_tishby, tmp_dir, toml_opts, train};
use reference::{assert_bits, check_run, labels, load, mutual_information, Bins};

const BINNED: Bins = Bins::Fixed {
    lo: -1.0,
    hi: 1.0,
    edges: 30,
};

/// The reference agrees with numpy (`scripts/make_binned_fixture.py`) on committed activations:
/// the tanh layers of a network trained on all 4096 12-bit patterns (distinct inputs, so every
/// sample is its own input).
#[test]
fn reference_matches_numpy_on_the_committed_trained_layers() {
    let dir = root().join("crates/probe-cli/tests/fixtures");
    let layers = load(&dir.join("trained_fixture.safetensors"));
    let y = labels(&dir.join("trained_fixture_labels.safetensors"));
    let text = std::fs::read_to_string(dir.join("trained_fixture.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let x: Vec<u64> = (0..y.len() as u64).collect();
    for (name, t) in &layers {
        for (est, bins) in [
            ("binned", BINNED),
            ("floor", Bins::Floor { width: 0.5 }),
            ("adaptive", Bins::Adaptive { bins: 30 }),
        ] {
            let want = &json["layers"][name][est];
            let (ixt, ity) = mutual_information(t, bins, &x, &y);
            assert_bits(
                &format!("{name} {est} I(X;T)"),
                ixt,
                want["i_xt"].as_f64().unwrap(),
            );
            assert_bits(
                &format!("{name} {est} I(T;Y)"),
                ity,
                want["i_ty"].as_f64().unwrap(),
            );
        }
    }
    assert_eq!(layers.len(), 3, "three hidden layers");
}

/// A two-epoch 12-bit run's `infoplane.csv` equals the reference on the activations it dumped.
#[test]
fn training_infoplane_matches_the_reference_on_its_dumped_activations() {
    let tmp = tmp_dir("infoplane-reference");
    let out = tmp.join("run");
    let cfg = small_tishby(
        "reference",
        2,
        r#"dump_activations = [2]
flow = false
estimators = [
    { kind = "binned", lo = -1.0, hi = 1.0, edges = 30 },
    { kind = "floor", width = 0.25 },
    { kind = "adaptive", bins = 12 },
]
"#,
    );
    train(&toml_opts(&cfg, &out));
    let checked = check_run(&out, 2, &|est| match est {
        "binned" => BINNED,
        "floor" => Bins::Floor { width: 0.25 },
        "adaptive" => Bins::Adaptive { bins: 12 },
        other => panic!("unexpected estimator {other}"),
    });
    // 12-8-5-2: three hidden layers and the output layer's hooks, three estimators each.
    assert!(checked >= 9 && checked.is_multiple_of(3), "{checked} rows");
    std::fs::remove_dir_all(&tmp).unwrap();
}
