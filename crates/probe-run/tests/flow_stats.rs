//! The layer-to-layer flow and the activation statistics of a run, in process: `flow.csv` and
//! `stats.csv` (adaptive and kde included) obey their identities, each measured epoch names one
//! bottleneck per estimator (in the file and in what observers are told), and `measure.flow` /
//! `measure.stats` turn them off. (`probe analyze` reproducing these rows from a dump is checked
//! through the binary in probe-cli's `cli_flow_stats.rs`.)

use probe_run::observer::{Measured, Observer};

mod common;
use common::{assert_tables_match_files, flow_config, num, read_csv_maps, tmp_dir, toml_opts};

/// Remembers, per measured epoch, the transitions flagged as bottlenecks:
/// `(estimator, layer_from)`.
#[derive(Default)]
struct Bottlenecks(Vec<(usize, Vec<(String, String)>)>);

impl Observer for Bottlenecks {
    fn on_measure(&mut self, m: &Measured) -> probe_run::Result<()> {
        let flagged = m
            .flows
            .iter()
            .filter(|f| f.bottleneck)
            .map(|f| (f.estimator.clone(), f.layer_from.clone()))
            .collect();
        self.0.push((m.epoch, flagged));
        Ok(())
    }
}

#[test]
fn train_writes_flow_and_stats_and_names_the_bottlenecks() {
    let dir = tmp_dir("flow-train");
    let run = dir.join("run");
    let mut seen = Bottlenecks::default();
    let outcome = probe_run::train(&toml_opts(&flow_config(), &run), &mut [&mut seen])
        .unwrap_or_else(|e| panic!("{}", e.chain()));
    assert_tables_match_files(&outcome);
    let flows = read_csv_maps(&run.join("flow.csv"));
    // 3 epochs × 2 transitions × (adaptive, kde); knn has no flow.
    assert_eq!(flows.len(), 12);
    for r in &flows {
        let (i, h, loss) = (
            num(&r["i_bits"]),
            num(&r["h_from_bits"]),
            num(&r["loss_bits"]),
        );
        assert!(
            (h - i - loss).abs() < 1e-9 && loss >= -1e-9 && i <= 300f64.log2() + 1e-9,
            "{r:?}"
        );
        assert_eq!(r["i_bits_lower"].is_empty(), r["estimator"] == "adaptive");
    }
    for e in ["1", "2", "3"] {
        for est in ["adaptive", "kde"] {
            let flagged = flows
                .iter()
                .filter(|r| r["epoch"] == e && r["estimator"] == est && r["bottleneck"] == "1");
            assert_eq!(flagged.count(), 1);
        }
    }
    // Observers are told the same bottlenecks (what `probe train` prints at the end): one per
    // flow estimator and measured epoch, a hidden layer, the row flagged in flow.csv.
    assert_eq!(
        seen.0.iter().map(|(e, _)| *e).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for (epoch, flagged) in &seen.0 {
        let mut estimators: Vec<&str> = flagged.iter().map(|(e, _)| e.as_str()).collect();
        estimators.sort_unstable();
        assert_eq!(estimators, ["adaptive", "kde"], "epoch {epoch}");
        for (est, from) in flagged {
            assert!(from.starts_with("layers."), "{from}");
            let row = flows
                .iter()
                .find(|r| {
                    r["epoch"] == epoch.to_string()
                        && &r["estimator"] == est
                        && r["bottleneck"] == "1"
                })
                .unwrap();
            assert_eq!(&row["layer_from"], from, "epoch {epoch} {est}");
        }
    }
    let stats = read_csv_maps(&run.join("stats.csv"));
    assert_eq!(
        stats.len(),
        3 * 3,
        "3 epochs × 3 hooks × the one binned-family estimator"
    );
    assert!(stats
        .iter()
        .all(|r| r["estimator"] == "adaptive" && r["samples"] == "300"));
    let text = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(
        text.contains("flow = true") && text.contains("saturation = 0.9"),
        "{text}"
    );
    for f in [
        "activations-epoch3.safetensors",
        "labels.safetensors",
        "inputs.safetensors",
    ] {
        assert!(run.join(f).is_file(), "{f} dumped");
    }

    // `flow = false` and `stats = false` turn both files off (and remove the stale ones).
    let mut opts = toml_opts(
        &flow_config().replace("saturation = 0.9", "flow = false\nstats = false"),
        &run,
    );
    opts.overwrite = true;
    let outcome = common::train(&opts);
    assert!(!run.join("flow.csv").exists() && !run.join("stats.csv").exists());
    assert!(run.join("infoplane.csv").is_file());
    assert!(!outcome.tables.contains_key("flow.csv") && !outcome.tables.contains_key("stats.csv"));
    let _ = std::fs::remove_dir_all(&dir);
}
