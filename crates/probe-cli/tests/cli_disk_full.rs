//! A full disk (issue 17), simulated without root: `probe train` runs under `ulimit -f N`
//! (RLIMIT_FSIZE; writes past N blocks of 512 bytes fail with EFBIG, "File too large", SIGXFSZ
//! ignored), so the first file to grow past the limit fails as on a full disk. The run must end
//! with an error naming the file, leave every file it finished whole (no temporary file, CSVs of
//! whole lines, a checkpoint that verifies), and after "freeing space" (the same command without
//! the limit) the documented remedy — `probe train --resume DIR` — must end with the run
//! directory byte-identical to the run's that never hit the limit.

use std::path::Path;
use std::process::{Command, Output};

mod common;
use common::{
    assert_mentions, assert_same_dirs, deep_tishby, dir_files, ok, probe, quiet_train_args, root,
    s, tmp_dir, train_quietly,
};

/// The 12-bit MLP for 40 epochs, measured every epoch (the CSVs grow by about 2 KB per epoch),
/// checkpointed every 10th. Its files: checkpoint 8.5 KB, CSVs up to 29 KB, figures 100-175 KB.
fn disk_config() -> String {
    deep_tishby(
        "disk",
        "epochs = 40\ncheckpoint_every = 10",
        r#"schedule = "every"
on = "all"
[[measure.estimators]]
kind = "binned"
"#,
    )
}

/// `probe train --config CONFIG --out OUT -q` with files limited to `blocks` × 512 bytes.
fn train_limited(config: &Path, out: &Path, blocks: usize) -> Output {
    Command::new("/bin/sh")
        .args([
            "-c",
            &format!("trap '' XFSZ; ulimit -f {blocks}; exec \"$0\" \"$@\""),
            env!("CARGO_BIN_EXE_probe"),
        ])
        .args(quiet_train_args(config, out))
        .current_dir(root())
        .output()
        .expect("run probe under sh")
}

/// Asserts the run failed with a message naming `file` and the cause, and left nothing torn.
fn assert_failed_cleanly(o: &Output, dir: &Path, file: &str) -> String {
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let path = dir.join(file).display().to_string();
    assert_mentions(&err, &[&path, "File too large"]);
    assert_eq!(
        err.matches("File too large").count(),
        1,
        "cause said twice: {err}"
    );
    for (name, bytes) in dir_files(dir) {
        assert!(!name.contains(".tmp."), "temporary file left: {name}");
        if name.ends_with(".csv") {
            assert!(bytes.ends_with(b"\n"), "{name} ends inside a line");
        }
    }
    err
}

/// Setup: the config file and the run without a limit (ground truth).
fn setup(tag: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let tmp = tmp_dir(tag);
    let config = tmp.join("disk.toml");
    std::fs::write(&config, disk_config()).unwrap();
    let full = tmp.join("full");
    train_quietly(&config, &full);
    (tmp, config, full)
}

#[test]
fn a_full_disk_during_the_run_is_named_and_resume_after_freeing_space_ends_as_the_full_run() {
    // 24 KB per file: stats.csv (the largest table) outgrows it after epoch 30's checkpoint.
    let (tmp, config, full) = setup("cli-disk-run");
    let cut = tmp.join("cut");
    let err = assert_failed_cleanly(&train_limited(&config, &cut, 48), &cut, "stats.csv");
    assert_mentions(
        &err,
        &[
            "run stopped at epoch",
            "the last good checkpoint (epoch 30)",
            &format!("probe train --resume {}", cut.display()),
        ],
    );
    // Space freed: resume continues from the checkpoint (verifying its checksums) to the end.
    ok(&probe(&["train", "--resume", s(&cut), "-q"]));
    assert_same_dirs(&full, &cut);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_full_disk_at_the_figures_is_named_and_resume_or_plot_draws_them() {
    // 64 KB per file: every table, checkpoint and the weights fit; the figures do not.
    let (tmp, config, full) = setup("cli-disk-end");
    let cut = tmp.join("cut");
    let err = assert_failed_cleanly(&train_limited(&config, &cut, 128), &cut, "infoplane.png");
    assert!(
        err.contains("trained all 40 epochs")
            && err.contains(&format!("probe train --resume {}", cut.display())),
        "{err}"
    );
    assert!(!cut.join("infoplane.png").exists());
    // Space freed: resume finishes the run again from its last checkpoint, training nothing.
    ok(&probe(&["train", "--resume", s(&cut), "-q"]));
    assert_same_dirs(&full, &cut);
    // Once everything is written, resume has nothing to do and says how to redraw.
    let o = probe(&["train", "--resume", s(&cut)]);
    let msg = String::from_utf8_lossy(&o.stderr);
    assert!(
        msg.contains("already finished all 40 epochs")
            && msg.contains(&format!("probe plot {}", cut.display())),
        "{msg}"
    );
    // The weights lost too (a full disk hits any file): resume writes them again.
    for f in ["model.safetensors", "infoplane.png", "infoplane.svg"] {
        std::fs::remove_file(cut.join(f)).unwrap();
    }
    ok(&probe(&["train", "--resume", s(&cut), "-q"]));
    assert_same_dirs(&full, &cut);
    // And `probe plot` redraws the figures alone.
    for f in ["infoplane.png", "infoplane.svg"] {
        std::fs::remove_file(cut.join(f)).unwrap();
    }
    ok(&probe(&["plot", s(&cut)]));
    assert_same_dirs(&full, &cut);
    std::fs::remove_dir_all(&tmp).unwrap();
}
