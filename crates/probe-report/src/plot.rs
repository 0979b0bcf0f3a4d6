//! Information-plane figures (Shwartz-Ziv & Tishby 2017 style).
//!
//! x = I(X;T) and y = I(T;Y), both in **bits**, one point per (layer T, epoch). Each layer is a
//! trajectory: a thin grey line through its points in epoch order, with one marker per point; the
//! marker shape identifies the layer (legend on the right) and the marker colour is the epoch on
//! the viridis colormap (colour bar on the right, logarithmic when the epochs span more than two
//! decades). The figure is rendered in memory to a 1200×900 PNG and an SVG of the same layout,
//! and both files are written with [`crate::atomic::write_atomic`].
//!
//! Text is drawn with DejaVu Sans embedded in this crate (`assets/DejaVuSans.ttf`), so rendering
//! never depends on system fonts. The SVG names the family `sans-serif`, which every viewer has.
//!
//! ```no_run
//! use probe_report::{plot_infoplane, InfoPoint, PlaneOptions};
//! use std::path::Path;
//!
//! # fn main() -> probe_report::Result<()> {
//! let points: Vec<InfoPoint> = (1..=100)
//!     .map(|e| InfoPoint { epoch: e, layer: "layers.0".into(), i_xt: 10.0, i_ty: 0.9 })
//!     .collect();
//! let opts = PlaneOptions { x_max: Some(12.0), y_max: Some(1.0), ..PlaneOptions::default() };
//! plot_infoplane(&points, &opts, Path::new("infoplane.png"), Path::new("infoplane.svg"))?;
//! # Ok(())
//! # }
//! ```

use crate::colormap::viridis;
use crate::error::{Error, Result};
use plotters::backend::RGBPixel;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Pixel size of the PNG (and of the SVG canvas): width, height.
pub const PNG_SIZE: (u32, u32) = (1200, 900);

/// One point of the information plane: layer `layer` at epoch `epoch`.
#[derive(Debug, Clone, PartialEq)]
pub struct InfoPoint {
    /// Training epoch the activations were captured at (0 = before training).
    pub epoch: usize,
    /// Layer name, e.g. `layers.2.hook_post`; points with the same name form one trajectory.
    pub layer: String,
    /// I(X;T) in bits.
    pub i_xt: f64,
    /// I(T;Y) in bits.
    pub i_ty: f64,
}

/// Options for [`plot_infoplane`].
#[derive(Debug, Clone, PartialEq)]
pub struct PlaneOptions {
    /// Figure title.
    pub title: String,
    /// Upper end of the x axis in bits (e.g. H(X), to compare runs on the same axes). The axis is
    /// widened if a point lies beyond it, so no data is ever hidden. `None`: fit to the data.
    pub x_max: Option<f64>,
    /// Upper end of the y axis in bits (e.g. H(Y)); same rules as `x_max`.
    pub y_max: Option<f64>,
}

impl Default for PlaneOptions {
    fn default() -> Self {
        Self {
            title: "Information plane".to_string(),
            x_max: None,
            y_max: None,
        }
    }
}

/// Renders the information plane of `points` and writes it to `png` and `svg`.
///
/// Points with a non-finite coordinate are skipped. Errors if `points` is empty, if no finite
/// point remains, if an axis maximum is not a positive finite number, or on rendering / I/O
/// failure; nothing is written unless both images rendered.
pub fn plot_infoplane(
    points: &[InfoPoint],
    opts: &PlaneOptions,
    png: &Path,
    svg: &Path,
) -> Result<()> {
    let plane = Plane::new(points, opts, png)?;
    write_figure(&plane, png, svg)
}

/// A figure that draws itself on any plotters backend: the PNG bitmap and the SVG string.
pub(crate) trait Figure {
    /// Draws the whole figure on `root`.
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB>;
}

impl Figure for Plane<'_> {
    fn draw_on<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
        draw(root, self)
    }
}

