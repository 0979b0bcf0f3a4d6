//! `probe train` with `train.repeats = N > 1`: N seeds (`seed`, `seed + 1`, …, `seed + N − 1`) of
//! an MLP trained as one batched model ([`EnsembleMlp`]: stacked weights, batched matmuls), each
//! replica exactly the run of its seed alone (on the CPU bit for bit).
//!
//! Files (besides `config.toml` and the checkpoint):
//! - `metrics.csv`, `infoplane.csv`, `gradients.csv`: the single run's columns with a leading
//!   `seed` column (gradients.csv always has one), one row per seed;
//! - `infoplane_mean.csv`: per (epoch, layer, estimator) the mean and the sample standard
//!   deviation (ddof = 1) over the seeds of `i_xt` and `i_ty`, in bits;
//! - `infoplane.png/svg` (first estimator) and `infoplane-{name}.png/svg`: the mean trajectories
//!   coloured by epoch; `infoplane-band.png/svg` (`infoplane-{name}-band.*`): the same means with
//!   ± one standard deviation over the seeds on both axes;
//! - `gradients.png/svg` with `measure.gradients` (norms averaged over the seeds);
//! - `model-seed{S}.safetensors`: each seed's weights, the file a single run of it writes.
//!
//! `flow.csv`, `stats.csv`, `measure.represent` and `measure.dump_activations` are single-run only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use crate::error::{bail, Context, Result};
use candle_core::{Tensor, Var};
use probe_capture::{ActivationCache, NameFilter};
use probe_report::{
    fmt_f64, plot_infoplane, plot_lines, write_atomic, CsvTable, LineOptions, PlaneOptions, Series,
};
use probe_train::ensemble::{evaluate_ensemble, evaluate_fused, EnsembleMlp, EnsembleTrainer};
use probe_train::fused::FusedMlp;
use probe_train::gradients::GradStats;
use probe_train::optim::Optimizer;
use probe_train::trainer::DeviceData;
use rayon::prelude::*;

use crate::estimate::{csv_row, estimate_layer, INFOPLANE_HEADER};
use crate::gradcsv::{self, GRADIENTS_HEADER};
use crate::run::{
    estimators_names, points_of, progress, stopped_as_asked, stopped_message, Setup, TrainArgs,
    METRICS_HEADER,
};
use crate::{device, resume};

/// Columns of `infoplane_mean.csv`.
pub const MEAN_HEADER: [&str; 8] = [
    "epoch",
    "layer",
    "estimator",
    "seeds",
    "i_xt_mean",
    "i_xt_std",
    "i_ty_mean",
    "i_ty_std",
];

