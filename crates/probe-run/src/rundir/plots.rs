//! The figures of a run directory: `infoplane.{png,svg}` (first estimator) and
//! `infoplane-{name}.{png,svg}` (the others) from the information-plane rows; for ensembles the
//! mean trajectories and `infoplane{-name}-band.{png,svg}` with ± one standard deviation over the
//! seeds; [`gradients`](super::gradients) draws `gradients.{png,svg}`. [`redraw`] draws them all
//! again from a run directory's CSV files (`probe plot DIR`), e.g. after a full disk stopped a
//! run before its figures were written.

use std::path::{Path, PathBuf};

use probe_report::{
    plot_infoplane, plot_lines, CsvTable, InfoPoint, LineOptions, PlaneOptions, Series,
};

use super::{
    CONFIG_FILE, GRADIENTS_FILE, GRADIENTS_HEADER, INFOPLANE_FILE, INFOPLANE_HEADER, MEAN_FILE,
    MEAN_HEADER,
};
use crate::config::Config;
use crate::error::{bail, Context, Result};

/// Draws every figure of run directory `dir` again from its `config.toml` and CSV files (the
/// data set is loaded for the axes' bounds); returns the CSV files drawn from.
pub fn redraw(dir: &Path) -> Result<Vec<PathBuf>> {
    let cfg = Config::load(&dir.join(CONFIG_FILE))
        .with_context(|| format!("{} is not a run directory of probe train", dir.display()))?;
    let plane = crate::setup::plane_of(&cfg)?;
    let estimators: Vec<String> = cfg.estimators()?.into_iter().map(|e| e.name).collect();
    let mut used = Vec::new();
    if cfg.train.repeats > 1 {
        let p = dir.join(MEAN_FILE);
        let mean = read_table(&p, &MEAN_HEADER)?;
        plot_means(&mean, &estimators, &plane, dir, cfg.train.repeats)?;
        used.push(p);
    } else {
        let p = dir.join(INFOPLANE_FILE);
        let t = read_table(&p, &INFOPLANE_HEADER)?;
        plot_planes(&points_of(&t)?, &estimators, &plane, dir)?;
        used.push(p);
    }
    let g = dir.join(GRADIENTS_FILE);
    if g.is_file() {
        super::gradients::plot(&read_table(&g, &GRADIENTS_HEADER)?, dir, &cfg.name)?;
        used.push(g);
    }
    Ok(used)
}

/// Reads the CSV file `path` (as [`CsvTable`] writes it; [`CsvTable::parse`] refuses anything
/// else), which must have the columns `header` (after an optional leading `seed` column).
pub fn read_table(path: &Path, header: &[&str]) -> Result<CsvTable> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let t = CsvTable::parse(&text, path)?;
    let cols: Vec<&str> = t.header().iter().map(String::as_str).collect();
    if cols != header && cols.get(1..) != Some(header) {
        bail!(
            "{} has columns {cols:?}, expected {header:?}; it was not written by this probe",
            path.display()
        );
    }
    Ok(t)
}

/// Draws `pts` into `{stem}.png` and `{stem}.svg` in `dir`, with `plane`'s options but `title`.
pub fn plot_plane(
    pts: &[InfoPoint],
    plane: &PlaneOptions,
    title: String,
    dir: &Path,
    stem: &str,
) -> Result<()> {
    let opts = PlaneOptions {
        title,
        ..plane.clone()
    };
    plot_infoplane(
        pts,
        &opts,
        &dir.join(format!("{stem}.png")),
        &dir.join(format!("{stem}.svg")),
    )?;
    Ok(())
}

/// `infoplane.{png,svg}` for the first estimator, `infoplane-{name}.{png,svg}` for the others,
/// from a single run's `(estimator, point)`s.
pub fn plot_planes(
    points: &[(String, InfoPoint)],
    estimators: &[String],
    plane: &PlaneOptions,
    dir: &Path,
) -> Result<()> {
    for (name, stem, pts) in planes_by_estimator(points, estimators) {
        plot_plane(&pts, plane, format!("{} ({name})", plane.title), dir, &stem)?;
    }
    Ok(())
}

