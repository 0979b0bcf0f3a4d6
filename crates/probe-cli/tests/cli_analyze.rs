//! End-to-end tests of `probe analyze` (the real binary): it gives exactly the values the library
//! gives on files of every float dtype, matches the numpy reference fixture, reads what
//! `probe train` dumps back to the very same infoplane rows, and fails with messages that name the
//! file, tensor or flag.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use probe_estimators::{binned_mi_tensor, exact_symbols, kde_mi, ksg_mi, Binning};

mod common;
use common::{
    analyze, fails, fixtures, num, read_csv, s, small_tishby, succeeds, tmp_dir, BINNED_AND_FLOOR,
    INFOPLANE_HEADER,
};

fn save(path: &Path, tensors: &[(&str, Tensor)]) {
    let map: HashMap<String, Tensor> = tensors
        .iter()
        .map(|(n, t)| (n.to_string(), t.clone()))
        .collect();
    candle_core::safetensors::save(&map, path).unwrap();
}

/// Deterministic values in [0, 1) (xorshift64*), so the tests need no RNG crate.
fn uniform(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            (s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40) as f32 / (1u64 << 24) as f32
        })
        .collect()
}

/// `n × d` values in [-1.3, 1.3): some beyond the binned range on both sides.
fn acts(n: usize, d: usize, seed: u64) -> Vec<f32> {
    uniform(n * d, seed)
        .into_iter()
        .map(|u| 2.6 * u - 1.3)
        .collect()
}

