// Shared helpers of probe's CUDA kernels: element loads (f32, f64, f16, bf16), the bin rules of
// `probe_estimators::binning` (thresholds and floor), arithmetic modulo the Mersenne prime 2^61 - 1
// for the row keys, and slot hashing for the counting tables.
//
// Everything here is `PROBE_HD` (host and device), so the same code also compiles as plain C++
// under scripts/cuda/emulate (a CPU emulation harness that checks the kernels without a GPU).
// No function here may depend on floating-point contraction: build with --fmad=false.
#pragma once

#ifdef __CUDACC__
#define PROBE_HD __host__ __device__ __forceinline__
#define PROBE_DYN_SMEM(type, name)                                                             \
    extern __shared__ __align__(16) unsigned char probe_dyn_smem_[];                          \
    type *name = reinterpret_cast<type *>(probe_dyn_smem_)
#else
#include "emu.h" // scripts/cuda/emulate/emu.h: the CPU stand-ins for CUDA built-ins
#define PROBE_HD inline
#define PROBE_DYN_SMEM(type, name) type *name = reinterpret_cast<type *>(emu_dyn_smem())
#endif

typedef unsigned int u32;
typedef unsigned long long u64;
typedef long long i64;

// ---------------------------------------------------------------------------------------------
// Element loads: every activation dtype is read as f32 first, exactly as the CPU reference does
// (`Tensor::to_dtype(F32)`: f16/bf16 widen exactly, f64 rounds to nearest even).

/// An IEEE half, passed as its bits.
struct f16_t {
    unsigned short bits;
};
/// A bfloat16, passed as its bits.
struct bf16_t {
    unsigned short bits;
};

PROBE_HD float probe_bits_to_f32(u32 b) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(b);
#else
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
#endif
}

PROBE_HD float probe_f16_to_f32(unsigned short h) {
    u32 sign = (u32)(h & 0x8000u) << 16;
    u32 exp = (h >> 10) & 0x1fu;
    u32 man = h & 0x3ffu;
    if (exp == 0x1fu) // inf, NaN (payload kept)
        return probe_bits_to_f32(sign | 0x7f800000u | (man << 13));
    if (exp != 0) // normal: rebias 15 -> 127
        return probe_bits_to_f32(sign | ((exp + 112u) << 23) | (man << 13));
    // zero or subnormal: man * 2^-24, exact in f32 (and normal there)
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
}

PROBE_HD float probe_load(const float *p, u64 i) { return p[i]; }
PROBE_HD float probe_load(const double *p, u64 i) { return (float)p[i]; }
PROBE_HD float probe_load(const f16_t *p, u64 i) { return probe_f16_to_f32(p[i].bits); }
PROBE_HD float probe_load(const bf16_t *p, u64 i) { return probe_bits_to_f32((u32)p[i].bits << 16); }

// ---------------------------------------------------------------------------------------------
// Bins. Fixed (IDNNs) and explicit-edge binnings arrive as `m` non-decreasing f32 thresholds:
// the bin of x is the number of thresholds <= x (0..=m) and NaN gets code m + 1. The host derives
// threshold i as the smallest f32 >= interior edge i (an f64), which makes the f32 comparison
// `t <= x` equal to the CPU's f64 comparison `edge <= x as f64` for every f32 x.

