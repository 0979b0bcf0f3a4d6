//! `gradients.csv`: the gradient signal-to-noise of every layer at every measured epoch
//! (`measure.gradients = true`), from `probe_train::gradients::GradStats`.
//!
//! Columns: `epoch`, `seed` (the run's seed, or each replica's with `train.repeats`), `layer`
//! (parameters grouped by name: `layers.0` = `layers.0.weight` + `layers.0.bias`), `batches`
//! (mini-batches of the epoch), `grad_mean_norm` = ‖mean over batches of the gradient‖₂ (drift),
//! `grad_std_norm` = ‖element-wise standard deviation over batches‖₂ (diffusion, ddof = 0), and
//! `snr` = `grad_mean_norm / grad_std_norm` (empty when the std is 0). Gradients are those of the
//! mean mini-batch loss, in loss units per parameter unit.
//!
//! [`plot`] draws `gradients.png/svg`: per layer, log10 of both norms against log10 of the epoch
//! (averaged over the seeds of an ensemble), the drift/diffusion picture of Shwartz-Ziv & Tishby.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Result;
use probe_report::{plot_lines, CsvTable, LineOptions, Series};

/// `gradients.png` and `gradients.svg` in `dir` from the rows of `table` (nothing without rows).
pub fn plot(table: &CsvTable, dir: &Path, title: &str) -> Result<()> {
    // (layer order, layer) → epoch → (Σ mean_norm, Σ std_norm, seeds)
    let mut order: Vec<String> = Vec::new();
    let mut acc: BTreeMap<(usize, usize), (f64, f64, usize)> = BTreeMap::new();
    for r in table.rows() {
        let layer = &r[2];
        let li = match order.iter().position(|l| l == layer) {
            Some(i) => i,
            None => {
                order.push(layer.clone());
                order.len() - 1
            }
        };
        let epoch: usize = r[0].parse()?;
        let (m, s): (f64, f64) = (r[4].parse()?, r[5].parse()?);
        let e = acc.entry((li, epoch)).or_insert((0.0, 0.0, 0));
        e.0 += m;
        e.1 += s;
        e.2 += 1;
    }
    if acc.is_empty() {
        return Ok(());
    }
    let mut series = Vec::new();
    for (li, layer) in order.iter().enumerate() {
        for (which, name) in [(0, "mean"), (1, "std")] {
            let points = acc
                .range((li, 0)..=(li, usize::MAX))
                .map(|(&(_, e), &(m, s, n))| {
                    let v = if which == 0 { m } else { s } / n as f64;
                    ((e as f64).log10(), v.log10())
                })
                .collect();
            series.push(Series {
                name: format!("{layer} {name}"),
                points,
                err: None,
            });
        }
    }
    let opts = LineOptions {
        title: format!("{title}: gradient mean (drift) and std (diffusion)"),
        x_label: "log10 epoch".into(),
        y_label: "log10 norm".into(),
    };
    plot_lines(
        &series,
        &opts,
        &dir.join("gradients.png"),
        &dir.join("gradients.svg"),
    )?;
    Ok(())
}
