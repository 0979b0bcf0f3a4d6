//! Reliability through the real binary (issue 17): SIGTERM and SIGINT stop a run after the batch
//! it is in (or the epoch, when the signal arrives during a measurement), with a checkpoint and its tables, no temporary files, exit code 128 + the signal and
//! how to resume; the resumed run continues exactly. A second signal exits at once. Flag values
//! and files that were misreported are named. (The library's side: probe-run's
//! `reliability*.rs`.)

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{assert_same_files, ok, probe, root, s, tmp_dir};

/// Starts `probe train` on the 8000-epoch tishby_tanh config into `out`, quietly.
fn start(out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_probe"))
        .args([
            "train",
            "--config",
            "configs/tishby_tanh.toml",
            "-q",
            "--out",
            s(out),
        ])
        .current_dir(root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start probe")
}

/// Waits until the run in `out` has finished some epochs (its metrics.csv has rows).
fn wait_for_epochs(out: &Path) {
    let t = Instant::now();
    while std::fs::read_to_string(out.join("metrics.csv")).map_or(true, |m| m.lines().count() < 3) {
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "the run did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Starts the run into `out`, sends it each of `signals` (flags of `kill`, e.g. `-TERM`) once it
/// has finished some epochs, and waits for it to exit.
fn signalled(out: &Path, signals: &[&str]) -> Output {
    let child = start(out);
    wait_for_epochs(out);
    for sig in signals {
        signal(&child, sig);
    }
    child.wait_with_output().unwrap()
}

/// The `epoch` of the checkpoint in `dir`, from its header.
fn checkpoint_epoch(dir: &Path) -> usize {
    let bytes = std::fs::read(dir.join("checkpoint.safetensors")).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    meta.metadata().as_ref().unwrap()["epoch"].parse().unwrap()
}

fn temporary_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp."))
        .collect()
}

#[test]
fn sigterm_stops_with_a_checkpoint_and_resume_continues_exactly() {
    let tmp = tmp_dir("cli-rel-term");
    let cut = tmp.join("cut");
    let o = signalled(&cut, &["-TERM"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(143), "{err}");
    // The signal arrives where it arrives: inside an epoch (stopped after its batch) or during a
    // measurement (stopped after the epoch); `cli_stop_batch.rs` aims at an epoch.
    assert!(
        (err.contains("interrupted by a signal after epoch") || err.contains("of its batches"))
            && err.contains(&format!("probe train --resume {}", cut.display())),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(temporary_files(&cut), Vec::<String>::new());
    let e = checkpoint_epoch(&cut);
    let rows = std::fs::read_to_string(cut.join("metrics.csv")).unwrap();
    assert_eq!(
        rows.lines().count(),
        1 + e,
        "the tables hold every epoch up to the checkpoint"
    );

    // Resumed for two more epochs, it ends where a run stopped there uninterrupted ends.
    let stop = (e + 2).to_string();
    ok(&probe(&[
        "train",
        "--resume",
        s(&cut),
        "--stop-after",
        &stop,
        "-q",
    ]));
    let full = tmp.join("full");
    ok(&probe(&[
        "train",
        "--config",
        "configs/tishby_tanh.toml",
        "--out",
        s(&full),
        "--stop-after",
        &stop,
        "-q",
    ]));
    assert_same_files(
        &full,
        &cut,
        &[
            "metrics.csv",
            "infoplane.csv",
            "flow.csv",
            "stats.csv",
            "checkpoint.safetensors",
        ],
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_second_sigint_exits_at_once_and_leaves_finished_files_whole() {
    let tmp = tmp_dir("cli-rel-int");
    let out = tmp.join("run");
    let o = signalled(&out, &["-INT", "-INT"]);
    assert_eq!(
        o.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Whatever was written is whole: the config parses, the tables are complete lines.
    let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(cfg.contains("name = \"tishby_tanh\""), "{cfg}");
    let m = std::fs::read_to_string(out.join("metrics.csv")).unwrap();
    assert!(m.ends_with('\n') && m.lines().count() >= 3, "{m}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

/// Asserts `probe ARGS` failed with exit code `code` and a message holding every one of `words`.
fn fails(args: &[&str], code: i32, words: &[&str]) {
    let o = probe(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    for w in words {
        assert!(err.contains(w), "{args:?}: missing {w:?} in: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn flag_values_and_files_are_named() {
    let tmp = tmp_dir("cli-rel-flags");
    let cfg = "configs/tishby_tanh.toml";
    let out = tmp.join("run");
    // Usage errors (clap's exit code 2) naming the flag and what it expects.
    for v in ["0", "-5", "x"] {
        fails(
            &["train", "--config", cfg, "--epochs", v, "--out", s(&out)],
            2,
            &["--epochs", "at least 1"],
        );
        fails(
            &[
                "train",
                "--config",
                cfg,
                "--stop-after",
                v,
                "--out",
                s(&out),
            ],
            2,
            &["--stop-after", "at least 1"],
        );
    }
    fails(
        &[
            "train",
            "--config",
            cfg,
            "--epochs",
            "3",
            "--stop-after",
            "5",
            "--out",
            s(&out),
        ],
        1,
        &["--stop-after", "3 epochs"],
    );
    fails(
        &["train", "--config", cfg, "--lr", "-0.1", "--out", s(&out)],
        1,
        &["--lr", "positive"],
    );
    assert!(!out.exists());

    // Invalid UTF-8: the line and column of the first bad byte.
    let bad = tmp.join("bad.toml");
    let mut bytes = b"name = \"x\"\nseed = 0\n# caf".to_vec();
    bytes.extend([0xe9, b'\n']);
    std::fs::write(&bad, bytes).unwrap();
    fails(
        &["train", "--config", s(&bad), "--out", s(&out)],
        1,
        &[s(&bad), "line 3, column 6", "UTF-8"],
    );

    // A name that leaves runs/, with --quiet: refused, nothing created anywhere.
    let escape = tmp.join("escape.toml");
    let text = std::fs::read_to_string(root().join(cfg))
        .unwrap()
        .replace("name = \"tishby_tanh\"", "name = \"../../escape\"");
    std::fs::write(&escape, text).unwrap();
    fails(
        &["train", "--config", s(&escape), "-q"],
        1,
        &["`name`", "--out DIR"],
    );
    assert!(!root().join("../escape").exists());
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn probe_plot_redraws_the_figures_a_run_drew() {
    // After a full disk, a run's CSVs are whole but its figures may be missing: `probe plot`
    // draws them again, the same bytes the run drew.
    let tmp = tmp_dir("cli-rel-plot");
    let out = tmp.join("run");
    ok(&common::train_one_quiet_epoch(&out));
    let figures = ["infoplane.png", "infoplane.svg"];
    let drawn: Vec<Vec<u8>> = figures
        .iter()
        .map(|f| std::fs::read(out.join(f)).unwrap())
        .collect();
    for f in figures {
        std::fs::remove_file(out.join(f)).unwrap();
    }
    ok(&probe(&["plot", s(&out)]));
    for (f, want) in figures.iter().zip(&drawn) {
        assert!(&std::fs::read(out.join(f)).unwrap() == want, "{f} differs");
    }
    // Not a run directory: named.
    fails(&["plot", s(&tmp)], 1, &[s(&tmp), "not a run directory"]);
    std::fs::remove_dir_all(&tmp).unwrap();
}