/// Bin of x by binary search (upper bound) among thr[lo..hi), given that the answer lies in
/// [lo, hi]: every threshold below lo is <= x and every one from hi on is > x.
PROBE_HD u32 probe_upper(float x, const float *thr, u32 lo, u32 hi) {
    while (lo < hi) {
        u32 mid = lo + (hi - lo) / 2;
        if (thr[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/// Bin of x by binary search. For arbitrary non-decreasing thresholds.
PROBE_HD u32 probe_code_search(float x, const float *thr, u32 m) {
    return x != x ? m + 1 : probe_upper(x, thr, 0, m);
}

/// Bin of x from a guess (x - t0) * inv, for evenly spaced thresholds: the guess, or one step
/// from it (the common case: 1 or 2 threshold reads), else a binary search of the side the
/// answer lies on. Any guess (inv = 0 guesses 0) gives the exact answer in O(log m) reads.
PROBE_HD u32 probe_code_walk(float x, const float *thr, u32 m, float t0, float inv) {
    if (x != x)
        return m + 1;
    float f = (x - t0) * inv;
    u32 g = f >= 0.0f ? (f < (float)m ? (u32)f : m) : 0u;
    if (g < m && thr[g] <= x) { // answer in [g + 1, m]
        ++g;
        return g == m || thr[g] > x ? g : probe_upper(x, thr, g + 1, m);
    }
    if (g > 0 && thr[g - 1] > x) { // answer in [0, g - 1]
        --g;
        return g == 0 || thr[g - 1] <= x ? g : probe_upper(x, thr, 0, g - 1);
    }
    return g;
}

/// Threshold binning parameters. `search` = 0: walk from an arithmetic guess; 1: binary search.
struct ProbeThr {
    const float *thr;
    u32 m;
    float t0;
    float inv;
    u32 search;
};

PROBE_HD u32 probe_code(float x, const ProbeThr &p) {
    return p.search ? probe_code_search(x, p.thr, p.m) : probe_code_walk(x, p.thr, p.m, p.t0, p.inv);
}

#define PROBE_NAN_BIN (-9223372036854775807ll - 1) // i64::MIN
#define PROBE_NEG_INF_BIN (-9223372036854775807ll) // i64::MIN + 1
#define PROBE_POS_INF_BIN 9223372036854775807ll    // i64::MAX

/// Saxe's unbounded bin floor(x / width) in f64 with the CPU's sentinels and saturation
/// (`FloorBins::bin`): NaN, -inf, +inf get bins of their own; finite quotients saturate into
/// [i64::MIN + 2, i64::MAX - 1].
PROBE_HD i64 probe_floor_bin(float x, double width) {
    if (x != x)
        return PROBE_NAN_BIN;
    double xd = (double)x;
    if (xd > 1.7976931348623157e308) // +inf
        return PROBE_POS_INF_BIN;
    if (xd < -1.7976931348623157e308) // -inf
        return PROBE_NEG_INF_BIN;
#ifdef __CUDA_ARCH__
    double q = __ddiv_rn(xd, width);
#else
    double q = xd / width;
#endif
    double f = floor(q);
    if (f >= 9223372036854775808.0)
        return PROBE_POS_INF_BIN - 1;
    if (f <= -9223372036854775808.0)
        return PROBE_NAN_BIN + 2;
    return (i64)f; // |f| < 2^63 and integral: exact, and never beyond the clamp range
}

// ---------------------------------------------------------------------------------------------
// Row keys: two independent linear hashes modulo p = 2^61 - 1 of a row's 32-bit limbs,
// h = sum_w limb_w * coef_w mod p, with coefficients drawn uniformly from [0, p) by the host.
// Values are kept lazily reduced (< 2^61 + 8) and reduced fully at the end.

#define PROBE_P61 ((1ull << 61) - 1)

/// v (< 2^64) -> a value congruent mod p and < 2^61 + 8.
PROBE_HD u64 probe_fold61(u64 v) { return (v & PROBE_P61) + (v >> 61); }

/// limb * coef (limb < 2^32, coef < 2^61), congruent mod p, < 2^62 + 2^33.
PROBE_HD u64 probe_mul_limb(u32 limb, u64 coef) {
    u64 a = (u64)limb * (u32)coef;         // < 2^64
    u64 b = (u64)limb * (u32)(coef >> 32); // < 2^61; stands for b * 2^32
    // b * 2^32 = (b >> 29) * 2^61 + (b mod 2^29) * 2^32, and 2^61 = 1 (mod p).
    return probe_fold61(a) + (b >> 29) + ((b & ((1ull << 29) - 1)) << 32);
}

/// acc (< 2^61 + 8) + r (< 2^62 + 2^33): congruent sum, < 2^61 + 8.
PROBE_HD u64 probe_acc(u64 acc, u64 r) { return probe_fold61(acc + r); }

/// splitmix64's output function (a bijection of u64).
PROBE_HD u64 probe_splitmix(u64 z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/// Row-key coefficient i, uniform in [0, p): the top 61 bits of splitmix64's output for state
/// seed + (i + 1) * 0x9e3779b97f4a7c15 (state i + 1 of the splitmix64 sequence from seed), the one
/// value p itself (probability 2^-61) redrawn from a remixed state. A function of (seed, i) only,
/// so the coefficients of any row width are a prefix of one sequence; limb w of a row uses
/// coefficients 2w (first residue) and 2w + 1 (second). Host copy: kernel_plan.rs `coefficient`.
PROBE_HD u64 probe_key_coef(u64 seed, u64 i) {
    u64 s = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
    for (;;) {
        const u64 v = probe_splitmix(s) >> 3;
        if (v < PROBE_P61)
            return v;
        s = probe_splitmix(s ^ 0xd1b54a32d192ed03ull);
    }
}

/// The canonical residue in [0, p) of a lazily reduced value (< 2^61 + 8 or any v < 2^64).
PROBE_HD u64 probe_mod61(u64 v) {
    v = probe_fold61(probe_fold61(v));
    return v >= PROBE_P61 ? v - PROBE_P61 : v;
}

// ---------------------------------------------------------------------------------------------
// Slot hashing for the open-addressing counting tables.

/// MurmurHash3's 64-bit finaliser (a bijection).
PROBE_HD u64 probe_fmix64(u64 h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 33);
}

/// Start slot of (k1, k2, label) with `salt` distinguishing the tables.
PROBE_HD u32 probe_slot(u64 k1, u64 k2, u32 label, u64 salt) {
    return (u32)(probe_fmix64(k1 ^ (k2 * 0x9e3779b97f4a7c15ull) ^ (((u64)label + 1) * salt)) >> 32);
}