/// `header` with a leading `seed` column.
fn with_seed(header: &[&'static str]) -> Vec<&'static str> {
    let mut v = vec!["seed"];
    v.extend_from_slice(header);
    v
}

/// Rows the probe forward pass processes at a time.
const CHUNK: usize = 8192;

/// Trains the ensemble `s.cfg.train.repeats` describes; returns the run directory.
pub fn train(s: Setup, args: &TrainArgs, started: Instant) -> Result<PathBuf> {
    let Setup {
        cfg,
        device,
        splits,
        hooks,
        estimators,
        measured,
        probe,
        plane,
        out,
        resuming,
        fused,
        ..
    } = s;
    let n_rep = cfg.train.repeats;
    let Some(spec) = crate::model::mlp_spec(&cfg.model) else {
        bail!("`model.widths` needs the input and output widths at least");
    };
    let seeds: Vec<u64> = (0..n_rep as u64).map(|r| cfg.seed + r).collect();
    let model = EnsembleMlp::new(&spec, &seeds, &device)?;
    let named = model.named_vars();
    let vars: Vec<Var> = named.iter().map(|(_, v)| v.clone()).collect();
    let mut opt = Optimizer::new(cfg.optim()?, vars.clone())?;
    // The fused path: one FusedMlp per replica, loaded on the first epoch (after any resume).
    let optim = cfg.optim()?;
    let mut reps = match fused {
        true => (0..n_rep)
            .map(|_| FusedMlp::new(&spec, &optim, cfg.train.batch_size))
            .collect::<probe_train::Result<Vec<_>>>()?,
        false => Vec::new(),
    };
    let mut loaded = false;
    let mut trainer = EnsembleTrainer::new(cfg.train.batch_size, &seeds)?;
    let train_d = DeviceData::new(&splits.train, &device)?;
    let test_d = DeviceData::new(&splits.test, &device)?;

    let metrics_h = with_seed(&METRICS_HEADER);
    let plane_h = with_seed(&INFOPLANE_HEADER);
    let mut metrics = CsvTable::new(&metrics_h);
    let mut infoplane = CsvTable::new(&plane_h);
    let mut mean = CsvTable::new(&MEAN_HEADER);
    let mut grads = CsvTable::new(&GRADIENTS_HEADER);
    let mut first = 1;
    if resuming {
        let mut r = resume::read(&out, &named, &mut opt, &device)?;
        trainer.restore_shuffle_states(&r.streams)?;
        metrics = r.take_table("metrics.csv", &metrics_h)?;
        infoplane = r.take_table("infoplane.csv", &plane_h)?;
        mean = r.take_table("infoplane_mean.csv", &MEAN_HEADER)?;
        grads = r.take_table("gradients.csv", &GRADIENTS_HEADER)?;
        first = r.epoch + 1;
        if r.epoch >= cfg.train.epochs {
            bail!(
                "the run in {} already finished all {} epochs; nothing to resume",
                out.display(),
                cfg.train.epochs
            );
        }
    }
    let every = cfg.checkpoint_every();
    let mut last_ckpt = resuming.then_some(first - 1);
    let bar = progress(cfg.train.epochs, args.quiet);
    bar.set_position((first - 1) as u64);
    let flush = |metrics: &CsvTable, infoplane: &CsvTable, mean: &CsvTable, durable: bool| {
        for (t, name) in [
            (metrics, "metrics.csv"),
            (infoplane, "infoplane.csv"),
            (mean, "infoplane_mean.csv"),
        ] {
            let p = out.join(name);
            if durable {
                t.write_atomic(&p)?;
            } else {
                t.replace_atomic(&p)?;
            }
        }
        Ok::<(), crate::Error>(())
    };

    for epoch in first..=cfg.train.epochs {
        let stop_here = args.stop_after == Some(epoch);
        let step = (|| -> Result<()> {
            let mut gstats = (cfg.measure.gradients && measured.contains(&epoch))
                .then(|| GradStats::new(&named, Some(n_rep)));
            let (tr, te) = if fused {
                if !loaded {
                    FusedMlp::load_replicas(&mut reps, &vars, &opt)?;
                    loaded = true;
                }
                let g = gstats.as_mut().map(|g| (g, &vars[..]));
                let tr = trainer.epoch_fused(epoch, &mut reps, &seeds, &splits.train, g)?;
                let te = evaluate_fused(&mut reps, &splits.test)?;
                FusedMlp::store_replicas(&reps, &vars, &mut opt)?;
                (tr, te)
            } else {
                let tr = trainer.epoch_with(epoch, &model, &mut opt, &train_d, gstats.as_mut())?;
                (tr, evaluate_ensemble(&model, &test_d, 8192)?)
            };
            for (r, (a, b)) in tr.iter().zip(&te).enumerate() {
                metrics.push([
                    seeds[r].to_string(),
                    epoch.to_string(),
                    fmt_f64(a.loss),
                    fmt_f64(a.acc),
                    fmt_f64(b.loss),
                    fmt_f64(b.acc),
                ])?;
            }
            let avg = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            bar.set_message(format!(
                "mean of {n_rep} seeds: loss {:.4} | test acc {:.3}",
                avg(&tr.iter().map(|l| l.loss).collect::<Vec<_>>()),
                avg(&te.iter().map(|l| l.acc).collect::<Vec<_>>())
            ));
            if let Some(g) = gstats.as_mut() {
                gradcsv::push_rows(&mut grads, epoch, &seeds, &g.finish()?)?;
                grads.replace_atomic(&out.join("gradients.csv"))?;
            }
            if measured.contains(&epoch) {
                let layers = capture(&model, &probe.x, &hooks)?;
                // (layer, estimator) → per-seed (i_xt, i_ty), in measurement order.
                let mut by_key: BTreeMap<(usize, usize), Vec<(f64, f64)>> = BTreeMap::new();
                // Every (seed, layer, estimator) is independent: estimate them in parallel,
                // then record them in this fixed order.
                let (n_layers, n_est) = (layers.len(), estimators.len());
                let jobs: Vec<(usize, usize, usize)> = (0..seeds.len() * n_layers * n_est)
                    .map(|k| (k / (n_layers * n_est), k / n_est % n_layers, k % n_est))
                    .collect();
                let mut results = jobs
                    .par_iter()
                    .map(|&(r, li, ei)| {
                        let (name, t) = &layers[li];
                        estimate_layer(name, &t.get(r)?, &estimators[ei], &probe.samples)
                    })
                    .collect::<Vec<_>>()
                    .into_iter();
                for seed in &seeds {
                    for li in 0..layers.len() {
                        for ei in 0..estimators.len() {
                            let Some(est) = results.next() else {
                                bail!("an estimate is missing for seed {seed}");
                            };
                            let est = est?;
                            by_key
                                .entry((li, ei))
                                .or_default()
                                .push((est.i_xt, est.i_ty));
                            let mut row = vec![seed.to_string()];
                            row.extend(csv_row(Some(epoch), &est));
                            infoplane.push(row)?;
                        }
                    }
                }
                for ((li, ei), v) in &by_key {
                    let (xm, xs) = mean_std(v.iter().map(|p| p.0));
                    let (ym, ys) = mean_std(v.iter().map(|p| p.1));
                    mean.push([
                        epoch.to_string(),
                        layers[*li].0.clone(),
                        estimators[*ei].name.clone(),
                        v.len().to_string(),
                        fmt_f64(xm),
                        fmt_f64(xs),
                        fmt_f64(ym),
                        fmt_f64(ys),
                    ])?;
                }
                flush(&metrics, &infoplane, &mean, false)?;
            }
            if (every > 0 && epoch.is_multiple_of(every)) || epoch == cfg.train.epochs || stop_here
            {
                flush(&metrics, &infoplane, &mean, false)?;
                let tables = [
                    ("metrics.csv", &metrics),
                    ("infoplane.csv", &infoplane),
                    ("infoplane_mean.csv", &mean),
                    ("gradients.csv", &grads),
                ];
                resume::write(
                    &out,
                    epoch,
                    &named,
                    &opt,
                    &trainer.shuffle_states(),
                    &tables,
                )?;
            }
            Ok(())
        })();
        if let Err(err) = step {
            bar.abandon();
            flush(&metrics, &infoplane, &mean, true)?;
            plot_means(&mean, &estimators_names(&estimators), &plane, &out, n_rep).ok();
            return Err(err.context(stopped_message(epoch, &out, last_ckpt)));
        }
        if (every > 0 && epoch.is_multiple_of(every) && epoch < cfg.train.epochs) || stop_here {
            last_ckpt = Some(epoch);
        }
        bar.inc(1);
        if stop_here && epoch < cfg.train.epochs {
            bar.finish_and_clear();
            flush(&metrics, &infoplane, &mean, true)?;
            if !args.quiet {
                eprintln!("{}", stopped_as_asked(epoch, cfg.train.epochs, &out));
            }
            return Ok(out);
        }
    }
    bar.finish_and_clear();
    flush(&metrics, &infoplane, &mean, true)?;
    for (r, seed) in seeds.iter().enumerate() {
        write_atomic(
            &out.join(format!("model-seed{seed}.safetensors")),
            &model.replica_bytes(r)?,
        )?;
    }
    plot_means(&mean, &estimators_names(&estimators), &plane, &out, n_rep)?;
    gradcsv::plot(&grads, &out, &cfg.name)?;
    resume::remove(&out)?;
    if !args.quiet {
        eprintln!(
            "trained {n_rep} seeds × {} epochs on {} in {:.1} s; results in {}",
            cfg.train.epochs,
            device::name(&device),
            started.elapsed().as_secs_f64(),
            out.display()
        );
    }
    Ok(out)
}

/// Mean and sample standard deviation (ddof = 1; 0 for one value).
fn mean_std(v: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = v.clone().count();
    let m = v.clone().sum::<f64>() / n.max(1) as f64;
    if n < 2 {
        return (m, 0.0);
    }
    let ss: f64 = v.map(|x| (x - m).powi(2)).sum();
    (m, (ss / (n - 1) as f64).sqrt())
}

/// The activations of `hooks` of every replica on the probe inputs `x` `[n, d]`:
/// `[N, n, width]` per hook, captured in chunks of [`CHUNK`] samples.
fn capture(model: &EnsembleMlp, x: &Tensor, hooks: &[String]) -> Result<Vec<(String, Tensor)>> {
    let n = x.dim(0)?;
    let mut parts: Vec<Vec<Tensor>> = vec![Vec::new(); hooks.len()];
    let mut start = 0;
    while start < n {
        let len = CHUNK.min(n - start);
        let mut cache = ActivationCache::new(NameFilter::new(hooks)?);
        model.forward(&x.narrow(0, start, len)?, Some(&mut cache))?;
        for (h, p) in hooks.iter().zip(parts.iter_mut()) {
            p.push(
                cache
                    .take(h)?
                    .with_context(|| format!("hook point {h} produced no activation"))?,
            );
        }
        start += len;
    }
    hooks
        .iter()
        .zip(parts)
        .map(|(h, p)| Ok((h.clone(), Tensor::cat(&p, 1)?)))
        .collect()
}

/// The mean trajectories of `infoplane_mean.csv`, one figure per estimator.
fn plot_means(
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
    for (name, stem, pts) in crate::run::planes_by_estimator(&points, estimators) {
        let opts = PlaneOptions {
            title: format!("{} ({name}, mean of {n_rep} seeds)", plane.title),
            ..plane.clone()
        };
        plot_infoplane(
            &pts,
            &opts,
            &out.join(format!("{stem}.png")),
            &out.join(format!("{stem}.svg")),
        )?;
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
