//! `probe plot-sweep` draws both figures of a β sweep table and refuses tables it cannot plot
//! (a missing column, a β ≤ 0 on the logarithmic axis) with a message naming the file and column.

use std::path::PathBuf;
use std::process::Command;

fn probe(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_probe"))
        .args(args)
        .output()
        .expect("run probe")
}

fn tmp() -> PathBuf {
    let d = std::env::temp_dir().join(format!("probe-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn plot_sweep_draws_both_figures_and_rejects_bad_tables() {
    let d = tmp();
    let csv = d.join("sweep.csv");
    std::fs::write(
        &csv,
        "beta,epochs,test_error,test_acc,test_ce,izx_bits,izy_bits,train_loss,seconds\n\
         0.001,2,0.1586,0.8414,0.448,147.6,2.643,0.5757,132.8\n\
         1e-6,2,0.1597,0.8403,0.4467,1503.05,2.677,0.4155,90.9\n",
    )
    .unwrap();
    let out = d.join("figs");
    let o = probe(&[
        "plot-sweep",
        "--csv",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [
        "sweep_error.png",
        "sweep_error.svg",
        "sweep_bounds.png",
        "sweep_bounds.svg",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    std::fs::write(&csv, "beta,test_error,izx_bits\n0.1,0.2,3\n").unwrap();
    let o = probe(&[
        "plot-sweep",
        "--csv",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("no `izy_bits` column"),
        "{err}"
    );
    std::fs::write(&csv, "beta,test_error,izx_bits,izy_bits\n0,0.2,3,1\n").unwrap();
    let o = probe(&[
        "plot-sweep",
        "--csv",
        csv.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("line 2: beta = 0"),
        "{err}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
