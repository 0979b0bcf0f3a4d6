//! Representations against values worked out by hand: `channel_mean`, `token_mean`, `cls` and
//! `flatten` on a tensor whose entries encode their own index, the random projection against its
//! definition (entries ±1/√K, a plain f64 product, reproducible per seed and hook) and against the
//! Johnson–Lindenstrauss property it is chosen for, chunked capture through the cache against the
//! whole batch, and the rule table's errors.

use candle_core::{DType, Device, Tensor};
use probe_capture::{
    projection, ActivationCache, Error, NameFilter, Representation, Representations,
};

/// `[2, 3, 2, 2]` with entry `(b, c, i, j)` = `1000·b + 100·c + 10·i + j`.
fn indexed() -> Tensor {
    let mut v = Vec::new();
    for b in 0..2 {
        for c in 0..3 {
            for i in 0..2 {
                for j in 0..2 {
                    v.push((1000 * b + 100 * c + 10 * i + j) as f32);
                }
            }
        }
    }
    Tensor::from_vec(v, (2, 3, 2, 2), &Device::Cpu).unwrap()
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    t.to_dtype(DType::F32).unwrap().to_vec2().unwrap()
}

fn rep(s: &str) -> Representation {
    s.parse().unwrap()
}

#[test]
fn reductions_match_hand_computed_values() {
    let t = indexed();
    // Mean over (i, j) ∈ {0,1}² of 10i + j is 5.5.
    assert_eq!(
        rows(&rep("channel_mean").apply("h", &t, 0).unwrap()),
        [[5.5, 105.5, 205.5], [1005.5, 1105.5, 1205.5]]
    );
    // Mean over c ∈ {0,1,2} of 100c is 100; what remains is [i, j] flattened.
    assert_eq!(
        rows(&rep("token_mean").apply("h", &t, 0).unwrap()),
        [[100., 101., 110., 111.], [1100., 1101., 1110., 1111.]]
    );
    assert_eq!(
        rows(&rep("cls").apply("h", &t, 0).unwrap()),
        [[0., 1., 10., 11.], [1000., 1001., 1010., 1011.]]
    );
    let flat = rows(&rep("flatten").apply("h", &t, 0).unwrap());
    assert_eq!(flat.len(), 2);
    assert_eq!(flat[1].len(), 12);
    // Row-major order: (c, i, j) = (2, 1, 0) is position 2·4 + 1·2 + 0 = 10.
    assert_eq!(flat[1][10], 1210.);
}

#[test]
fn projection_is_its_definition() {
    let (d, k) = (12, 5);
    let p = projection(7, "convs.0.hook_post", d, k).unwrap();
    assert_eq!(p.dims(), [d, k]);
    let pv: Vec<Vec<f32>> = p.to_vec2().unwrap();
    let s = 1.0 / (k as f32).sqrt();
    assert!(pv.iter().flatten().all(|&x| x == s || x == -s));
    // Both signs occur (a constant matrix would be a mean, not a projection).
    assert!(pv.iter().flatten().any(|&x| x > 0.0) && pv.iter().flatten().any(|&x| x < 0.0));
    // Reproducible for (seed, hook), different for another hook or seed.
    let same = projection(7, "convs.0.hook_post", d, k).unwrap();
    assert_eq!(pv, same.to_vec2::<f32>().unwrap());
    for other in [
        projection(7, "convs.1.hook_post", d, k).unwrap(),
        projection(8, "convs.0.hook_post", d, k).unwrap(),
    ] {
        assert_ne!(pv, other.to_vec2::<f32>().unwrap());
    }
    // The rows are flat · P, computed here in f64.
    let t = indexed();
    let got = rows(&rep("project:5").apply("convs.0.hook_post", &t, 7).unwrap());
    let flat = rows(&t.flatten_from(1).unwrap());
    for (g, x) in got.iter().zip(&flat) {
        for c in 0..k {
            let want: f64 = (0..d).map(|r| x[r] as f64 * pv[r][c] as f64).sum();
            assert!(
                (g[c] as f64 - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{g:?}"
            );
        }
    }
}

#[test]
fn projection_preserves_squared_norms_in_expectation() {
    // E|Px|² = |x|² with Var(|Px|²/|x|²) ≈ 2/K: at K = 2048 the ratio's standard deviation is
    // ≈ 0.031, so 0.2 is over 6σ for each of the 8 vectors.
    let (d, k) = (300, 2048);
    let x = Tensor::randn(0f32, 1., (8, d), &Device::Cpu).unwrap();
    let y = Representation::Project { k }.apply("h", &x, 3).unwrap();
    let nx: Vec<f32> = x.sqr().unwrap().sum(1).unwrap().to_vec1().unwrap();
    let ny: Vec<f32> = y.sqr().unwrap().sum(1).unwrap().to_vec1().unwrap();
    for (a, b) in nx.iter().zip(&ny) {
        assert!((b / a - 1.0).abs() < 0.2, "|Px|²/|x|² = {}", b / a);
    }
}

#[test]
fn chunked_capture_equals_the_whole_batch() {
    let t = indexed();
    let r = Representations::new(
        [("a", "channel_mean"), ("b", "project:3"), ("c", "cls")],
        11,
    )
    .unwrap();
    let mut cache = ActivationCache::new(NameFilter::all()).with_representations(r.clone());
    for b in 0..2 {
        let chunk = t.narrow(0, b, 1).unwrap();
        for name in ["a", "b", "c", "d"] {
            cache.hook(name, &chunk).unwrap();
        }
    }
    let mut whole = r;
    for name in ["a", "b", "c", "d"] {
        let got = cache.take(name).unwrap().unwrap();
        let want = whole.apply(name, &t).unwrap();
        assert_eq!(rows(&got), rows(&want), "{name}");
    }
    // Unmatched hook "d" is flattened.
    assert_eq!(
        rows(&whole.apply("d", &t).unwrap()),
        rows(&t.flatten_from(1).unwrap())
    );
}

#[test]
fn bad_rules_and_shapes_are_errors_naming_the_fix() {
    for bad in ["project:0", "project:x", "projection:4", "mean", ""] {
        let e = bad.parse::<Representation>().unwrap_err().to_string();
        assert!(e.contains("project:K") && e.contains(bad), "{bad}: {e}");
    }
    for s in ["flatten", "channel_mean", "token_mean", "cls", "project:64"] {
        assert_eq!(rep(s).to_string(), s);
    }
    // A reduction over a missing axis names the hook and suggests flatten.
    let flat = Tensor::zeros((4, 6), DType::F32, &Device::Cpu).unwrap();
    let e = rep("channel_mean")
        .apply("fc.0.hook_post", &flat, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("fc.0.hook_post") && e.contains("flatten"), "{e}");
    // A hook two patterns select is ambiguous; a pattern selecting no measured hook is an error.
    let r =
        Representations::new([("convs.*", "channel_mean"), ("*.hook_post", "flatten")], 0).unwrap();
    assert!(matches!(
        r.of("convs.0.hook_post"),
        Err(Error::AmbiguousRepresentation { .. })
    ));
    assert_eq!(r.of("convs.0.hook_pre").unwrap(), rep("channel_mean"));
    assert_eq!(r.of("fc.0.hook_pre").unwrap(), rep("flatten"));
    let r = Representations::new([("blocks.*", "cls")], 0).unwrap();
    let e = r.check(&["convs.0.hook_post".to_string()]).unwrap_err();
    assert!(e.to_string().contains("convs.0.hook_post"), "{e}");
}