/// Per estimator with points: its name, its plot's file stem (`infoplane` for the first
/// estimator, `infoplane-{name}` for the others) and its points.
pub fn planes_by_estimator<'a>(
    points: &[(String, InfoPoint)],
    estimators: &'a [String],
) -> Vec<(&'a str, String, Vec<InfoPoint>)> {
    estimators
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let pts: Vec<InfoPoint> = points
                .iter()
                .filter(|(e, _)| e == name)
                .map(|(_, p)| p.clone())
                .collect();
            let stem = if i == 0 {
                "infoplane".to_string()
            } else {
                format!("infoplane-{name}")
            };
            (!pts.is_empty()).then_some((name.as_str(), stem, pts))
        })
        .collect()
}

/// The plot points `(estimator, point)` of the rows of an `infoplane.csv` table (columns
/// [`INFOPLANE_HEADER`], optionally after a leading `seed` column).
pub fn points_of(t: &CsvTable) -> Result<Vec<(String, InfoPoint)>> {
    let off = usize::from(t.header().first().is_some_and(|h| h == "seed"));
    t.rows()
        .iter()
        .map(|r| {
            let num = |i: usize| -> Result<f64> {
                r[off + i]
                    .parse()
                    .with_context(|| format!("bad number {:?} in infoplane.csv", r[off + i]))
            };
            Ok((
                r[off + 2].clone(),
                InfoPoint {
                    epoch: r[off].parse().context("bad epoch in infoplane.csv")?,
                    layer: r[off + 1].clone(),
                    i_xt: num(3)?,
                    i_ty: num(4)?,
                },
            ))
        })
        .collect()
}

/// The mean trajectories of `infoplane_mean.csv`, one figure per estimator.
pub fn plot_means(
    mean: &CsvTable,
    estimators: &[String],
    plane: &PlaneOptions,
    out: &std::path::Path,
    n_rep: usize,
) -> Result<()> {
    // infoplane_mean.csv's first five columns are epoch, layer, estimator, seeds, i_xt_mean; the
    // points reader wants epoch, layer, estimator, i_xt, i_ty at 0..5.
    let mut t = CsvTable::new(&INFOPLANE_HEADER[..5]);
    for r in mean.rows() {
        t.push([
            r[0].clone(),
            r[1].clone(),
            r[2].clone(),
            r[4].clone(),
            r[6].clone(),
        ])?;
    }
    let points = points_of(&t)?;
    for (name, stem, pts) in planes_by_estimator(&points, estimators) {
        let title = format!("{} ({name}, mean of {n_rep} seeds)", plane.title);
        plot_plane(&pts, plane, title, out, &stem)?;
        // The same means with ± one standard deviation over the seeds on both axes.
        let mut layers: Vec<Series> = Vec::new();
        for r in mean.rows().iter().filter(|r| r[2] == name) {
            let num = |i: usize| r[i].parse::<f64>().unwrap_or(f64::NAN);
            let idx = match layers.iter().position(|s| s.name == r[1]) {
                Some(i) => i,
                None => {
                    layers.push(Series {
                        name: r[1].clone(),
                        points: Vec::new(),
                        err: Some(Vec::new()),
                    });
                    layers.len() - 1
                }
            };
            let s = &mut layers[idx];
            s.points.push((num(4), num(6)));
            if let Some(e) = s.err.as_mut() {
                e.push((num(5), num(7)));
            }
        }
        let band = LineOptions {
            title: format!("{} ({name}): mean ± sd of {n_rep} seeds", plane.title),
            x_label: "I(X;T) [bits]".into(),
            y_label: "I(T;Y) [bits]".into(),
        };
        plot_lines(
            &layers,
            &band,
            &out.join(format!("{stem}-band.png")),
            &out.join(format!("{stem}-band.svg")),
        )?;
    }
    Ok(())
}
