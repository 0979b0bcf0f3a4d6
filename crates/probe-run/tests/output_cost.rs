//! The bytes a run writes are linear in its results (issue 19): measured at every epoch with
//! checkpoints every 5 epochs, a run writes at most 3× the final size of its directory plus one
//! checkpoint per checkpoint interval. Rewriting the growing CSVs at each measured epoch (as probe
//! did) or carrying the tables in every checkpoint grows quadratically and fails this.
//!
//! Counted by the kernel (`wchar` of `/proc/self/io`: bytes passed to write syscalls by every
//! thread of this process), so this file holds a single test and Linux only.
#![cfg(target_os = "linux")]

use std::path::Path;

mod common;
use common::{small_tishby, tmp_dir, toml_opts, train, train_stopped};

/// Bytes this process has passed to `write` so far.
fn wchar() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").unwrap();
    io.lines()
        .find_map(|l| l.strip_prefix("wchar: "))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// The total size of the files in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum()
}

#[test]
fn bytes_written_are_at_most_three_times_the_results_plus_the_checkpoints() {
    let tmp = tmp_dir("output-cost");
    let epochs = 240;
    let every = 5;
    let cfg = small_tishby(
        "cost",
        epochs,
        "[[measure.estimators]]\nkind = \"binned\"\n[[measure.estimators]]\nkind = \"adaptive\"\nbins = 12\n",
    )
    .replace("[measure]", &format!("checkpoint_every = {every}\n[measure]"));

    // The size of one checkpoint: that of a run stopped after its first epoch.
    let one = tmp.join("one");
    train_stopped(&cfg, &one, 1);
    let checkpoint = std::fs::metadata(one.join("checkpoint.safetensors"))
        .unwrap()
        .len();

    let out = tmp.join("run");
    let before = wchar();
    train(&toml_opts(&cfg, &out));
    let written = wchar() - before;
    let size = dir_bytes(&out);
    // Checkpoint metadata grows by a few digits as the counts grow: 64 bytes of slack each.
    let allowed = 3 * size + (epochs / every) as u64 * (checkpoint + 64);
    let rows = std::fs::read_to_string(out.join("infoplane.csv"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(
        rows,
        1 + epochs * 3 * 2,
        "every epoch, 3 layers, 2 estimators"
    );
    assert!(
        written <= allowed,
        "the run wrote {written} bytes for a {size}-byte directory and {} checkpoints of {checkpoint} bytes (allowed {allowed})",
        epochs / every
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
