//! `plot_sweep` (`probe plot-sweep`) draws both figures of a β sweep table and refuses tables it
//! cannot plot (a missing column, a β ≤ 0 on the logarithmic axis) with a message naming the
//! file and column.

use probe_run::sweep_plot::plot_sweep;

mod common;
use common::tmp_dir;

#[test]
fn plot_sweep_draws_both_figures_and_rejects_bad_tables() {
    let d = tmp_dir("sweep");
    let csv = d.join("sweep.csv");
    std::fs::write(
        &csv,
        "beta,epochs,test_error,test_acc,test_ce,izx_bits,izy_bits,train_loss,seconds\n\
         0.001,2,0.1586,0.8414,0.448,147.6,2.643,0.5757,132.8\n\
         1e-6,2,0.1597,0.8403,0.4467,1503.05,2.677,0.4155,90.9\n",
    )
    .unwrap();
    let out = d.join("figs");
    plot_sweep(&csv, &out).unwrap_or_else(|e| panic!("{}", e.chain()));
    for f in [
        "sweep_error.png",
        "sweep_error.svg",
        "sweep_bounds.png",
        "sweep_bounds.svg",
    ] {
        assert!(out.join(f).is_file(), "{f}");
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
