//! End-to-end tests of the adaptive estimator, the layer-to-layer flow and the activation
//! statistics through `probe analyze` (the real binary): against the numpy fixtures of
//! `scripts/make_binned_fixture.py` (random layers, and a network trained in numpy), `probe train`'s
//! `flow.csv` / `stats.csv` reproduced by `probe analyze` on a dump, the switches, and errors.
//! What `probe train` itself writes to flow.csv and stats.csv is tested in process in
//! `crates/probe-run/tests/flow_stats.rs`.

use std::path::Path;

mod common;
use common::{
    analyze, fails, fixtures, flow_config, num, read_csv_maps, s, succeeds, tmp_dir,
    BINNED_AND_FLOOR,
};

fn close(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= 1e-12,
        "{what}: probe {got}, numpy {want}"
    );
}

/// Runs `probe analyze` with binned, floor (0.5) and adaptive (30) on a fixture and checks
/// analysis.csv, analysis-flow.csv and analysis-stats.csv against its numpy JSON.
fn check_fixture(stem: &str, inputs: Option<&str>, key_xt: &str) {
    let f = fixtures();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.join(format!("{stem}.json"))).unwrap())
            .unwrap();
    let out = tmp_dir(&format!("{stem}-{key_xt}"));
    let acts = f.join(format!("{stem}.safetensors"));
    let labels = f.join(format!("{stem}_labels.safetensors"));
    let mut flags = BINNED_AND_FLOOR.to_vec();
    flags.extend(["--estimator", "adaptive", "--bins", "30"]);
    let inputs_path = inputs.map(|i| f.join(i));
    if let Some(p) = &inputs_path {
        flags.extend(["--inputs", s(p)]);
    }
    analyze(&acts, &labels, &flags, &out);
    let layers = doc["layers"].as_object().unwrap();
    let rows = read_csv_maps(&out.join("analysis.csv"));
    assert_eq!(rows.len(), 3 * layers.len());
    for r in &rows {
        let want = &layers[&r["layer"]][&r["estimator"]];
        let what = format!("{stem} {} {}", r["layer"], r["estimator"]);
        close(
            num(&r["i_xt"]),
            want[key_xt].as_f64().unwrap(),
            &format!("{what} i_xt"),
        );
        close(
            num(&r["i_ty"]),
            want["i_ty"].as_f64().unwrap(),
            &format!("{what} i_ty"),
        );
    }
    let flows = read_csv_maps(&out.join("analysis-flow.csv"));
    assert_eq!(flows.len(), 3 * (layers.len() - 1));
    for (est, want) in doc["flow"].as_object().unwrap() {
        let got: Vec<_> = flows.iter().filter(|r| &r["estimator"] == est).collect();
        let want = want.as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{est}");
        for (g, w) in got.iter().zip(want) {
            assert_eq!(
                (&g["layer_from"], &g["layer_to"]),
                (
                    &w["layer_from"].as_str().unwrap().to_string(),
                    &w["layer_to"].as_str().unwrap().to_string()
                )
            );
            for k in ["i_bits", "h_from_bits", "loss_bits"] {
                close(
                    num(&g[k]),
                    w[k].as_f64().unwrap(),
                    &format!("{stem} flow {est} {k}"),
                );
            }
            assert_eq!(g["bottleneck"] == "1", w["bottleneck"].as_bool().unwrap());
            assert_eq!(g["i_bits_lower"], "");
        }
    }
    let stats = read_csv_maps(&out.join("analysis-stats.csv"));
    assert_eq!(stats.len(), 3 * layers.len());
    for r in &stats {
        let w = &doc["stats"][&r["layer"]][&r["estimator"]];
        let keys = "entropy_mean entropy_min entropy_max surprisal_mean sparsity saturation";
        for k in keys.split(' ') {
            close(
                num(&r[k]),
                w[k].as_f64().unwrap(),
                &format!("{stem} stats {} {k}", r["layer"]),
            );
        }
        assert_eq!(num(&r["dead_units"]), w["dead_units"].as_f64().unwrap());
    }
    // The JSON summary names each estimator's bottleneck, the row flagged in the CSV.
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    let b = json["bottlenecks"].as_array().unwrap();
    assert_eq!(b.len(), 3);
    for item in b {
        let flagged = flows
            .iter()
            .find(|r| {
                r["estimator"] == item["estimator"].as_str().unwrap() && r["bottleneck"] == "1"
            })
            .unwrap();
        assert_eq!(flagged["layer_from"], item["layer_from"].as_str().unwrap());
    }
    assert_eq!(json["stats"].as_array().unwrap().len(), stats.len());
    let _ = std::fs::remove_dir_all(&out);
}