/// Renders `fig` at [`PNG_SIZE`] into `png` and `svg`, each written atomically.
pub(crate) fn write_figure(fig: &impl Figure, png: &Path, svg: &Path) -> Result<()> {
    register_font()?;
    let (w, h) = PNG_SIZE;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut rgb, PNG_SIZE)
            .map_err(|e| render_err(png, e))?;
        let root = backend.into_drawing_area();
        fig.draw_on(&root).map_err(|e| render_err(png, e))?;
        root.present().map_err(|e| render_err(png, e))?;
    }
    let png_bytes = encode_png(&rgb, PNG_SIZE).map_err(|e| render_err(png, e))?;

    let mut svg_text = String::new();
    {
        let root = SVGBackend::with_string(&mut svg_text, PNG_SIZE).into_drawing_area();
        fig.draw_on(&root).map_err(|e| render_err(svg, e))?;
        root.present().map_err(|e| render_err(svg, e))?;
    }

    crate::atomic::write_atomic(png, &png_bytes)?;
    crate::atomic::write_atomic(svg, svg_text.as_bytes())
}

pub(crate) fn render_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Render {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

pub(crate) fn encode_png(
    rgb: &[u8],
    (w, h): (u32, u32),
) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header()?;
    writer.write_image_data(rgb)?;
    writer.finish()?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Font

/// The family name the embedded font is registered under. `sans-serif` is also what the SVG's
/// `font-family` attribute says, so SVG viewers substitute their own sans-serif face.
pub(crate) const FONT: &str = "sans-serif";
const FONT_PATH: &str = "crates/probe-report/assets/DejaVuSans.ttf";
static FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the embedded font with plotters (once per process).
pub(crate) fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Font {
            path: PathBuf::from(FONT_PATH),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Data preparation

/// Validated, grouped input: everything the drawing code needs, no fallible steps left.
struct Plane<'a> {
    title: &'a str,
    /// Layers in order of first appearance; each layer's points sorted by epoch.
    layers: Vec<(&'a str, Vec<&'a InfoPoint>)>,
    x: (f64, f64),
    y: (f64, f64),
    epochs: EpochScale,
}

impl<'a> Plane<'a> {
    fn new(points: &'a [InfoPoint], opts: &'a PlaneOptions, png: &Path) -> Result<Self> {
        let no_points = |reason: String| Error::NoPoints {
            path: png.to_path_buf(),
            reason,
        };
        if points.is_empty() {
            return Err(no_points("no points".to_string()));
        }
        let finite: Vec<&InfoPoint> = points
            .iter()
            .filter(|p| p.i_xt.is_finite() && p.i_ty.is_finite())
            .collect();
        if finite.is_empty() {
            return Err(no_points(format!(
                "all {} points have a non-finite I(X;T) or I(T;Y)",
                points.len()
            )));
        }
        for (name, v) in [("x_max", opts.x_max), ("y_max", opts.y_max)] {
            if let Some(v) = v {
                if !(v.is_finite() && v > 0.0) {
                    return Err(Error::InvalidOption {
                        path: png.to_path_buf(),
                        reason: format!("{name} = {v} (must be a positive finite number of bits)"),
                    });
                }
            }
        }

        let mut layers: Vec<(&str, Vec<&InfoPoint>)> = Vec::new();
        for p in &finite {
            match layers.iter_mut().find(|(name, _)| *name == p.layer) {
                Some((_, v)) => v.push(p),
                None => layers.push((&p.layer, vec![p])),
            }
        }
        for (_, v) in &mut layers {
            v.sort_by_key(|p| p.epoch); // stable: ties keep input order
        }

        let x = axis_range(finite.iter().map(|p| p.i_xt), opts.x_max);
        let y = axis_range(finite.iter().map(|p| p.i_ty), opts.y_max);
        let epochs = EpochScale::new(finite.iter().map(|p| p.epoch));
        Ok(Self {
            title: &opts.title,
            layers,
            x,
            y,
            epochs,
        })
    }
}

/// Axis range covering `values` (finite, non-empty) and 0, up to `max` if given.
fn axis_range(values: impl Iterator<Item = f64> + Clone, max: Option<f64>) -> (f64, f64) {
    let lo_data = values.clone().fold(f64::INFINITY, f64::min);
    let hi_data = values.fold(f64::NEG_INFINITY, f64::max);
    let mut lo = lo_data.min(0.0);
    let mut hi = match max {
        Some(m) => m.max(hi_data),
        None => hi_data.max(0.0),
    };
    if hi - lo <= 0.0 {
        hi = lo + 1.0;
    }
    let span = hi - lo;
    if lo_data - lo < 0.02 * span {
        // Points at (or, from estimator noise, below) zero: keep their markers off the axis line.
        lo -= 0.02 * span;
    }
    let fixed_top = matches!(max, Some(m) if hi_data <= m);
    if !fixed_top {
        hi += 0.05 * span; // headroom so the outermost markers are not cut by the frame
    }
    (lo, hi)
}

/// Maps epochs to [0, 1] for the colormap, linearly or (wide spans) logarithmically.
#[derive(Debug, Clone, Copy)]
struct EpochScale {
    lo: f64,
    hi: f64,
    log: bool,
}

impl EpochScale {
    /// Log scale when max / max(min, 1) > 100 (more than two decades). Epoch 0 then shares the
    /// colour of epoch 1.
    fn new(epochs: impl Iterator<Item = usize> + Clone) -> Self {
        let lo = epochs.clone().min().unwrap_or(0) as f64;
        let hi = epochs.max().unwrap_or(0) as f64;
        let log = hi / lo.max(1.0) > 100.0;
        let lo = if log { lo.max(1.0) } else { lo };
        Self { lo, hi, log }
    }

    /// Position of epoch `e` on the colour bar, in [0, 1].
    fn t(&self, e: f64) -> f64 {
        if self.hi <= self.lo {
            return 1.0;
        }
        let t = if self.log {
            (e.max(1.0).ln() - self.lo.ln()) / (self.hi.ln() - self.lo.ln())
        } else {
            (e - self.lo) / (self.hi - self.lo)
        };
        t.clamp(0.0, 1.0)
    }

    fn color(&self, epoch: usize) -> RGBColor {
        viridis(self.t(epoch as f64))
    }

    /// Tick epochs for the colour bar, all within [lo, hi].
    fn ticks(&self) -> Vec<f64> {
        if self.hi <= self.lo {
            return vec![self.lo];
        }
        if self.log {
            let mut ticks = Vec::new();
            let decades = (self.hi / self.lo).log10();
            let mults: &[f64] = if decades < 4.0 {
                &[1.0, 2.0, 5.0]
            } else {
                &[1.0]
            };
            let mut p = 10f64.powi(self.lo.log10().floor() as i32);
            while p <= self.hi {
                for m in mults {
                    let v = m * p;
                    if v >= self.lo && v <= self.hi {
                        ticks.push(v);
                    }
                }
                p *= 10.0;
            }
            ticks
        } else {
            let step = nice_step((self.hi - self.lo) / 5.0).max(1.0);
            let mut v = (self.lo / step).ceil() * step;
            let mut ticks = Vec::new();
            while v <= self.hi + 1e-9 {
                ticks.push(v);
                v += step;
            }
            ticks
        }
    }
}

/// The nice number (1, 2 or 5 × 10^k) nearest above `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    let f = raw / p;
    let m = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    m * p
}

