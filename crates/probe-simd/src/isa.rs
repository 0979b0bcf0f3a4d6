//! The instruction set vectorised loops are compiled for, chosen once per process at run time.
//!
//! A hot loop is written once as an `#[inline(always)]` body and wrapped in
//! `#[target_feature(enable = …)]` functions, one per [`Isa`]; the caller matches on [`isa()`]
//! and calls the matching wrapper (`unsafe`: sound because [`isa()`] and [`supported_isas()`]
//! only name instruction sets this CPU has). The loops are written so that their results are
//! identical at every instruction set (no fused multiply-add, fixed summation order), so the
//! choice changes speed only.
//!
//! The environment variable `PROBE_CPU_ISA` (`baseline`, `avx2` or `avx512`) caps the choice, for
//! benchmarks; it is read once, at the first call of [`isa()`].
//!
//! ```
//! use probe_simd::{isa, supported_isas, Isa};
//! assert_eq!(supported_isas()[0], Isa::Baseline);
//! assert!(supported_isas().contains(&isa()));
//! ```

use std::sync::OnceLock;

/// An instruction set hot loops are compiled for (selected at run time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isa {
    /// x86-64 baseline (SSE2) or any other architecture.
    Baseline,
    /// AVX2 with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// AVX-512 F/DQ/VL/BW (with AVX2 and FMA).
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// Every instruction set this CPU supports, from the baseline up (never empty: the first entry
/// is [`Isa::Baseline`]).
pub fn supported_isas() -> Vec<Isa> {
    #[allow(unused_mut)]
    let mut out = vec![Isa::Baseline];
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if has!("avx2") && has!("fma") {
            out.push(Isa::Avx2);
            if has!("avx512f") && has!("avx512dq") && has!("avx512vl") && has!("avx512bw") {
                out.push(Isa::Avx512);
            }
        }
    }
    out
}

/// The widest supported instruction set, capped by the environment variable `PROBE_CPU_ISA`
/// (`baseline`, `avx2` or `avx512`; for benchmarks: results are identical at every one). Detected
/// once per process.
pub fn isa() -> Isa {
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let cap = std::env::var("PROBE_CPU_ISA").unwrap_or_default();
        capped(&supported_isas(), &cap)
    })
}

/// The widest of `supported` (non-empty, from the baseline up) allowed by the cap `cap` (a value
/// of `PROBE_CPU_ISA`): `baseline` allows the first, `avx2` up to the second, anything else (e.g.
/// `avx512` or empty) every one.
fn capped(supported: &[Isa], cap: &str) -> Isa {
    let rank = match cap {
        "baseline" => 0,
        "avx2" => 1,
        _ => usize::MAX,
    };
    supported[rank.min(supported.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_baseline_comes_first_and_the_choice_is_supported() {
        let s = supported_isas();
        assert_eq!(s[0], Isa::Baseline);
        assert!(s.contains(&isa()));
        // Detection is stable.
        assert_eq!(isa(), isa());
    }

    #[test]
    fn the_cap_never_raises_the_choice() {
        let base = [Isa::Baseline];
        for cap in ["", "baseline", "avx2", "avx512", "nonsense"] {
            assert_eq!(capped(&base, cap), Isa::Baseline, "{cap:?}");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_cap_selects_at_most_the_named_set() {
        let all = [Isa::Baseline, Isa::Avx2, Isa::Avx512];
        assert_eq!(capped(&all, "baseline"), Isa::Baseline);
        assert_eq!(capped(&all, "avx2"), Isa::Avx2);
        assert_eq!(capped(&all, "avx512"), Isa::Avx512);
        assert_eq!(capped(&all, ""), Isa::Avx512);
        let avx2 = [Isa::Baseline, Isa::Avx2];
        assert_eq!(capped(&avx2, "avx512"), Isa::Avx2);
        assert_eq!(capped(&avx2, "baseline"), Isa::Baseline);
    }
}
