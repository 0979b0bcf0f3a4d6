//! `[vib]` runs, in process: `vib.csv` holds one row per epoch whose columns obey their
//! identities (loss = CE + β·KL, error = 1 − accuracy, the lr decay schedule), the I(Z;X) bound
//! equals the mean KL recomputed in f64 from the μ and σ the run dumped, the information plane
//! of the encoder is measured, and a VIB run resumes
//! bit-identically (two random streams: shuffling and the reparameterisation noise).

mod common;
use common::{assert_tables_match_files, small_vib, stop_and_resume, tmp_dir, toml_opts, train};

#[test]
fn vib_run_logs_bounds_per_epoch_and_resumes_bit_identically() {
    let config = small_vib("dump_activations = [3]\n");
    let tmp = tmp_dir("vib");
    let full = tmp.join("full");
    let outcome = train(&toml_opts(&config, &full));
    assert_tables_match_files(&outcome);
    assert!(outcome.tables.contains_key("vib.csv"));
    let text = std::fs::read_to_string(full.join("vib.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    // The schema spelled out, so that a change of it fails this test.
    let want = "epoch,beta,lr,train_ce,train_kl,train_loss,train_acc,test_ce,test_acc,test_error,izx_bits,izy_bits";
    assert_eq!(header, want.split(',').collect::<Vec<_>>());
    let rows: Vec<Vec<f64>> = lines
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect();
    assert_eq!(rows.len(), 3);
    // H(Y) of the 500 test images (50 per class): log2 10 bits.
    let h_y = 10f64.log2();
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r[0], (i + 1) as f64);
        assert_eq!(r[1], 0.01);
        assert_eq!(r[2], 0.001 * 0.5f64.powi(i as i32), "lr halves every epoch");
        assert!(
            (r[5] - (r[3] + 0.01 * r[4])).abs() < 1e-9 * r[5].max(1.0),
            "{r:?}"
        );
        assert!((r[9] - (1.0 - r[8])).abs() < 1e-12, "{r:?}");
        assert!(r[11] <= h_y + 1e-9, "{r:?}");
    }
    // I(Z;X) ≤ E_x KL(N(μ, diag σ²) ‖ N(0, I)) / ln 2 of the last epoch, recomputed in f64 from the
    // μ and σ of the 500 test images the run dumped after it. probe sums the KL in f32: agreement
    // to 1e-5 relative; a missing ½, a nats/bits slip or a KL of the wrong set is far off.
    let dump = full.join("activations-epoch3.safetensors");
    let acts = candle_core::safetensors::load(&dump, &candle_core::Device::Cpu).unwrap();
    let get = |k: &str| acts[k].to_vec2::<f32>().unwrap();
    let (mu, sigma) = (get("z.hook_mu"), get("z.hook_sigma"));
    assert_eq!((mu.len(), mu[0].len()), (500, 4));
    let kl: f64 = mu
        .iter()
        .flatten()
        .zip(sigma.iter().flatten())
        .map(|(&m, &s)| {
            let (m, s) = (f64::from(m), f64::from(s));
            0.5 * (m * m + s * s - 1.0 - (s * s).ln())
        })
        .sum::<f64>()
        / 500.0;
    let izx = kl / std::f64::consts::LN_2;
    assert!(
        (rows[2][10] - izx).abs() <= 1e-5 * izx,
        "izx_bits {} vs {izx} from the dump",
        rows[2][10]
    );
    // The classifier learns something in three epochs of 2000 images.
    assert!(rows[2][8] > 0.3, "{:?}", rows[2]);
    let plane = std::fs::read_to_string(full.join("infoplane.csv")).unwrap();
    assert!(plane.contains(",z.hook_mu,floor,") && plane.contains(",encoder.0.hook_post,floor,"));

    stop_and_resume(
        &config,
        &tmp.join("cut"),
        1,
        &full,
        &[
            "vib.csv",
            "metrics.csv",
            "infoplane.csv",
            "model.safetensors",
        ],
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}
