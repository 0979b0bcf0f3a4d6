use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
struct A {
    lo: f64,
    inv: f64,
    e: Vec<f64>,
    cmp: Vec<f64>,
}
impl A {
    #[inline(always)]
    fn v0(&self, x: f32) -> i64 {
        let x = x as f64;
        if x.is_nan() {
            return i64::MIN;
        }
        let e = &self.e;
        let last = e.len() - 2;
        let g = ((x - self.lo) * self.inv).max(0.0).min(last as f64);
        let mut b = g as usize;
        while b < last && e[b + 1] <= x {
            b += 1;
        }
        while b > 0 && e[b] > x {
            b -= 1;
        }
        b as i64
    }
    #[inline(always)]
    fn v1(&self, x: f32) -> i64 {
        let x = x as f64;
        if x.is_nan() {
            return i64::MIN;
        }
        let c = &self.cmp;
        let last = c.len() - 2;
        let g = ((x - self.lo) * self.inv).max(0.0).min(last as f64);
        let mut b = g as i64 as usize;
        while c[b + 1] <= x {
            b += 1;
        }
        while c[b] > x {
            b -= 1;
        }
        b as i64
    }
    #[inline(always)]
    fn v2(&self, x: f32) -> i64 {
        let x = x as f64;
        if x.is_nan() {
            return i64::MIN;
        }
        let c = &self.cmp[..];
        let last = c.len() - 2;
        let g = ((x - self.lo) * self.inv).max(0.0).min(last as f64);
        let mut b = g as i64 as usize;
        if b + 1 < c.len() {
            b += (c[b + 1] <= x) as usize;
            b -= (c[b] > x) as usize;
            if c[b + 1] <= x || c[b] > x {
                // rare
                while c[b + 1] <= x {
                    b += 1;
                }
                while c[b] > x {
                    b -= 1;
                }
            }
        }
        b as i64
    }
}
fn main() {
    let n = 20_000_000;
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let xs: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    let step = 2.0 / 29.0;
    let e: Vec<f64> = (0..30)
        .map(|i| if i == 29 { 1.0 } else { -1.0 + i as f64 * step })
        .collect();
    let mut cmp = e[..29].to_vec();
    cmp[0] = f64::NAN;
    cmp.push(f64::NAN);
    let a = A {
        lo: -1.0,
        inv: 1.0 / step,
        e,
        cmp,
    };
    for _ in 0..3 {
        macro_rules! t {
            ($name:expr, $f:ident) => {{
                let t0 = Instant::now();
                let s = xs.iter().fold(0i64, |acc, &x| acc.wrapping_add(a.$f(x)));
                println!(
                    "{} {:.2} ns {s}",
                    $name,
                    t0.elapsed().as_secs_f64() / n as f64 * 1e9
                );
            }};
        }
        t!("v0", v0);
        t!("v1", v1);
        t!("v2", v2);
        let t0 = Instant::now();
        let s = xs.iter().fold(0i64, |acc, &x| {
            acc.wrapping_add(((x as f64 + 1.0) * a.inv) as i64)
        });
        println!(
            "floor-only {:.2} ns {s}",
            t0.elapsed().as_secs_f64() / n as f64 * 1e9
        );
    }
    for &x in &xs[..100000] {
        assert_eq!(a.v0(x), a.v1(x));
        assert_eq!(a.v0(x), a.v2(x));
    }
}
