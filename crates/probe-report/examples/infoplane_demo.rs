//! Renders a synthetic information plane shaped like a tanh MLP's (Shwartz-Ziv & Tishby 2017):
//! 5 layers × 50 log-spaced epochs; I(X;T) rises during fitting, then falls (compression);
//! I(T;Y) rises and saturates. Deeper layers sit lower-left (data processing inequality).
//!
//! `cargo run -p probe-report --example infoplane_demo -- /tmp/plane.png /tmp/plane.svg`

use probe_report::{plot_infoplane, InfoPoint, PlaneOptions};
use std::path::PathBuf;

fn main() -> probe_report::Result<()> {
    let mut args = std::env::args().skip(1);
    let png = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/plane.png".into()));
    let svg = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/plane.svg".into()));

    let h_x = 12.0; // bits: 4096 equiprobable inputs
    let n_epochs = 50;
    let max_epoch = 10_000f64;
    let mut points = Vec::new();
    for l in 0..5 {
        let depth = l as f64 / 4.0;
        for k in 0..n_epochs {
            let epoch = max_epoch.powf(k as f64 / (n_epochs - 1) as f64).round() as usize;
            let s = (epoch as f64).log10() / max_epoch.log10(); // 0..1 along training
            let fit = 1.0 - (-s * 6.0).exp();
            let compress = ((s - 0.35).max(0.0) / 0.65).powf(1.3);
            let i_xt_peak = h_x - 1.6 * l as f64;
            let i_xt = (i_xt_peak - 3.0 * (1.0 - fit) - (3.0 + 1.5 * depth) * compress)
                + 0.08 * ((k * 7 + l * 3) as f64).sin();
            let i_ty = (0.98 - 0.06 * depth) * (0.45 + 0.55 * fit) - 0.10 * depth * (1.0 - fit)
                + 0.004 * ((k * 5 + l) as f64).cos();
            points.push(InfoPoint {
                epoch,
                layer: format!("layers.{l}.hook_post"),
                i_xt,
                i_ty,
            });
        }
    }
    let opts = PlaneOptions {
        title: "Information plane — tanh MLP (synthetic)".to_string(),
        x_max: Some(h_x),
        y_max: Some(1.0),
    };
    plot_infoplane(&points, &opts, &png, &svg)?;
    println!("wrote {} and {}", png.display(), svg.display());
    Ok(())
}
