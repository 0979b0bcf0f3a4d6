//! End-to-end tests of the real `probe` binary's `train` path: the README command (shortened)
//! writes the run directory and says where it is, and every `--help` runs. The pipeline's values
//! and ground truths are tested in process in `crates/probe-run/tests/`.

mod common;
use common::{ok, probe, tmp_dir, train_one_quiet_epoch};

/// `cargo run --release -- train --config configs/tishby_tanh.toml` of the README, with
/// `--epochs 3` and `--out` to stay short and out of the repository.
#[test]
fn readme_command_writes_the_run_directory() {
    let tmp = tmp_dir("readme");
    let out = tmp.join("run");
    let o = probe(&[
        "train",
        "--config",
        "configs/tishby_tanh.toml",
        "--epochs",
        "3",
        "--out",
        out.to_str().unwrap(),
    ]);
    ok(&o);
    for f in [
        "config.toml",
        "metrics.csv",
        "infoplane.csv",
        "flow.csv",
        "stats.csv",
        "model.safetensors",
        "infoplane.png",
        "infoplane.svg",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    assert!(
        out.join("checkpoint.safetensors").is_file(),
        "a finished run keeps its last checkpoint (--resume DIR --epochs N extends it)"
    );
    let png = std::fs::read(out.join("infoplane.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let metrics = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 3, "{metrics}");
    let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        cfg.contains("epochs = 3") && cfg.contains("device = \"cpu\""),
        "{cfg}"
    );
    // Without --quiet the last lines say what was trained, where the results are, and the
    // bottleneck of the last measured epoch.
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("trained 3 epochs on cpu")
            && err.contains(&format!("results in {}", out.display()))
            && err.contains("epoch 3 bottleneck (binned): layers."),
        "{err}"
    );
    // --quiet prints only where the run writes, one line on stderr.
    let o = train_one_quiet_epoch(&tmp.join("quiet"));
    ok(&o);
    let want = format!("run directory: {}\n", tmp.join("quiet").display());
    assert!(o.stderr == want.as_bytes() && o.stdout.is_empty(), "{o:?}");
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn every_help_runs() {
    for (args, parts) in [
        (&["--help"][..], &["train", "analyze", "plot-sweep"][..]),
        (
            &["train", "--help"],
            &["--config", "--resume", "--stop-after"],
        ),
        (
            &["analyze", "--help"],
            &["--activations", "--labels", "Example:"],
        ),
        (&["plot-sweep", "--help"], &["--csv", "--out"]),
    ] {
        let o = probe(args);
        ok(&o);
        let text = String::from_utf8_lossy(&o.stdout);
        for p in parts {
            assert!(
                text.contains(p),
                "probe {args:?} should mention {p}:\n{text}"
            );
        }
    }
}
