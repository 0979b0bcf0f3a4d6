//! `plot_sweep` (`probe plot-sweep`) draws both figures of a β sweep table, each data point where
//! its values put it (the SVG's markers read back and checked against an affine map of the data),
//! and refuses tables it cannot plot (a missing column, a β ≤ 0 on the logarithmic axis) with a
//! message naming the file and column.

use probe_run::sweep_plot::plot_sweep;

mod common;
use common::tmp_dir;

#[test]
fn plot_sweep_draws_both_figures_and_rejects_bad_tables() {
    let d = tmp_dir("sweep");
    let csv = d.join("sweep.csv");
    // Unsorted rows: the plot sorts them by β.
    std::fs::write(
        &csv,
        "beta,epochs,test_error,test_acc,test_ce,izx_bits,izy_bits,train_loss,seconds\n\
         1e-2,3,0.31,0.69,0.9,2.5,1.1,1.2,1.0\n\
         1e-5,3,0.18,0.82,0.5,60.2,2.4,0.6,1.0\n\
         1e-3,3,0.2,0.8,0.6,12.8,2.2,0.7,1.0\n",
    )
    .unwrap();
    let out = d.join("figs");
    plot_sweep(&csv, &out).unwrap_or_else(|e| panic!("{}", e.chain()));
    let log_beta = [-5.0, -3.0, -2.0];
    // sweep_error: test error in % against log10 β.
    let error: Vec<(f64, f64)> = log_beta.into_iter().zip([18.0, 20.0, 31.0]).collect();
    assert_markers_on_data(&out.join("sweep_error.svg"), &[error]);
    // sweep_bounds: log10 of both bounds on one pair of axes.
    let izx = [60.2f64, 12.8, 2.5].map(f64::log10);
    let izy = [2.4f64, 2.2, 1.1].map(f64::log10);
    assert_markers_on_data(
        &out.join("sweep_bounds.svg"),
        &[
            log_beta.into_iter().zip(izx).collect(),
            log_beta.into_iter().zip(izy).collect(),
        ],
    );
    for f in ["sweep_error", "sweep_bounds"] {
        // The PNG twin: a PNG of the SVG's size (IHDR width and height, big-endian).
        let png = std::fs::read(out.join(format!("{f}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{f}.png");
        let wh = |i: usize| u32::from_be_bytes(png[i..i + 4].try_into().unwrap());
        assert_eq!((wh(16), wh(20)), (1200, 900), "{f}.png size");
    }
    std::fs::write(&csv, "beta,test_error,izx_bits\n0.1,0.2,3\n").unwrap();
    let err = plot_sweep(&csv, &out).unwrap_err().chain();
    assert!(err.contains("no `izy_bits` column"), "{err}");
    assert!(err.contains("sweep.csv"), "names the file: {err}");
    std::fs::write(&csv, "beta,test_error,izx_bits,izy_bits\n0,0.2,3,1\n").unwrap();
    let err = plot_sweep(&csv, &out).unwrap_err().chain();
    assert!(err.contains("line 2: beta = 0"), "{err}");
    std::fs::remove_dir_all(&d).unwrap();
}

/// The data markers (`<circle>`s) of an SVG written by `plot_sweep`, grouped by fill colour in
/// order of appearance: `(cx, cy)` pixels.
fn markers(svg: &str) -> Vec<Vec<(f64, f64)>> {
    let attr = |tag: &str, name: &str| -> String {
        let start = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        tag[start..].split('"').next().unwrap().to_string()
    };
    let mut groups: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
    for tag in svg.split("<circle").skip(1) {
        let tag = &tag[..tag.find('>').unwrap()];
        let p = (
            attr(tag, "cx").parse().unwrap(),
            attr(tag, "cy").parse().unwrap(),
        );
        let fill = attr(tag, "fill");
        match groups.iter_mut().find(|(f, _)| *f == fill) {
            Some((_, g)) => g.push(p),
            None => groups.push((fill, vec![p])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The SVG at `path` has one marker series per `series` (data points sorted by x), each marker at
/// the pixel an affine map of its data point gives: the map is fixed by the first and last point
/// of all series together, and every other point must land within 1.5 pixels (pixels are
/// rounded to integers). A point drawn at the wrong value, in the wrong order or on a log/linear
/// mix-up is off by tens of pixels.
fn assert_markers_on_data(path: &std::path::Path, series: &[Vec<(f64, f64)>]) {
    let svg = std::fs::read_to_string(path).unwrap();
    let got = markers(&svg);
    assert_eq!(
        got.iter().map(Vec::len).collect::<Vec<_>>(),
        series.iter().map(Vec::len).collect::<Vec<_>>(),
        "{}: markers per series",
        path.display()
    );
    let data: Vec<(f64, f64)> = series.iter().flatten().copied().collect();
    let pix: Vec<(f64, f64)> = got.iter().flatten().copied().collect();
    let fit = |d: &dyn Fn((f64, f64)) -> f64, p: &dyn Fn((f64, f64)) -> f64| {
        let (lo, hi) = (0, data.len() - 1);
        let (x0, x1) = (d(data[lo]), d(data[hi]));
        let (y0, y1) = (p(pix[lo]), p(pix[hi]));
        move |v: f64| y0 + (v - x0) * (y1 - y0) / (x1 - x0)
    };
    let on_x = fit(&|q| q.0, &|q| q.0);
    let on_y = fit(&|q| q.1, &|q| q.1);
    for (d, p) in data.iter().zip(&pix) {
        let want = (on_x(d.0), on_y(d.1));
        assert!(
            (want.0 - p.0).abs() <= 1.5 && (want.1 - p.1).abs() <= 1.5,
            "{}: data {d:?} drawn at {p:?}, expected about {want:?}",
            path.display()
        );
    }
}
