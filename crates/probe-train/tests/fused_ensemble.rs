//! Seed ensembles on the fused CPU path: `EnsembleTrainer::epoch_fused` trains replica r exactly
//! as `Trainer::epoch_fused` trains seed r alone (weights, optimiser state and per-epoch metrics
//! bit for bit, through the stacked vars), and a diverging replica stops the epoch naming its
//! seed.

use candle_core::{Device, Var};
use probe_train::data::tishby12;
use probe_train::ensemble::{evaluate_fused, EnsembleMlp, EnsembleTrainer};
use probe_train::fused::FusedMlp;
use probe_train::model::{Activation, Init, Mlp, MlpSpec, Model};
use probe_train::optim::{OptimSpec, Optimizer};
use probe_train::trainer::Trainer;
use probe_train::Error;

fn spec(activation: Activation) -> MlpSpec {
    MlpSpec {
        input_dim: 12,
        hidden: vec![10, 7, 5, 4, 3],
        classes: 2,
        activation,
        init: Init::TruncatedNormal,
    }
}

fn vars_of(named: Vec<(String, Var)>) -> Vec<Var> {
    named.into_iter().map(|(_, v)| v).collect()
}

fn values(vars: &[Var]) -> Vec<Vec<f32>> {
    vars.iter()
        .map(|v| v.as_tensor().flatten_all().unwrap().to_vec1().unwrap())
        .collect()
}

#[test]
fn fused_replicas_equal_fused_single_runs() {
    let ds = tishby12();
    let train = ds.subset(&(0..3000).collect::<Vec<_>>());
    let test = ds.subset(&(3000..ds.n).collect::<Vec<_>>());
    let s = spec(Activation::Tanh);
    let optim = OptimSpec::Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    let seeds = [21u64, 22, 23];
    let batch = 512; // 3000 = 5 · 512 + 440: the last batch is smaller
    let ens = EnsembleMlp::new(&s, &seeds, &Device::Cpu).unwrap();
    let ens_vars = vars_of(ens.named_vars());
    let mut ens_opt = Optimizer::new(optim.clone(), ens_vars.clone()).unwrap();
    let mut reps: Vec<FusedMlp> = seeds
        .iter()
        .map(|_| FusedMlp::new(&s, &optim, batch).unwrap())
        .collect();
    FusedMlp::load_replicas(&mut reps, &ens_vars, &ens_opt).unwrap();
    let mut ens_tr = EnsembleTrainer::new(batch, &seeds).unwrap();
    let mut ens_metrics = Vec::new();
    for epoch in 1..=4 {
        let tr = ens_tr
            .epoch_fused(epoch, &mut reps, &seeds, &train, None)
            .unwrap();
        ens_metrics.push((tr, evaluate_fused(&mut reps, &test).unwrap()));
    }
    FusedMlp::store_replicas(&reps, &ens_vars, &mut ens_opt).unwrap();
    let stacked = values(&ens_vars);

    for (r, &seed) in seeds.iter().enumerate() {
        let m = Mlp::new(&s, seed, &Device::Cpu).unwrap();
        let vars = vars_of(m.named_vars());
        let mut opt = Optimizer::new(optim.clone(), vars.clone()).unwrap();
        let mut f = FusedMlp::new(&s, &optim, batch).unwrap();
        f.load(&vars, &opt).unwrap();
        let mut tr = Trainer::new(batch, seed).unwrap();
        for epoch in 1..=4 {
            let got = tr.epoch_fused(epoch, &mut f, &train, None).unwrap();
            let (loss, correct) = f.evaluate(&test.x, &test.y).unwrap();
            let (ens_tr, ens_te) = &ens_metrics[epoch - 1];
            assert_eq!(got, ens_tr[r], "seed {seed} epoch {epoch} train metrics");
            assert_eq!(
                loss / test.n as f64,
                ens_te[r].loss,
                "seed {seed} test loss"
            );
            assert_eq!(correct as f64 / test.n as f64, ens_te[r].acc);
        }
        f.store(&vars, &mut opt).unwrap();
        for (i, single) in values(&vars).iter().enumerate() {
            let n = single.len();
            assert_eq!(
                single[..],
                stacked[i][r * n..(r + 1) * n],
                "seed {seed} parameter {i}"
            );
        }
        assert_eq!(opt.steps(), ens_opt.steps());
    }
}

#[test]
fn a_diverging_replica_stops_the_epoch_naming_its_seed() {
    let ds = tishby12();
    let s = spec(Activation::Linear);
    let optim = OptimSpec::Sgd {
        lr: 1e6,
        momentum: 0.0,
    };
    let seeds = [3u64, 4];
    let ens = EnsembleMlp::new(&s, &seeds, &Device::Cpu).unwrap();
    let vars = vars_of(ens.named_vars());
    let opt = Optimizer::new(optim.clone(), vars.clone()).unwrap();
    let mut reps: Vec<FusedMlp> = seeds
        .iter()
        .map(|_| FusedMlp::new(&s, &optim, 256).unwrap())
        .collect();
    FusedMlp::load_replicas(&mut reps, &vars, &opt).unwrap();
    let mut tr = EnsembleTrainer::new(256, &seeds).unwrap();
    let mut stopped = None;
    for epoch in 1..=20 {
        match tr.epoch_fused(epoch, &mut reps, &seeds, &ds, None) {
            Ok(_) => {}
            Err(e) => {
                stopped = Some(e);
                break;
            }
        }
    }
    match stopped {
        Some(Error::DivergedReplica { seed, loss, .. }) => {
            assert!(seeds.contains(&seed));
            assert!(!loss.is_finite());
        }
        other => panic!("expected a diverged replica, got {other:?}"),
    }
}
