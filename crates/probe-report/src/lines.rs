//! Line charts with optional error bars: the gradient signal-to-noise of a run (norms against
//! epochs) and the mean information-plane trajectories of a seed ensemble with their spread.
//!
//! Each [`Series`] is a polyline in its own colour with a marker per point and, when `err` is
//! given, a cross of error bars `x ± dx`, `y ± dy` at every point (one standard deviation over the
//! seeds, for ensembles). Axes are linear; plot `log10` values for a logarithmic axis and say so in
//! the label. Rendered like [`crate::plot_infoplane`]: a 1200×900 PNG and an SVG, written with
//! [`crate::atomic::write_atomic`] only after both rendered.
//!
//! ```no_run
//! use probe_report::{plot_lines, LineOptions, Series};
//! use std::path::Path;
//!
//! # fn main() -> probe_report::Result<()> {
//! let s = Series { name: "layers.0".into(), points: vec![(0.0, 1.0), (1.0, 0.5)], err: None };
//! let opts = LineOptions { title: "gradients".into(), x_label: "log10 epoch".into(), y_label: "norm".into() };
//! plot_lines(&[s], &opts, Path::new("g.png"), Path::new("g.svg"))?;
//! # Ok(())
//! # }
//! ```

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::plot::{write_figure, DrawResult, Figure, FONT};

/// One named polyline.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// `(x, y)` in drawing order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
    /// Optional `(dx, dy)` half-widths of the error bars, one per point.
    pub err: Option<Vec<(f64, f64)>>,
}

/// Title and axis labels of [`plot_lines`].
#[derive(Debug, Clone, PartialEq)]
pub struct LineOptions {
    /// Figure title.
    pub title: String,
    /// x-axis label (with units).
    pub x_label: String,
    /// y-axis label (with units).
    pub y_label: String,
}

/// Draws `series` and writes `png` and `svg`. Errors if no finite point is given, if an `err`
/// list's length differs from its points', or on rendering / I/O failure.
pub fn plot_lines(series: &[Series], opts: &LineOptions, png: &Path, svg: &Path) -> Result<()> {
    let mut xs = Vec::new();
    let mut ys = Vec::new();
    for s in series {
        if let Some(e) = &s.err {
            if e.len() != s.points.len() {
                return Err(Error::InvalidOption {
                    path: png.to_path_buf(),
                    reason: format!(
                        "series {} has {} points and {} error bars",
                        s.name,
                        s.points.len(),
                        e.len()
                    ),
                });
            }
        }
        for (i, &(x, y)) in s.points.iter().enumerate() {
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            let (dx, dy) = s
                .err
                .as_ref()
                .map(|e| e[i])
                .filter(|(a, b)| a.is_finite() && b.is_finite())
                .unwrap_or((0.0, 0.0));
            xs.extend([x - dx, x + dx]);
            ys.extend([y - dy, y + dy]);
        }
    }
    if xs.is_empty() {
        return Err(Error::NoPoints {
            path: png.to_path_buf(),
            reason: "no finite point in any series".to_string(),
        });
    }
    let range = |v: &[f64]| {
        let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
        let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let pad = ((hi - lo) * 0.05).max(1e-9);
        (lo - pad, hi + pad)
    };
    let (x, y) = (range(&xs), range(&ys));
    write_figure(&Lines { series, opts, x, y }, png, svg)
}

/// The series of a line chart with its options and the axis ranges `(lo, hi)`.
struct Lines<'a> {
    series: &'a [Series],
    opts: &'a LineOptions,
    x: (f64, f64),
    y: (f64, f64),
}

impl Figure for Lines<'_> {
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        draw(root, self.series, self.opts, self.x, self.y)
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: &[Series],
    opts: &LineOptions,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(&opts.title, (FONT, 34.0))
        .margin(20)
        .x_label_area_size(70)
        .y_label_area_size(100)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(&opts.x_label)
        .y_desc(&opts.y_label)
        .axis_desc_style((FONT, 27.0))
        .label_style((FONT, 21.0))
        .draw()?;
    for (i, s) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let pts: Vec<(usize, (f64, f64))> = s
            .points
            .iter()
            .cloned()
            .enumerate()
            .filter(|(_, (x, y))| x.is_finite() && y.is_finite())
            .collect();
        if let Some(err) = &s.err {
            let bar = color.mix(0.45).stroke_width(2);
            for &(k, (x, y)) in &pts {
                let (dx, dy) = err[k];
                if dx.is_finite() && dy.is_finite() && (dx > 0.0 || dy > 0.0) {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x - dx, y), (x + dx, y)],
                        bar,
                    )))?;
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![(x, y - dy), (x, y + dy)],
                        bar,
                    )))?;
                }
            }
        }
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|&(_, p)| p),
                color.stroke_width(3),
            ))?
            .label(s.name.clone())
            .legend(move |(lx, ly)| {
                PathElement::new(vec![(lx, ly), (lx + 30, ly)], color.stroke_width(3))
            });
        chart.draw_series(pts.iter().map(|&(_, p)| Circle::new(p, 4, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .label_font((FONT, 19.0))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_series_with_error_bars_and_rejects_bad_input() {
        let dir = std::env::temp_dir().join(format!("probe-lines-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (png, svg) = (dir.join("l.png"), dir.join("l.svg"));
        let opts = LineOptions {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
        };
        let s = Series {
            name: "a".into(),
            points: vec![(0.0, 1.0), (1.0, 2.0), (2.0, f64::NAN)],
            err: Some(vec![(0.1, 0.2), (0.0, 0.5), (0.0, 0.0)]),
        };
        plot_lines(std::slice::from_ref(&s), &opts, &png, &svg).unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
        assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
        let bad = Series {
            err: Some(vec![(0.0, 0.0)]),
            ..s
        };
        assert!(plot_lines(&[bad], &opts, &png, &svg).is_err());
        let empty = Series {
            name: "e".into(),
            points: vec![(f64::NAN, 1.0)],
            err: None,
        };
        assert!(plot_lines(&[empty], &opts, &png, &svg).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
