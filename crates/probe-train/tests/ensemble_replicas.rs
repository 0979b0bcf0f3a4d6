//! Seed ensembles: every replica of an `EnsembleMlp` trained with `EnsembleTrainer` is the MLP of
//! its seed trained alone with `Trainer`, bit for bit on the CPU (weights, per-epoch losses and
//! accuracies, test evaluation and every hook point's activations). Guards the promise that the
//! batched ensemble is only a faster way to run the same seeds.

use candle_core::{Device, Tensor};
use probe_capture::{ActivationCache, NameFilter};
use probe_train::data::tishby12;
use probe_train::ensemble::{evaluate_ensemble, EnsembleMlp, EnsembleTrainer};
use probe_train::model::{Activation, Init, Mlp, MlpSpec, Model};
use probe_train::optim::{OptimSpec, Optimizer};
use probe_train::trainer::{evaluate, DeviceData, Trainer};

mod common;
use common::bits;

fn check(activation: Activation, init: Init, spec_opt: OptimSpec, batch: usize) {
    let dev = Device::Cpu;
    let ds = tishby12();
    // Train on a 3000-pattern prefix (last batch smaller than the others), test on the rest.
    let train = ds.subset(&(0..3000).collect::<Vec<_>>());
    let test = ds.subset(&(3000..ds.n).collect::<Vec<_>>());
    let (train_d, test_d) = (
        DeviceData::new(&train, &dev).unwrap(),
        DeviceData::new(&test, &dev).unwrap(),
    );
    let spec = MlpSpec {
        input_dim: 12,
        hidden: vec![10, 7, 5, 4, 3],
        classes: 2,
        activation,
        init,
    };
    let seeds = [11u64, 12, 13];
    let ens = EnsembleMlp::new(&spec, &seeds, &dev).unwrap();
    let ens_vars = ens.named_vars().into_iter().map(|(_, v)| v).collect();
    let mut ens_opt = Optimizer::new(spec_opt.clone(), ens_vars).unwrap();
    let mut ens_tr = EnsembleTrainer::new(batch, &seeds).unwrap();
    let singles: Vec<Mlp> = seeds
        .iter()
        .map(|&s| Mlp::new(&spec, s, &dev).unwrap())
        .collect();
    let mut opts: Vec<Optimizer> = singles
        .iter()
        .map(|m| {
            let vars = m.named_vars().into_iter().map(|(_, v)| v).collect();
            Optimizer::new(spec_opt.clone(), vars).unwrap()
        })
        .collect();
    let mut trs: Vec<Trainer> = seeds
        .iter()
        .map(|&s| Trainer::new(batch, s).unwrap())
        .collect();
    for epoch in 1..=4 {
        let ens_la = ens_tr
            .epoch_with(epoch, &ens, &mut ens_opt, &train_d, None)
            .unwrap();
        let ens_te = evaluate_ensemble(&ens, &test_d, 300).unwrap();
        for r in 0..seeds.len() {
            let la = trs[r]
                .epoch(epoch, &singles[r], &mut opts[r], &train_d)
                .unwrap();
            assert_eq!(la, ens_la[r], "train loss/acc, epoch {epoch}, replica {r}");
            let te = evaluate(&singles[r], &test_d, 300).unwrap();
            assert_eq!(te, ens_te[r], "test loss/acc, epoch {epoch}, replica {r}");
        }
    }
    // Weights bit for bit.
    for (r, single) in singles.iter().enumerate() {
        let rep = ens.replica_tensors(r).unwrap();
        for ((n1, v), (n2, t)) in single.named_vars().iter().zip(&rep) {
            assert_eq!(n1, n2);
            assert_eq!(bits(v.as_tensor()), bits(t), "{n1} of replica {r}");
        }
    }
    // Activations at every hook point on all 4096 patterns (what the estimators read).
    let x = Tensor::from_slice(&ds.x, (ds.n, ds.d), &dev).unwrap();
    let mut ec = ActivationCache::new(NameFilter::new(&["*".to_string()]).unwrap());
    ens.forward(&x, Some(&mut ec)).unwrap();
    let ens_acts: Vec<(String, Tensor)> = ens
        .hook_names()
        .into_iter()
        .map(|h| {
            let t = ec.take(&h).unwrap().unwrap();
            (h, t)
        })
        .collect();
    for (r, single) in singles.iter().enumerate() {
        let mut sc = ActivationCache::new(NameFilter::new(&["*".to_string()]).unwrap());
        single.forward(&x, Some(&mut sc)).unwrap();
        assert_eq!(single.hook_names().len(), ens_acts.len());
        for (h, e) in &ens_acts {
            let s = sc.take(h).unwrap().unwrap();
            assert_eq!(bits(&s), bits(&e.get(r).unwrap()), "{h} of replica {r}");
        }
    }
}

#[test]
fn ensemble_replicas_equal_single_runs_tanh_adam() {
    check(
        Activation::Tanh,
        Init::TruncatedNormal,
        OptimSpec::Adam {
            lr: 0.01,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
        512,
    );
}

#[test]
fn ensemble_replicas_equal_single_runs_relu_sgd_momentum() {
    check(
        Activation::Relu,
        Init::Default,
        OptimSpec::Sgd {
            lr: 0.05,
            momentum: 0.9,
        },
        128,
    );
}