/// Decimals for tick labels of an axis spanning `span`, ~10 ticks.
fn tick_decimals(span: f64) -> usize {
    let step = nice_step(span / 10.0);
    (-step.log10().floor()).clamp(0.0, 6.0) as usize
}

/// `v` with `decimals` decimals, never "-0.0".
fn tick_label(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    match s.strip_prefix('-') {
        Some(rest) if rest.chars().all(|c| c == '0' || c == '.') => rest.to_string(),
        _ => s,
    }
}

// ---------------------------------------------------------------------------------------------
// Drawing

pub(crate) type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

const TITLE_SIZE: f64 = 34.0;
const AXIS_DESC_SIZE: f64 = 27.0;
const TICK_SIZE: f64 = 21.0;
const LEGEND_SIZE: f64 = 21.0;
const MARKER_R: i32 = 6;
/// Layer names wider than this (pixels) are shortened with an ellipsis in the legend.
const MAX_NAME_W: u32 = 300;
/// Left edge of legend and colour bar within the side panel, pixels.
const LEGEND_LEFT: i32 = 10;
/// x of the legend text relative to `LEGEND_LEFT`, pixels.
const LEGEND_TEXT_X: i32 = 66;
/// Height of the title band at the top, pixels.
const TITLE_BAND: i32 = 60;
/// Main chart layout, pixels; the colour bar reuses them to line up with the plot area.
const MARGIN_TOP: i32 = 10;
const MARGIN_BOTTOM: i32 = 10;
const X_LABEL_AREA: i32 = 75;
/// Layer trajectories: thin, neutral, below the markers.
const LINE_COLOR: RGBAColor = RGBAColor(60, 60, 60, 0.55);
const EDGE_COLOR: RGBAColor = RGBAColor(30, 30, 30, 0.75);

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, plane: &Plane) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    // The title band: plotters' own `titled` hugs the top edge, so lay it out by hand.
    let (w, h) = root.dim_in_pixel();
    let title_style = TextStyle::from((FONT, TITLE_SIZE).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Center, VPos::Center));
    root.draw_text(plane.title, &title_style, (w as i32 / 2, TITLE_BAND / 2))?;
    let body = root
        .clone()
        .shrink((0, TITLE_BAND), (w, h.saturating_sub(TITLE_BAND as u32)));

    // Right-hand panel (legend above, colour bar below) sized to the longest layer name.
    let legend_style = TextStyle::from((FONT, LEGEND_SIZE).into_font()).color(&BLACK);
    let mut names = Vec::with_capacity(plane.layers.len());
    let mut name_w = 0u32;
    for (name, _) in &plane.layers {
        let name = fit_text(root, name, &legend_style, MAX_NAME_W)?;
        name_w = name_w.max(root.estimate_text_size(&name, &legend_style)?.0);
        names.push(name);
    }
    let side_w = (name_w as i32 + LEGEND_LEFT + LEGEND_TEXT_X + 25).max(190);
    let (main, side) = body.split_horizontally(w as i32 - side_w);

    let (x0, x1) = plane.x;
    let (y0, y1) = plane.y;
    let mut chart = ChartBuilder::on(&main)
        .margin_top(MARGIN_TOP)
        .margin_left(15)
        .margin_right(25)
        .margin_bottom(MARGIN_BOTTOM)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(85)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    let (xd, yd) = (tick_decimals(x1 - x0), tick_decimals(y1 - y0));
    let fx = move |v: &f64| tick_label(*v, xd);
    let fy = move |v: &f64| tick_label(*v, yd);
    chart
        .configure_mesh()
        .x_desc("I(X;T) (bits)")
        .y_desc("I(T;Y) (bits)")
        .axis_desc_style((FONT, AXIS_DESC_SIZE))
        .label_style((FONT, TICK_SIZE))
        .x_labels(10)
        .y_labels(10)
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .bold_line_style(RGBAColor(0, 0, 0, 0.10))
        .light_line_style(RGBAColor(0, 0, 0, 0.0))
        .axis_style(BLACK.stroke_width(1))
        .draw()?;

    // Close the frame (the mesh draws only the left and bottom axes).
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    root.draw(&Rectangle::new(
        [(xr.start, yr.start), (xr.end - 1, yr.end - 1)],
        BLACK.stroke_width(1),
    ))?;

    for (_, pts) in &plane.layers {
        chart.draw_series(LineSeries::new(
            pts.iter().map(|p| (p.i_xt, p.i_ty)),
            LINE_COLOR.stroke_width(1),
        ))?;
    }

    // Markers in epoch order over all layers, so late epochs end up on top everywhere.
    let mut markers: Vec<(usize, &InfoPoint)> = plane
        .layers
        .iter()
        .enumerate()
        .flat_map(|(i, (_, pts))| pts.iter().map(move |p| (i, *p)))
        .collect();
    markers.sort_by_key(|(_, p)| p.epoch);
    for (layer, p) in markers {
        let pos = chart.backend_coord(&(p.i_xt, p.i_ty));
        draw_marker(root, pos, layer, MARKER_R, &plane.epochs.color(p.epoch))?;
    }

    draw_side_panel(&side, plane, &names, &legend_style)
}