#[test]
fn analyze_gives_the_library_values_for_every_dtype_and_estimator() {
    let dir = tmp_dir("library");
    let n = 240;
    let dev = Device::Cpu;
    let layers: Vec<(&str, Tensor)> = vec![
        (
            "layers.0",
            Tensor::from_vec(acts(n, 4, 1), (n, 4), &dev).unwrap(),
        ),
        (
            "layers.1",
            Tensor::from_vec(acts(n, 3, 2), (n, 3), &dev)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap()
                .affine(1.0, 1e-9) // not representable in f32: probe rounds F64 to f32
                .unwrap(),
        ),
        (
            "layers.2",
            Tensor::from_vec(acts(n, 4, 3), (n, 2, 2), &dev)
                .unwrap()
                .to_dtype(DType::F16)
                .unwrap(),
        ),
        (
            "layers.10",
            Tensor::from_vec(acts(n, 2, 4), (n, 2), &dev)
                .unwrap()
                .to_dtype(DType::BF16)
                .unwrap(),
        ),
    ];
    let y: Vec<u8> = uniform(n, 5).iter().map(|u| (u * 3.0) as u8).collect();
    let x: Vec<f32> = uniform(n * 2, 6)
        .iter()
        .map(|u| (u * 5.0).floor())
        .collect();
    let (a, l, i) = (
        dir.join("acts.safetensors"),
        dir.join("labels.safetensors"),
        dir.join("inputs.safetensors"),
    );
    save(&a, &layers);
    save(&l, &[("y", Tensor::from_vec(y.clone(), n, &dev).unwrap())]);
    save(
        &i,
        &[("x", Tensor::from_vec(x.clone(), (n, 2), &dev).unwrap())],
    );
    let out = dir.join("out");
    analyze(
        &a,
        &l,
        &[
            &["--inputs", s(&i)][..],
            &BINNED_AND_FLOOR,
            &[
                "--estimator",
                "kde",
                "--sigma2",
                "0.05",
                "--estimator",
                "knn",
                "--k",
                "3",
                "--edges",
                "20",
                "--lo",
                "-1.1",
            ],
        ]
        .concat(),
        &out,
    );
    for f in [
        "analysis.csv",
        "analysis.json",
        "analysis.png",
        "analysis.svg",
        "analysis-floor.png",
        "analysis-kde.svg",
        "analysis-knn.png",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }

    let y32: Vec<u32> = y.iter().map(|&v| u32::from(v)).collect();
    let x_ids = exact_symbols(&x, n, 2).unwrap().ids;
    assert!(
        x_ids.iter().max().unwrap() + 1 < n as u32,
        "the inputs must repeat"
    );
    let (header, rows) = read_csv(&out.join("analysis.csv"));
    assert_eq!(header.join(","), INFOPLANE_HEADER);
    // Natural layer order (layers.10 last), estimators in flag order.
    let order: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r[1].as_str(), r[2].as_str()))
        .collect();
    let mut want = Vec::new();
    for layer in ["layers.0", "layers.1", "layers.2", "layers.10"] {
        for est in ["binned", "floor", "kde", "knn"] {
            want.push((layer, est));
        }
    }
    assert_eq!(order, want);

    for r in &rows {
        assert_eq!(r[0], "", "no epoch in the file: empty column");
        let t = &layers.iter().find(|(name, _)| *name == r[1]).unwrap().1;
        let (i_xt, i_ty) = (num(&r[3]), num(&r[4]));
        match r[2].as_str() {
            "binned" | "floor" => {
                let b = if r[2] == "binned" {
                    Binning::fixed(-1.1, 1.0, 20)
                } else {
                    Binning::Floor { width: 0.5 }
                };
                let mi = binned_mi_tensor(t, &b, &x_ids, &y32).unwrap();
                // The CSV holds the shortest exact decimal of each f64: equality is exact.
                assert_eq!((i_xt, i_ty), (mi.i_xt, mi.i_ty), "{r:?}");
                assert_eq!(r[5..], ["", "", ""]);
            }
            "kde" => {
                let mi = kde_mi(t, &y32, 0.05).unwrap();
                let got = [i_xt, i_ty, num(&r[5]), num(&r[6]), num(&r[7])];
                let want = [
                    mi.i_xt_upper,
                    mi.i_ty_upper,
                    mi.i_xt_lower,
                    mi.i_ty_lower,
                    0.05,
                ];
                // Same tensor, same code: equal up to the threaded matmul's summation order.
                for (g, w) in got.iter().zip(want) {
                    assert!((g - w).abs() <= 1e-12, "{r:?}: {g} vs {w}");
                }
            }
            "knn" => {
                let dims = t.dims();
                let d: usize = dims[1..].iter().product();
                let tv = t
                    .to_dtype(DType::F32)
                    .unwrap()
                    .flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
                assert_eq!(i_xt, ksg_mi(&x, 2, &tv, d, n, 3).unwrap(), "{r:?}");
                // Random activations carry no information about random labels: near 0.
                assert!(i_ty.abs() < 0.2, "{r:?}");
                assert_eq!(r[5..], ["", "", ""]);
            }
            other => panic!("unexpected estimator {other}"),
        }
    }

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("analysis.json")).unwrap()).unwrap();
    assert_eq!(json["samples"], n);
    assert_eq!(json["units"], "bits");
    let jrows = json["rows"].as_array().unwrap();
    assert_eq!(jrows.len(), rows.len());
    // probe writes the shortest exact decimal into both files, but serde_json's default parser
    // (without its `float_roundtrip` feature) may round the last bit: compare to 2 ulps.
    let close = |a: f64, b: f64| (a - b).abs() <= 4.0 * f64::EPSILON * a.abs().max(b.abs());
    for (j, r) in jrows.iter().zip(&rows) {
        assert_eq!(j["layer"], r[1].as_str());
        assert_eq!(j["estimator"], r[2].as_str());
        assert!(close(j["i_xt"].as_f64().unwrap(), num(&r[3])), "{j} {r:?}");
        assert!(close(j["i_ty"].as_f64().unwrap(), num(&r[4])), "{j} {r:?}");
        assert!(j["epoch"].is_null());
        if r[2] == "kde" {
            assert!(close(j["i_xt_lower"].as_f64().unwrap(), num(&r[5])), "{j}");
            assert_eq!(j["sigma2"], 0.05);
        } else {
            assert!(j["i_xt_lower"].is_null() && j["sigma2"].is_null(), "{j}");
        }
    }
    assert_eq!(json["estimators"][0]["params"]["edges"], 20);
    assert_eq!(json["estimators"][2]["params"]["sigma2"], 0.05);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_inputs_every_sample_is_its_own_input() {
    let dir = tmp_dir("distinct");
    let n = 64;
    // Two identical layers; inputs given only in the second run, with every row repeated once.
    let t = Tensor::from_vec(acts(n, 1, 9), (n, 1), &Device::Cpu).unwrap();
    let (a, l, i) = (
        dir.join("a.safetensors"),
        dir.join("l.safetensors"),
        dir.join("i.safetensors"),
    );
    save(&a, &[("t", t.clone())]);
    let y: Vec<i64> = (0..n as i64).map(|k| k % 2).collect();
    save(
        &l,
        &[("labels", Tensor::from_vec(y, n, &Device::Cpu).unwrap())],
    );
    let x: Vec<i64> = (0..n as i64).map(|k| k / 2).collect();
    save(&i, &[("x", Tensor::from_vec(x, n, &Device::Cpu).unwrap())]);
    for (name, extra) in [("none", vec![]), ("given", vec!["--inputs", s(&i)])] {
        let out = dir.join(name);
        let mut args = vec![
            "analyze",
            "--activations",
            s(&a),
            "--labels",
            s(&l),
            "--out",
            s(&out),
            "-q",
        ];
        args.extend(extra);
        succeeds(&args);
    }
    let tv = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let b = Binning::DEFAULT_FIXED;
    let y: Vec<u32> = (0..n as u32).map(|k| k % 2).collect();
    for (name, x_ids) in [
        ("none", (0..n as u32).collect::<Vec<_>>()),
        ("given", (0..n as u32).map(|k| k / 2).collect()),
    ] {
        let (_, rows) = read_csv(&dir.join(name).join("analysis.csv"));
        let mi = probe_estimators::binned_mi(&tv, n, 1, &b, &x_ids, &y).unwrap();
        assert_eq!(num(&rows[0][3]), mi.i_xt, "{name}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("given/analysis.json")).unwrap())
            .unwrap();
    assert_eq!(json["distinct_inputs"], n / 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn layer_order_and_epoch_come_from_the_metadata() {
    let dir = tmp_dir("order");
    let n = 20;
    let t = |seed| Tensor::from_vec(acts(n, 2, seed), (n, 2), &Device::Cpu).unwrap();
    let layers = [("b", t(1)), ("a10", t(2)), ("a9", t(3))];
    let l = dir.join("l.safetensors");
    save(
        &l,
        &[(
            "y",
            Tensor::from_vec(vec![0u32; n], n, &Device::Cpu).unwrap(),
        )],
    );
    let plain = dir.join("plain.safetensors");
    save(&plain, &layers);
    let meta = HashMap::from([
        (
            "probe.layers".to_string(),
            r#"["b", "a9", "a10"]"#.to_string(),
        ),
        ("probe.epoch".to_string(), "7".to_string()),
    ]);
    let tagged = dir.join("tagged.safetensors");
    std::fs::write(
        &tagged,
        safetensors::serialize(layers.iter().map(|(n, t)| (*n, t)), Some(meta)).unwrap(),
    )
    .unwrap();
    for (file, order, epoch) in [
        (&plain, ["a9", "a10", "b"], ""),
        (&tagged, ["b", "a9", "a10"], "7"),
    ] {
        let out = dir.join(format!("out-{epoch}"));
        succeeds(&[
            "analyze",
            "--activations",
            s(file),
            "--labels",
            s(&l),
            "--out",
            s(&out),
            "-q",
        ]);
        let (_, rows) = read_csv(&out.join("analysis.csv"));
        let got: Vec<&str> = rows.iter().map(|r| r[1].as_str()).collect();
        assert_eq!(got, order);
        assert!(rows.iter().all(|r| r[0] == epoch), "{rows:?}");
        // One class: I(T;Y) = 0 exactly.
        assert!(rows.iter().all(|r| r[4] == "0"), "{rows:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_inputs_fail_with_messages_naming_the_file_tensor_or_flag() {
    let dir = tmp_dir("errors");
    let n = 30;
    let dev = Device::Cpu;
    let t = Tensor::from_vec(acts(n, 2, 1), (n, 2), &dev).unwrap();
    let a = dir.join("a.safetensors");
    save(&a, &[("layer", t.clone())]);
    let labels = |name: &str, tensors: &[(&str, Tensor)]| {
        let p = dir.join(name);
        save(&p, tensors);
        p
    };
    let y = Tensor::from_vec((0..n as u32).map(|k| k % 3).collect::<Vec<_>>(), n, &dev).unwrap();
    let good = labels("good.safetensors", &[("y", y.clone())]);
    let short = labels(
        "short.safetensors",
        &[(
            "y",
            Tensor::from_vec(vec![0u32; n - 1], n - 1, &dev).unwrap(),
        )],
    );
    let float = labels(
        "float.safetensors",
        &[("y", Tensor::from_vec(vec![0f32; n], n, &dev).unwrap())],
    );
    let mut neg_values = vec![1i64; n];
    neg_values[4] = -2;
    let neg = labels(
        "neg.safetensors",
        &[("y", Tensor::from_vec(neg_values, n, &dev).unwrap())],
    );
    let onehot = labels(
        "onehot.safetensors",
        &[("y", Tensor::zeros((n, 3), DType::U32, &dev).unwrap())],
    );
    let two = labels("two.safetensors", &[("y", y.clone()), ("z", y.clone())]);
    let empty = labels("empty.safetensors", &[]);
    let text = dir.join("notes.safetensors");
    std::fs::write(&text, "not a tensor file").unwrap();
    let zero = dir.join("zero.safetensors");
    std::fs::write(&zero, "").unwrap();
    let ints = labels(
        "ints.safetensors",
        &[(
            "layer.int",
            Tensor::zeros((n, 2), DType::I64, &dev).unwrap(),
        )],
    );
    let ragged = labels(
        "ragged.safetensors",
        &[
            ("first", t.clone()),
            (
                "second",
                Tensor::zeros((n + 1, 2), DType::F32, &dev).unwrap(),
            ),
        ],
    );
    let out = dir.join("out");
    let run = |acts: &Path, labels: &Path, extra: &[&str], parts: &[&str]| {
        let mut args = vec![
            "analyze",
            "--activations",
            s(acts),
            "--labels",
            s(labels),
            "--out",
            s(&out),
        ];
        args.extend(extra);
        fails(&args, parts);
        assert!(
            !out.exists(),
            "a failed check must not create --out ({args:?})"
        );
    };
    let missing = dir.join("missing.safetensors");
    run(&missing, &good, &[], &["--activations", s(&missing)]);
    run(&a, &missing, &[], &["--labels", s(&missing)]);
    run(&text, &good, &[], &["not a safetensors file", s(&text)]);
    run(&zero, &good, &[], &["not a safetensors file", s(&zero)]);
    run(&empty, &good, &[], &["holds no tensors", s(&empty)]);
    run(&a, &empty, &[], &["--labels", "holds no tensors"]);
    run(
        &ints,
        &good,
        &[],
        &["\"layer.int\"", "I64", "floating point"],
    );
    run(
        &ragged,
        &good,
        &[],
        &["\"second\"", "\"first\"", "31", "30"],
    );
    run(&a, &short, &[], &["29 labels", "30 samples", s(&short)]);
    run(&a, &float, &[], &["dtype F32", "integer", s(&float)]);
    run(&a, &neg, &[], &["-2", "index 4", "negative"]);
    run(&a, &onehot, &[], &["[30, 3]", "[samples]"]);
    run(&a, &two, &[], &["--labels-key", "\"y\"", "\"z\""]);
    run(
        &a,
        &two,
        &["--labels-key", "w"],
        &["no tensor \"w\"", "\"z\""],
    );
    run(
        &a,
        &good,
        &["--estimator", "mine"],
        &["'mine'", "--estimator", "binned", "kde"],
    );
    run(
        &a,
        &good,
        &["--width", "0.5"],
        &["--width", "--estimator floor", "not selected"],
    );
    run(
        &a,
        &good,
        &["--estimator", "floor"],
        &["--width is required"],
    );
    run(
        &a,
        &good,
        &["--estimator", "kde"],
        &["--sigma2 is required"],
    );
    run(
        &a,
        &good,
        &["--estimator", "kde", "--sigma2", "-1"],
        &["--sigma2", "-1"],
    );
    run(
        &a,
        &good,
        &["--estimator", "binned", "--edges", "1"],
        &["--edges", "edges = 1"],
    );
    run(&a, &good, &["--estimator", "knn"], &["knn", "--inputs"]);
    run(
        &a,
        &good,
        &["--estimator", "binned", "--estimator", "binned"],
        &["given twice"],
    );
    run(
        &a,
        &good,
        &["--inputs", s(&short)],
        &["--inputs", "29 samples", "30"],
    );
    run(
        &a,
        &good,
        &["--inputs-key", "x"],
        &["--inputs-key needs --inputs"],
    );
    run(
        &a,
        &good,
        &[
            "--config",
            "configs/tishby_tanh.toml",
            "--estimator",
            "floor",
        ],
        &["--config", "--estimator"],
    );

    // An existing, non-empty --out needs --overwrite, which then replaces only analyze's files.
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    std::fs::write(out.join("analysis-old.png"), "stale").unwrap();
    let args = [
        "analyze",
        "--activations",
        s(&a),
        "--labels",
        s(&good),
        "--out",
        s(&out),
        "-q",
    ];
    fails(&args, &["--overwrite", s(&out)]);
    let mut with = args.to_vec();
    with.push("--overwrite");
    succeeds(&with);
    assert_eq!(
        std::fs::read_to_string(out.join("notes.txt")).unwrap(),
        "mine"
    );
    assert!(!out.join("analysis-old.png").exists(), "stale plot kept");
    assert!(out.join("analysis.csv").is_file());

    // kde on a layer holding NaN fails with a clear message, and leaves no empty directory
    // behind (the output directory is made before the work, and removed again on failure)
    let mut v = acts(n, 2, 1);
    v[7] = f32::NAN;
    let nan = dir.join("nan.safetensors");
    save(
        &nan,
        &[("layer", Tensor::from_vec(v, (n, 2), &dev).unwrap())],
    );
    let nan_out = dir.join("nan-out");
    fails(
        &[
            "analyze",
            "--activations",
            s(&nan),
            "--labels",
            s(&good),
            "--estimator",
            "kde",
            "--sigma2",
            "0.1",
            "--out",
            s(&nan_out),
        ],
        &["kde", "layer"],
    );
    assert!(
        !nan_out.exists(),
        "a failed analysis left {}",
        nan_out.display()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Golden values from `scripts/make_binned_fixture.py` (numpy's digitize with probe's clamping,
/// plug-in entropies with math.fsum). Both sides sum a few hundred terms in f64, so they agree far
/// below the 1e-12 bits asked for; a single misplaced value would move a value by about 1e-3.
#[test]
fn binned_and_floor_match_the_numpy_fixture() {
    let f = fixtures();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(f.join("binned_fixture.json")).unwrap())
            .unwrap();
    let layers = doc["layers"].as_object().unwrap();
    let dir = tmp_dir("fixture");
    for (name, key, extra) in [
        ("distinct", "i_xt", vec![]),
        (
            "inputs",
            "i_xt_inputs",
            vec![
                "--inputs".to_string(),
                s(&f.join("binned_fixture_inputs.safetensors")).to_string(),
            ],
        ),
    ] {
        let out = dir.join(name);
        let mut flags = BINNED_AND_FLOOR.to_vec();
        flags.extend(extra.iter().map(String::as_str));
        analyze(
            &f.join("binned_fixture.safetensors"),
            &f.join("binned_fixture_labels.safetensors"),
            &flags,
            &out,
        );
        let (_, rows) = read_csv(&out.join("analysis.csv"));
        assert_eq!(rows.len(), 2 * layers.len());
        for r in &rows {
            let want = &layers[&r[1]][&r[2]];
            for (col, k) in [(3, key), (4, "i_ty")] {
                let (got, want) = (num(&r[col]), want[k].as_f64().unwrap());
                assert!(
                    (got - want).abs() <= 1e-12,
                    "{} {} {k}: probe {got}, numpy {want}",
                    r[1],
                    r[2]
                );
            }
            if r[2] == "binned"
                && ["l0.uniform", "l1.edges", "l4.specials"].contains(&r[1].as_str())
            {
                // These layers have values below -1: IDNNs' wrap-around would give other numbers.
                let wrapped = layers[&r[1]]["idnns_wraparound"]["i_xt"].as_f64().unwrap();
                assert!((num(&r[3]) - wrapped).abs() > 1e-3, "{r:?}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `measure.dump_activations` writes what `probe analyze` reads: analysing a dump with the run's
/// own config reproduces that epoch's infoplane.csv rows byte for byte, for every estimator.
#[test]
fn analyze_on_a_training_dump_reproduces_the_infoplane_rows() {
    let dir = tmp_dir("dump");
    let cfg = dir.join("dump.toml");
    let config = small_tishby(
        "dump",
        4,
        r#"hooks = ["layers.*.hook_post", "layers.1.hook_pre"]
dump_activations = [2, 4]
estimators = [
    { kind = "binned", edges = 12 },
    { kind = "floor", name = "saxe", width = 0.07 },
    { kind = "kde", sigma2 = 0.001 },
    { kind = "knn", k = 3 },
]
"#,
    );
    std::fs::write(&cfg, &config).unwrap();
    let run = dir.join("run");
    succeeds(&["train", "--config", s(&cfg), "--quiet", "--out", s(&run)]);
    let mut files: Vec<String> = std::fs::read_dir(&run)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".safetensors"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "activations-epoch2.safetensors",
            "activations-epoch4.safetensors",
            "checkpoint.safetensors",
            "inputs.safetensors",
            "labels.safetensors",
            "model.safetensors"
        ]
    );
    let (header, train_rows) = read_csv(&run.join("infoplane.csv"));
    assert_eq!(header.join(","), INFOPLANE_HEADER);
    assert!(train_rows
        .iter()
        .filter(|r| r[2] == "kde")
        .all(|r| !r[5].is_empty() && !r[6].is_empty() && r[7] == "0.001"));
    for epoch in ["2", "4"] {
        let out = dir.join(format!("analysis-{epoch}"));
        succeeds(&[
            "analyze",
            "--activations",
            s(&run.join(format!("activations-epoch{epoch}.safetensors"))),
            "--labels",
            s(&run.join("labels.safetensors")),
            "--inputs",
            s(&run.join("inputs.safetensors")),
            "--config",
            s(&run.join("config.toml")),
            "--out",
            s(&out),
            "-q",
        ]);
        let (header, rows) = read_csv(&out.join("analysis.csv"));
        assert_eq!(header.join(","), INFOPLANE_HEADER);
        let want: Vec<&Vec<String>> = train_rows.iter().filter(|r| r[0] == epoch).collect();
        assert_eq!(want.len(), 4 * 4, "4 hooks × 4 estimators");
        assert_eq!(rows.iter().collect::<Vec<_>>(), want, "epoch {epoch}");
    }

    // A new run into the same directory with --overwrite leaves no stale dump behind.
    std::fs::write(
        &cfg,
        config.replace("dump_activations = [2, 4]", "dump_activations = [3]"),
    )
    .unwrap();
    succeeds(&[
        "train",
        "--config",
        s(&cfg),
        "--quiet",
        "--out",
        s(&run),
        "--overwrite",
    ]);
    assert!(run.join("activations-epoch3.safetensors").is_file());
    assert!(!run.join("activations-epoch2.safetensors").exists());
    assert!(!run.join("activations-epoch4.safetensors").exists());
    let _ = std::fs::remove_dir_all(&dir);
}