/// Random layers (out-of-range values, values on every edge, NaN, ±inf, F64/F16/BF16) with and
/// without repeated inputs; both sides sum a few hundred f64 terms, far below 1e-12 apart.
#[test]
fn adaptive_flow_and_stats_match_numpy_on_random_layers() {
    check_fixture("binned_fixture", None, "i_xt");
    check_fixture(
        "binned_fixture",
        Some("binned_fixture_inputs.safetensors"),
        "i_xt_inputs",
    );
}

/// The hidden layers of a network trained (in numpy) on the 12-bit task: saturated tanh units.
#[test]
fn adaptive_flow_and_stats_match_numpy_on_trained_layers() {
    check_fixture("trained_fixture", None, "i_xt");
}

/// `probe train` names the bottlenecks of the last measured epoch; `probe analyze` on a dumped
/// epoch with the run's config reproduces that epoch's flow and stats rows byte for byte;
/// `--no-flow` turns the flow off and `--saturation` sets the threshold.
#[test]
fn analyze_reproduces_the_flow_and_stats_of_a_training_dump() {
    let dir = tmp_dir("train");
    let cfg = dir.join("run.toml");
    std::fs::write(&cfg, flow_config()).unwrap();
    let run = dir.join("run");
    let err = succeeds(&["train", "--config", s(&cfg), "--out", s(&run)]);
    assert!(
        err.contains("epoch 3 bottleneck (adaptive): layers."),
        "{err}"
    );
    assert!(err.contains("epoch 3 bottleneck (kde): layers."), "{err}");
    let out = dir.join("analysis");
    let mut args = vec![
        "analyze".to_string(),
        "--activations".into(),
        s(&run.join("activations-epoch3.safetensors")).into(),
        "--labels".into(),
        s(&run.join("labels.safetensors")).into(),
        "--inputs".into(),
        s(&run.join("inputs.safetensors")).into(),
        "--config".into(),
        s(&run.join("config.toml")).into(),
        "--out".into(),
        s(&out).into(),
        "-q".into(),
    ];
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    succeeds(&argv);
    let lines = |p: &Path, epoch: &str| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .skip(1)
            .filter(|l| l.starts_with(&format!("{epoch},")))
            .map(String::from)
            .collect()
    };
    for (train, analysis) in [
        ("flow.csv", "analysis-flow.csv"),
        ("stats.csv", "analysis-stats.csv"),
    ] {
        let want = lines(&run.join(train), "3");
        assert!(!want.is_empty());
        assert_eq!(lines(&out.join(analysis), "3"), want, "{analysis}");
    }

    // Switches: analyze flags, then the config keys.
    args.extend([
        "--overwrite".into(),
        "--no-flow".into(),
        "--saturation".into(),
        "0.5".into(),
    ]);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    succeeds(&argv);
    assert!(
        !out.join("analysis-flow.csv").exists(),
        "--no-flow removes the stale file"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    assert!(json["flow"].is_null() && json["bottlenecks"].is_null());
    assert_eq!(json["saturation_threshold"], 0.5);
    // Without a binned-family estimator the statistics have no bins: empty entropy columns.
    let only_kde = dir.join("only-kde");
    analyze(
        &run.join("activations-epoch3.safetensors"),
        &run.join("labels.safetensors"),
        &["--estimator", "kde", "--sigma2", "0.01"],
        &only_kde,
    );
    let rows = read_csv_maps(&only_kde.join("analysis-stats.csv"));
    assert_eq!(rows.len(), 3);
    for r in &rows {
        assert!(
            r["estimator"].is_empty() && r["entropy_mean"].is_empty(),
            "{r:?}"
        );
        assert!(
            num(&r["sparsity"]) >= 0.0 && !r["dead_units"].is_empty(),
            "{r:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_analyze_flags_fail_with_messages_naming_the_flag() {
    let f = fixtures();
    let acts = f.join("binned_fixture.safetensors");
    let labels = f.join("binned_fixture_labels.safetensors");
    let dir = tmp_dir("errors");
    let out = dir.join("out");
    let base = [
        "analyze",
        "--activations",
        s(&acts),
        "--labels",
        s(&labels),
        "--out",
        s(&out),
    ];
    let with = |extra: &[&'static str]| -> Vec<String> {
        base.iter().chain(extra).map(|a| a.to_string()).collect()
    };
    let run = |extra: &[&'static str], parts: &[&str]| {
        let args = with(extra);
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        fails(&argv, parts);
    };
    run(
        &["--bins", "10"],
        &["--bins applies to --estimator adaptive"],
    );
    run(
        &["--estimator", "adaptive", "--bins", "0"],
        &["--bins", "Adaptive bins = 0"],
    );
    run(
        &["--saturation", "0"],
        &["--saturation", "expected a finite threshold > 0"],
    );
    let _ = std::fs::remove_dir_all(&dir);
}
