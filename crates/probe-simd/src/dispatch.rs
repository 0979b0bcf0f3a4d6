//! [`isa_dispatch!`](crate::isa_dispatch): the one place where a hot loop's body is wrapped in a
//! `#[target_feature]` function per [`Isa`](crate::Isa) and dispatched on it, so that no module
//! writes its own `mod avx2 { … } mod avx512 { … }` and `match isa { … }`.

/// Defines `fn NAME(isa: Isa, args…) -> R` that runs `BODY(args…)` compiled for `isa`.
///
/// `BODY` is an `#[inline(always)]` function written once; the macro wraps it in an
/// `#[target_feature(enable = "avx2,fma")]` and an AVX-512 (F/DQ/VL/BW, AVX2, FMA) function on
/// x86-64 and calls the one `isa` names. Generic parameters take one bound each. `isa` must
/// come from [`isa()`](crate::isa()) or [`supported_isas()`](crate::supported_isas), which only
/// name instruction sets this CPU has: that is what makes the `unsafe` calls sound.
///
/// ```
/// #[inline(always)]
/// fn sum_body(xs: &[f32]) -> f32 {
///     xs.iter().sum()
/// }
/// probe_simd::isa_dispatch! {
///     /// `sum_body` for `isa`.
///     fn sum_with(xs: &[f32]) -> f32 => sum_body
/// }
/// for isa in probe_simd::supported_isas() {
///     assert_eq!(sum_with(isa, &[1.0, 2.0]), 3.0);
/// }
/// ```
#[macro_export]
macro_rules! isa_dispatch {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident $(<$($g:ident: $bound:path),+>)? ($($arg:ident: $ty:ty),* $(,)?)
            $(-> $ret:ty)? => $body:ident
    ) => {
        $(#[$meta])*
        $vis fn $name $(<$($g: $bound),+>)? (isa: $crate::Isa, $($arg: $ty),*) $(-> $ret)? {
            /// `$body` compiled for AVX2. Safety: the CPU must support AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2 $(<$($g: $bound),+>)? ($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            /// `$body` compiled for AVX-512. Safety: the CPU must support AVX-512 F/DQ/VL/BW,
            /// AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")]
            unsafe fn avx512 $(<$($g: $bound),+>)? ($($arg: $ty),*) $(-> $ret)? {
                $body($($arg),*)
            }
            match isa {
                // SAFETY: `isa` comes from `supported_isas()` / `isa()`, which name Avx2 only
                // after detecting AVX2 and FMA on this CPU.
                #[cfg(target_arch = "x86_64")]
                $crate::Isa::Avx2 => unsafe { avx2($($arg),*) },
                // SAFETY: as above, Avx512 only after detecting every feature it enables.
                #[cfg(target_arch = "x86_64")]
                $crate::Isa::Avx512 => unsafe { avx512($($arg),*) },
                $crate::Isa::Baseline => $body($($arg),*),
            }
        }
    };
}