/// `text`, shortened in the middle with "…" until it is at most `max_w` pixels wide (the end of a
/// layer name, e.g. `hook_post`, is as telling as its start).
fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_w: u32,
) -> std::result::Result<String, DrawingAreaErrorKind<DB::ErrorType>> {
    if area.estimate_text_size(text, style)?.0 <= max_w {
        return Ok(text.to_string());
    }
    let chars: Vec<char> = text.chars().collect();
    let mut keep = chars.len();
    while keep > 2 {
        keep -= 1;
        let head = keep.div_ceil(2);
        let tail = keep - head;
        let s: String = chars[..head]
            .iter()
            .chain(std::iter::once(&'…'))
            .chain(&chars[chars.len() - tail..])
            .collect();
        if area.estimate_text_size(&s, style)?.0 <= max_w {
            return Ok(s);
        }
    }
    Ok("…".to_string())
}

/// Legend (marker shape per layer) and the epoch colour bar.
fn draw_side_panel<DB: DrawingBackend>(
    side: &DrawingArea<DB, Shift>,
    plane: &Plane,
    names: &[String],
    legend_style: &TextStyle,
) -> DrawResult<DB> {
    let left = LEGEND_LEFT;
    let row_h = 32;
    let header = TextStyle::from((FONT, LEGEND_SIZE + 1.0).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let label = legend_style.pos(Pos::new(HPos::Left, VPos::Center));
    let mut y = MARGIN_TOP + 12;
    side.draw_text("layer", &header, (left, y))?;
    y += row_h;
    for (i, name) in names.iter().enumerate() {
        side.draw(&PathElement::new(
            vec![(left, y), (left + 44, y)],
            LINE_COLOR.stroke_width(1),
        ))?;
        draw_marker(side, (left + 22, y), i, MARKER_R, &RGBColor(200, 200, 200))?;
        side.draw_text(name, &label, (left + LEGEND_TEXT_X, y))?;
        y += row_h;
    }

    // Colour bar: from below the legend to the bottom of the plot area.
    let (_, h) = side.dim_in_pixel();
    let h = h as i32;
    let title_y = y + 30;
    let bar_top = title_y + 28;
    let bar_bottom = h - X_LABEL_AREA - MARGIN_BOTTOM; // level with the main chart's x axis
    let bar_left = left + 8;
    let bar_w = 26;
    side.draw_text("epoch", &header, (left, title_y))?;
    if bar_bottom - bar_top < 60 {
        return Ok(()); // too many layers to fit a useful colour bar; the legend wins
    }
    let span = bar_bottom - bar_top;
    for row in 0..span {
        // Row 0 is the top = latest epoch.
        let t = 1.0 - (row as f64 + 0.5) / span as f64;
        let y = bar_top + row;
        side.draw(&Rectangle::new(
            [(bar_left, y), (bar_left + bar_w, y + 1)],
            viridis(t).filled(),
        ))?;
    }
    side.draw(&Rectangle::new(
        [(bar_left, bar_top), (bar_left + bar_w, bar_bottom)],
        BLACK.stroke_width(1),
    ))?;
    let tick_style = TextStyle::from((FONT, TICK_SIZE).into_font())
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for e in plane.epochs.ticks() {
        let t = plane.epochs.t(e);
        let ty = bar_bottom - (t * span as f64).round() as i32;
        side.draw(&PathElement::new(
            vec![(bar_left + bar_w, ty), (bar_left + bar_w + 6, ty)],
            BLACK.stroke_width(1),
        ))?;
        side.draw_text(
            &format!("{}", e.round() as i64),
            &tick_style,
            (bar_left + bar_w + 10, ty),
        )?;
    }
    Ok(())
}

/// Draws marker `shape` (cycled: circle, square, triangle up, diamond, triangle down, pentagon)
/// centred at pixel `c` of `area`, filled with `fill` and outlined.
fn draw_marker<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    c: (i32, i32),
    shape: usize,
    r: i32,
    fill: &RGBColor,
) -> DrawResult<DB> {
    let edge = EDGE_COLOR.stroke_width(1);
    let poly = |pts: &[(f64, f64)]| -> Vec<(i32, i32)> {
        pts.iter()
            .map(|(dx, dy)| {
                (
                    c.0 + (dx * r as f64).round() as i32,
                    c.1 + (dy * r as f64).round() as i32,
                )
            })
            .collect()
    };
    let regular = |n: usize, rot: f64, scale: f64| -> Vec<(f64, f64)> {
        (0..n)
            .map(|k| {
                let a = rot + k as f64 * std::f64::consts::TAU / n as f64;
                (scale * a.cos(), scale * a.sin())
            })
            .collect()
    };
    use std::f64::consts::FRAC_PI_2;
    let outline: Vec<(f64, f64)> = match shape % 6 {
        0 => {
            area.draw(&Circle::new(c, r, fill.filled()))?;
            return area.draw(&Circle::new(c, r, edge));
        }
        1 => vec![(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)],
        2 => regular(3, -FRAC_PI_2, 1.25),
        3 => regular(4, 0.0, 1.2),
        4 => regular(3, FRAC_PI_2, 1.25),
        _ => regular(5, -FRAC_PI_2, 1.1),
    };
    let pts = poly(&outline);
    area.draw(&Polygon::new(pts.clone(), fill.filled()))?;
    let mut closed = pts;
    if let Some(first) = closed.first().copied() {
        closed.push(first);
    }
    area.draw(&PathElement::new(closed, edge))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::atomic::tests::TempDir;

    fn sample(layers: usize, epochs: usize) -> Vec<InfoPoint> {
        let mut v = Vec::new();
        for l in 0..layers {
            for k in 0..epochs {
                let s = k as f64 / epochs.max(2) as f64;
                v.push(InfoPoint {
                    epoch: 1 + k * 10,
                    layer: format!("layers.{l}.hook_post"),
                    i_xt: 2.0 + 8.0 * s - 3.0 * s * s + l as f64,
                    i_ty: 0.2 + 0.7 * s,
                });
            }
        }
        v
    }

    fn decode(path: &Path) -> (png::OutputInfo, Vec<u8>) {
        let file = std::fs::File::open(path).unwrap();
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size()];
        let info = reader.next_frame(&mut buf).unwrap();
        (info, buf)
    }

    #[test]
    fn writes_png_of_stated_size_and_svg_with_labels() {
        let t = TempDir::new("plot");
        let (png_path, svg_path) = (t.0.join("infoplane.png"), t.0.join("infoplane.svg"));
        let opts = PlaneOptions {
            title: "tanh MLP".to_string(),
            ..PlaneOptions::default()
        };
        plot_infoplane(&sample(3, 20), &opts, &png_path, &svg_path).unwrap();

        let bytes = std::fs::read(&png_path).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let (info, _) = decode(&png_path);
        assert_eq!((info.width, info.height), PNG_SIZE);

        let svg = std::fs::read_to_string(&svg_path).unwrap();
        assert!(svg.contains("<svg"));
        for text in [
            "I(X;T) (bits)",
            "I(T;Y) (bits)",
            "tanh MLP",
            "epoch",
            "layers.2.hook_post",
        ] {
            assert!(svg.contains(text), "SVG lacks {text:?}");
        }
        // Only the two images, no temp files.
        assert_eq!(std::fs::read_dir(&t.0).unwrap().count(), 2);
    }

    /// Guards the embedded-font path: with no usable font, plotters silently draws no glyphs.
    /// The title band must contain dark (text) pixels.
    #[test]
    fn png_title_text_is_actually_rendered() {
        let t = TempDir::new("plot-font");
        let (png_path, svg_path) = (t.0.join("p.png"), t.0.join("p.svg"));
        plot_infoplane(
            &sample(1, 5),
            &PlaneOptions::default(),
            &png_path,
            &svg_path,
        )
        .unwrap();
        let (info, buf) = decode(&png_path);
        let w = info.width as usize;
        let dark = (0..45 * w)
            .filter(|i| buf[3 * i..3 * i + 3].iter().all(|&c| c < 100))
            .count();
        assert!(dark > 200, "only {dark} dark pixels in the title band");
    }

    #[test]
    fn empty_input_is_an_error_naming_the_file() {
        let t = TempDir::new("plot-empty");
        let png_path = t.0.join("infoplane.png");
        let err = plot_infoplane(&[], &PlaneOptions::default(), &png_path, &t.0.join("x.svg"))
            .unwrap_err();
        assert!(matches!(err, Error::NoPoints { .. }), "{err:?}");
        assert!(err.to_string().contains("infoplane.png"), "{err}");
        assert_eq!(std::fs::read_dir(&t.0).unwrap().count(), 0);
    }

    #[test]
    fn non_finite_points_are_skipped_and_all_non_finite_is_an_error() {
        let t = TempDir::new("plot-nan");
        let (png_path, svg_path) = (t.0.join("p.png"), t.0.join("p.svg"));
        let mut pts = sample(2, 4);
        pts[1].i_xt = f64::NAN;
        pts[2].i_ty = f64::INFINITY;
        plot_infoplane(&pts, &PlaneOptions::default(), &png_path, &svg_path).unwrap();

        let bad: Vec<InfoPoint> = pts
            .iter()
            .cloned()
            .map(|p| InfoPoint {
                i_xt: f64::NAN,
                ..p
            })
            .collect();
        let err = plot_infoplane(&bad, &PlaneOptions::default(), &png_path, &svg_path).unwrap_err();
        assert!(matches!(err, Error::NoPoints { .. }), "{err:?}");
        assert!(err.to_string().contains("non-finite"), "{err}");
    }

    #[test]
    fn invalid_axis_max_is_an_error() {
        let t = TempDir::new("plot-opt");
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let opts = PlaneOptions {
                x_max: Some(bad),
                ..PlaneOptions::default()
            };
            let err = plot_infoplane(&sample(1, 3), &opts, &t.0.join("p.png"), &t.0.join("p.svg"))
                .unwrap_err();
            assert!(matches!(err, Error::InvalidOption { .. }), "{err:?}");
        }
    }

    #[test]
    fn degenerate_inputs_render() {
        // One point, all zeros, one epoch: no division by zero, no panic.
        let t = TempDir::new("plot-degenerate");
        let p = vec![InfoPoint {
            epoch: 0,
            layer: "l".into(),
            i_xt: 0.0,
            i_ty: 0.0,
        }];
        plot_infoplane(
            &p,
            &PlaneOptions::default(),
            &t.0.join("a.png"),
            &t.0.join("a.svg"),
        )
        .unwrap();
        // Many layers: the legend crowds out the colour bar but nothing fails.
        plot_infoplane(
            &sample(30, 3),
            &PlaneOptions::default(),
            &t.0.join("b.png"),
            &t.0.join("b.svg"),
        )
        .unwrap();
    }

    #[test]
    fn long_layer_names_are_shortened_in_the_legend() {
        let t = TempDir::new("plot-names");
        let mut pts = sample(1, 3);
        for p in &mut pts {
            p.layer = format!("blocks.0.{}.hook_post", "very_long_segment_".repeat(6));
        }
        let svg_path = t.0.join("p.svg");
        plot_infoplane(
            &pts,
            &PlaneOptions::default(),
            &t.0.join("p.png"),
            &svg_path,
        )
        .unwrap();
        let svg = std::fs::read_to_string(&svg_path).unwrap();
        assert!(svg.contains("blocks.0.very"), "head kept");
        assert!(svg.contains("…"), "ellipsis inserted");
        assert!(svg.contains("hook_post"), "tail kept");
        assert!(!svg.contains(&pts[0].layer), "full name not drawn");
    }

    #[test]
    fn axis_range_honours_max_and_never_hides_data() {
        assert_eq!(axis_range([1.0, 3.0].into_iter(), Some(12.0)), (0.0, 12.0));
        let (lo, hi) = axis_range([1.0, 14.0].into_iter(), Some(12.0));
        assert_eq!(lo, 0.0);
        assert!(hi > 14.0);
        let (lo, hi) = axis_range([-0.1, 2.0].into_iter(), None);
        assert!(lo < -0.1 && hi > 2.0);
        assert_eq!(tick_label(-0.0001, 2), "0.00");
        assert_eq!(tick_label(-0.5, 1), "-0.5");
        let (lo, hi) = axis_range([0.0].into_iter(), None);
        assert!(lo < 0.0 && lo > -0.05 && hi > 1.0, "{lo} {hi}");
    }

    #[test]
    fn epoch_scale_goes_log_beyond_two_decades() {
        let lin = EpochScale::new([0usize, 50].into_iter());
        assert!(!lin.log);
        assert_eq!(lin.t(25.0), 0.5);
        assert_eq!(lin.ticks(), vec![0.0, 10.0, 20.0, 30.0, 40.0, 50.0]);
        let log = EpochScale::new([0usize, 10_000].into_iter());
        assert!(log.log);
        assert!((log.t(100.0) - 0.5).abs() < 1e-12);
        assert_eq!(log.t(0.0), 0.0);
        assert_eq!(log.ticks(), vec![1.0, 10.0, 100.0, 1000.0, 10000.0]);
        let single = EpochScale::new([7usize].into_iter());
        assert_eq!(single.t(7.0), 1.0);
        assert_eq!(single.ticks(), vec![7.0]);
    }
}
