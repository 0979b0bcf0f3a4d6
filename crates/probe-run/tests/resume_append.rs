//! Resume under the appended output design (issue 19): the tables grow by appending and a
//! checkpoint keeps only each table's mark (rows, bytes, hash), never the tables. A run killed
//! between two checkpoints — its CSVs already holding rows of epochs after the last checkpoint and
//! ending in a torn line — resumes to files byte-identical to the uninterrupted run's, every file
//! of the directory compared; a single model and a seed ensemble (`infoplane_mean.csv`) alike. A
//! table changed or lost after its checkpoint is refused with its name and the way out.

use std::io::Write;
use std::path::Path;

use candle_core::Device;
use probe_train::checkpoint::Checkpoint;

mod common;
use common::{
    assert_same_dirs, crash_after, deep_tishby, dir_files, resume_config, resume_opts, tmp_dir,
    toml_opts, train, train_err, train_stopped,
};

/// Appends a line cut in the middle (what a kill during a write can leave) to every CSV of `dir`.
fn tear_csvs(dir: &Path) {
    for name in dir_files(dir).into_keys().filter(|n| n.ends_with(".csv")) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(dir.join(&name))
            .unwrap();
        f.write_all(b"99,0.12").unwrap();
    }
}

/// The single-model config of the resume tests (binned, flow and stats, gradients; measured
/// every 3rd epoch) and a 3-seed ensemble with binned and adaptive.
fn configs() -> [(&'static str, String); 2] {
    let train = "epochs = 12\ncheckpoint_every = 4";
    [
        ("single", resume_config(train, "")),
        (
            "ensemble",
            deep_tishby(
                "ens",
                &format!("{train}\nrepeats = 3"),
                "schedule = \"every_k\"\nevery = 3\non = \"all\"\n\
                 [[measure.estimators]]\nkind = \"binned\"\n\
                 [[measure.estimators]]\nkind = \"adaptive\"\nbins = 12\n",
            ),
        ),
    ]
}

#[test]
fn killed_between_checkpoints_with_torn_lines_resumes_byte_identically() {
    let tmp = tmp_dir("append-kill");
    for (tag, cfg) in configs() {
        let full = tmp.join(format!("{tag}-full"));
        train(&toml_opts(&cfg, &full));

        // Checkpoint at epoch 4; the run goes on to epoch 7 (its rows on disk) and is killed
        // there: the checkpoint on disk is still epoch 4's and the last lines are torn.
        let crash = tmp.join(format!("{tag}-crash"));
        crash_after(&cfg, &crash, 4, 7);
        tear_csvs(&crash);
        let metrics = std::fs::read_to_string(crash.join("metrics.csv")).unwrap();
        assert!(
            metrics.contains("\n7,") || metrics.contains(",7,"),
            "{metrics}"
        );

        let resumed = train(&resume_opts(&crash));
        assert_eq!((resumed.epoch, resumed.stopped_after), (12, None));
        assert_same_dirs(&full, &crash);
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn checkpoint_keeps_marks_not_tables_and_resume_refuses_changed_tables() {
    let tmp = tmp_dir("append-marks");
    let cfg = &configs()[0].1;
    let out = tmp.join("run");
    train_stopped(cfg, &out, 4);
    let p = out.join("checkpoint.safetensors");
    let c = Checkpoint::read(&p, &Device::Cpu).unwrap();
    assert!(
        c.blobs.is_empty(),
        "tables in the checkpoint: {:?}",
        c.blobs.keys()
    );
    // One mark per table; its bytes are the file's size, its rows the file's lines - 1.
    for name in [
        "metrics.csv",
        "infoplane.csv",
        "flow.csv",
        "stats.csv",
        "gradients.csv",
    ] {
        let mark = c.meta(&format!("state.{name}"), &p).unwrap();
        let text = std::fs::read_to_string(out.join(name)).unwrap();
        let want = format!("rows={} bytes={} ", text.lines().count() - 1, text.len());
        assert!(mark.starts_with(&want), "{name}: {mark}, want {want}…");
    }

    // A row changed after the checkpoint: refused, naming the file and the way out.
    let metrics = out.join("metrics.csv");
    let text = std::fs::read_to_string(&metrics).unwrap();
    std::fs::write(&metrics, text.replacen("\n1,", "\n1,9", 1)).unwrap();
    let err = train_err(&resume_opts(&out)).chain();
    assert!(
        err.contains("metrics.csv")
            && err.contains("changed after the checkpoint")
            && err.contains("--overwrite"),
        "{err}"
    );
    std::fs::write(&metrics, &text).unwrap();
    // A table lost: refused too.
    std::fs::remove_file(out.join("stats.csv")).unwrap();
    let err = train_err(&resume_opts(&out)).chain();
    assert!(
        err.contains("stats.csv") && err.contains("missing"),
        "{err}"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
