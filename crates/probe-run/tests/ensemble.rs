//! `train.repeats`, in process: a seed ensemble's per-seed rows (metrics, information plane,
//! gradients) and weights equal those of single runs of the same seeds byte for byte on the CPU;
//! the mean table is the mean and sample standard deviation of those rows; an ensemble resumes
//! bit-identically.

use std::collections::BTreeMap;

#[macro_use]
mod common;
use common::{
    assert_tables_match_files, deep_tishby, lines, stop_and_resume, tmp_dir, toml_opts, train,
};

fn config(repeats: usize, extra_train: &str) -> String {
    deep_tishby(
        "ens",
        &format!("epochs = 8\ncheckpoint_every = 3\nrepeats = {repeats}\n{extra_train}"),
        r#"schedule = "every_k"
every = 4
on = "all"
gradients = true
flow = false
stats = false
estimators = [
    { kind = "binned" },
    { kind = "kde", sigma2 = 0.01 },
]
"#,
    )
}

on_both_paths!(
    replicas_equal_singles,
    "ens-eq",
    ensemble_rows_and_weights_equal_single_runs,
    ensemble_rows_and_weights_equal_single_runs_on_the_candle_path
);

fn replicas_equal_singles(tag: &str, extra_train: &str) {
    let tmp = tmp_dir(tag);
    let ens = tmp.join("ens");
    let cfg3 = config(3, extra_train);
    let outcome = train(&toml_opts(&cfg3, &ens));
    assert_tables_match_files(&outcome);
    let cfg1 = config(1, extra_train);
    let ens_metrics = lines(&ens.join("metrics.csv"));
    let ens_plane = lines(&ens.join("infoplane.csv"));
    let ens_grads = lines(&ens.join("gradients.csv"));
    assert!(ens_plane[0].starts_with("seed,epoch,layer,estimator,i_xt,i_ty"));
    for seed in [5u64, 6, 7] {
        let single = tmp.join(format!("s{seed}"));
        let mut opts = toml_opts(&cfg1, &single);
        opts.seed = Some(seed);
        train(&opts);
        // Per-seed rows: the single run's rows with the seed in front.
        for (file, ens_rows) in [("metrics.csv", &ens_metrics), ("infoplane.csv", &ens_plane)] {
            let want: Vec<String> = lines(&single.join(file))[1..]
                .iter()
                .map(|l| format!("{seed},{l}"))
                .collect();
            let got: Vec<String> = ens_rows[1..]
                .iter()
                .filter(|l| l.starts_with(&format!("{seed},")))
                .cloned()
                .collect();
            assert_eq!(got, want, "{file} of seed {seed}");
        }
        let want: Vec<String> = lines(&single.join("gradients.csv"))[1..].to_vec();
        let got: Vec<String> = ens_grads[1..]
            .iter()
            .filter(|l| l.split(',').nth(1) == Some(&seed.to_string()))
            .cloned()
            .collect();
        assert_eq!(got, want, "gradients.csv of seed {seed}");
        assert_eq!(
            std::fs::read(single.join("model.safetensors")).unwrap(),
            std::fs::read(ens.join(format!("model-seed{seed}.safetensors"))).unwrap(),
            "weights of seed {seed}"
        );
    }
    // The mean table against the per-seed rows.
    let mut groups: BTreeMap<(String, String, String), Vec<(f64, f64)>> = BTreeMap::new();
    for l in &ens_plane[1..] {
        let f: Vec<&str> = l.split(',').collect();
        groups
            .entry((f[1].into(), f[2].into(), f[3].into()))
            .or_default()
            .push((f[4].parse().unwrap(), f[5].parse().unwrap()));
    }
    let mean = lines(&ens.join("infoplane_mean.csv"));
    assert_eq!(
        mean[0],
        "epoch,layer,estimator,seeds,i_xt_mean,i_xt_std,i_ty_mean,i_ty_std"
    );
    assert_eq!(mean.len() - 1, groups.len());
    for l in &mean[1..] {
        let f: Vec<&str> = l.split(',').collect();
        let v = &groups[&(f[0].into(), f[1].into(), f[2].into())];
        assert_eq!(f[3], "3");
        let m: f64 = v.iter().map(|p| p.0).sum::<f64>() / 3.0;
        let sd = (v.iter().map(|p| (p.0 - m).powi(2)).sum::<f64>() / 2.0).sqrt();
        let got_m: f64 = f[4].parse().unwrap();
        let got_s: f64 = f[5].parse().unwrap();
        assert!(
            (got_m - m).abs() < 1e-12 && (got_s - sd).abs() < 1e-12,
            "{l}"
        );
    }
    for f in [
        "infoplane.png",
        "infoplane-kde.png",
        "infoplane-band.png",
        "infoplane-kde-band.svg",
        "gradients.png",
    ] {
        assert!(ens.join(f).is_file(), "{f} missing");
    }

    // Stopped after epoch 5 and resumed: the same files.
    stop_and_resume(
        &cfg3,
        &tmp.join("cut"),
        5,
        &ens,
        &[
            "metrics.csv",
            "infoplane.csv",
            "infoplane_mean.csv",
            "gradients.csv",
            "model-seed6.safetensors",
        ],
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
