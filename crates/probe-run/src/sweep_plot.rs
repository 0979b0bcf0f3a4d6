//! `probe plot-sweep`: the figures of a VIB β sweep (`scripts/vib_beta_sweep.sh`'s `sweep.csv`):
//! `sweep_error.png/svg` (test error in % against log10 β) and `sweep_bounds.png/svg` (log10 of the
//! I(Z;X) upper bound and of the I(Z;Y) lower bound, in bits, against log10 β).

use std::path::Path;

use crate::error::{bail, Context, Result};
use probe_report::{plot_lines, LineOptions, Series};

/// Reads `csv` (columns `beta`, `test_error`, `izx_bits`, `izy_bits` at least) and writes the two
/// figures into `out` (created if missing).
pub fn plot_sweep(csv: &Path, out: &Path) -> Result<()> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("cannot read {}", csv.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .with_context(|| format!("{} is empty", csv.display()))?
        .split(',')
        .collect();
    let col = |name: &str| {
        header.iter().position(|h| *h == name).with_context(|| {
            format!(
                "{} has no `{name}` column (columns: {}); give the sweep.csv of scripts/vib_beta_sweep.sh",
                csv.display(),
                header.join(",")
            )
        })
    };
    let (cb, ce, cx, cy) = (
        col("beta")?,
        col("test_error")?,
        col("izx_bits")?,
        col("izy_bits")?,
    );
    let mut rows: Vec<[f64; 4]> = Vec::new();
    for (i, l) in lines.enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = l.split(',').collect();
        let num = |c: usize| -> Result<f64> {
            let v = f.get(c).copied().unwrap_or_default();
            v.parse().with_context(|| {
                format!(
                    "{} line {}: {v:?} in column `{}` is not a number",
                    csv.display(),
                    i + 2,
                    header[c]
                )
            })
        };
        let beta = num(cb)?;
        if beta.is_nan() || beta <= 0.0 {
            bail!(
                "{} line {}: beta = {beta}; the β axis is logarithmic, so β must be > 0",
                csv.display(),
                i + 2
            );
        }
        rows.push([beta.log10(), num(ce)? * 100.0, num(cx)?, num(cy)?]);
    }
    if rows.is_empty() {
        bail!("{} has no rows", csv.display());
    }
    rows.sort_by(|a, b| a[0].total_cmp(&b[0]));
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let series = |name: &str, k: usize, log: bool| Series {
        name: name.into(),
        points: rows
            .iter()
            .map(|r| (r[0], if log { r[k].log10() } else { r[k] }))
            .collect(),
        err: None,
    };
    let figures = [
        (
            "sweep_error",
            "VIB: test error against β",
            "test error (%)",
            vec![series("test error", 1, false)],
        ),
        (
            "sweep_bounds",
            "VIB: information bounds against β",
            "log10 bits",
            vec![
                series("I(Z;X) upper bound", 2, true),
                series("I(Z;Y) lower bound", 3, true),
            ],
        ),
    ];
    for (stem, title, y_label, lines) in figures {
        let opts = LineOptions {
            title: title.into(),
            x_label: "log10 β".into(),
            y_label: y_label.into(),
        };
        let (png, svg) = (
            out.join(format!("{stem}.png")),
            out.join(format!("{stem}.svg")),
        );
        plot_lines(&lines, &opts, &png, &svg)?;
    }
    Ok(())
}
