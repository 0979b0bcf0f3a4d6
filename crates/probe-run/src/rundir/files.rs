//! Output-directory rules beyond `probe_report::create_run_dir`: the files `probe train` dumps
//! (`activations-epoch{E}.safetensors`, `labels.safetensors`, `inputs.safetensors`) and the files
//! `probe analyze` writes (`analysis.*`, `analysis-{flow,stats}.csv`, `analysis-{estimator}.{png,svg}`)
//! and `probe train`'s `flow.csv` and `stats.csv` are probe's own too, so
//! `--overwrite` removes stale ones (a dump of an epoch the new run does not dump must not survive
//! to be mistaken for the new run's), and nothing else.

use std::path::Path;

use crate::error::{Context, Result};

/// Whether `name` is a file `probe train` dumps.
pub fn is_dump_file(name: &str) -> bool {
    if name == "labels.safetensors" || name == "inputs.safetensors" {
        return true;
    }
    name.strip_prefix("activations-epoch")
        .and_then(|r| r.strip_suffix(".safetensors"))
        .is_some_and(|e| !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit()))
}

/// Whether `name` is a file `probe train` writes besides `probe_report::PROBE_OUTPUT_FILES`: the
/// dumps, `flow.csv`, `stats.csv`, `gradients.csv`, the checkpoint, and a seed ensemble's
/// `infoplane_mean.csv`, `metrics_mean.csv` and `model-seed{S}.safetensors`.
pub fn is_train_file(name: &str) -> bool {
    is_dump_file(name)
        || matches!(
            name,
            "flow.csv"
                | "stats.csv"
                | "gradients.csv"
                | "checkpoint.safetensors"
                | "infoplane_mean.csv"
                | "metrics_mean.csv"
                | "vib.csv"
        )
        || matches!(name, "gradients.png" | "gradients.svg")
        || (name.starts_with("infoplane")
            && (name.ends_with("-band.png") || name.ends_with("-band.svg")))
        || (name.starts_with("model-seed") && name.ends_with(".safetensors"))
}

/// Whether `name` is a file `probe analyze` writes.
pub fn is_analysis_file(name: &str) -> bool {
    matches!(
        name,
        "analysis.csv"
            | "analysis.json"
            | "analysis.png"
            | "analysis.svg"
            | "analysis-flow.csv"
            | "analysis-stats.csv"
    ) || (name.starts_with("analysis-") && (name.ends_with(".png") || name.ends_with(".svg")))
}

/// Removes the regular files in `dir` whose names satisfy `ours`, and leftover temporary files of
/// `probe_report::write_atomic` for such names (`.{name}.tmp.*`).
pub fn remove_own_files(dir: &Path, ours: fn(&str) -> bool) -> Result<()> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot list {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let target = match name.strip_prefix('.').and_then(|r| r.split_once(".tmp.")) {
            Some((target, _)) => target,
            None => name,
        };
        if ours(target) && entry.file_type().is_ok_and(|t| t.is_file()) {
            let path = entry.path();
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove old output {}", path.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Asserts that `ours` claims every name in `yes` and none in `no`.
    fn claims(ours: fn(&str) -> bool, yes: &[&str], no: &[&str]) {
        for name in yes {
            assert!(ours(name), "{name}");
        }
        for name in no {
            assert!(!ours(name), "{name}");
        }
    }

    #[test]
    fn own_file_names() {
        claims(
            is_dump_file,
            &[
                "activations-epoch1.safetensors",
                "activations-epoch8000.safetensors",
                "labels.safetensors",
                "inputs.safetensors",
            ],
            &[
                "activations-epoch.safetensors",
                "activations-epochx.safetensors",
                "model.safetensors",
                "acts.safetensors",
            ],
        );
        claims(
            is_analysis_file,
            &[
                "analysis.csv",
                "analysis.json",
                "analysis.png",
                "analysis-kde.svg",
                "analysis-flow.csv",
                "analysis-stats.csv",
            ],
            &[
                "analysis.txt",
                "analysis-notes.md",
                "infoplane.csv",
                "flow.csv",
            ],
        );
        claims(
            is_train_file,
            &["flow.csv", "stats.csv", "labels.safetensors"],
            &["analysis-flow.csv", "notes.csv", "model.safetensors"],
        );
    }
}
