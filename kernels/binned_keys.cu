// Quantise + row key: one pass over a row-major [n, d] activation matrix that bins every element
// (thresholds: fixed-range IDNNs bins and explicit edge arrays; or Saxe's floor(x / width)) and
// reduces each row to a 122-bit key (two residues mod 2^61 - 1). Memory-bound by design: every
// element is read once, and a row's bins never touch memory.
//
// Row encoding (injective, so equal keys can only come from equal binned rows or from a hash
// collision, whose probability docs/estimators.md bounds):
//  * thresholds: each element's code (0..=m, NaN m + 1) takes `bits` bits; `per` = 32 / bits
//    consecutive codes are packed into one 32-bit limb; a row has `limbs` = ceil(d / per) limbs.
//  * floor: each element's i64 bin b is written as u = b + 2^31 (mod 2^64); its low 32 bits are
//    limb j and its high 32 bits limb d + j (zero for |b| < 2^31, and then skipped); limbs = 2d.
// Key h = (sum_w limb_w * coef[2w] mod p, sum_w limb_w * coef[2w + 1] mod p), p = 2^61 - 1, with
// coef[i] = probe_key_coef(seed, i) (probe_common.cuh), generated on the device by key_coefficients
// and cached there by the host (at least 2 * limbs values).
//
// Launch: blockDim.x = 256 (a multiple of 32), any gridDim.x (grid-stride over rows). A row is
// handled by G = 2^glog lanes of one warp (G <= 32), each taking limbs w = lane, lane + G, ...
// Dynamic shared memory: m * 4 bytes when m <= PROBE_SMEM_THR_MAX (thresholds staged there), else 0.
#include "probe_common.cuh"

#define PROBE_SMEM_THR_MAX 2048u

PROBE_HD u32 probe_min_u32(u32 a, u32 b) { return a < b ? a : b; }

/// The row loop of both encodings (see the header): rows are spread over the grid's warps, G =
/// 2^glog lanes of a warp per row; for each row of this thread, `terms(r, sub, G, a1, a2)` adds to
/// (a1, a2) the terms of the row `r` that lane `sub` (of G) takes, the G lanes' sums are added
/// (a butterfly over the warp) and the row's first lane stores its key.
template <typename T, typename Terms>
__device__ __forceinline__ void probe_row_keys(const T *__restrict__ x, u64 n, u32 d, u32 glog,
                                               u64 *__restrict__ k1, u64 *__restrict__ k2,
                                               Terms terms) {
    const u32 lane = threadIdx.x & 31u;
    const u32 G = 1u << glog;
    const u32 sub = lane & (G - 1);
    const u64 rows_per_warp = 32u >> glog;
    const u64 warp = ((u64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
    const u64 warps = ((u64)gridDim.x * blockDim.x) >> 5;
    // Warp-uniform loop: every lane runs the same iterations, so the shuffles below are complete.
    for (u64 base = warp * rows_per_warp; base < n; base += warps * rows_per_warp) {
        const u64 row = base + (lane >> glog);
        u64 a1 = 0, a2 = 0;
        if (row < n)
            terms(x + row * d, sub, G, a1, a2);
        for (u32 off = 1; off < G; off <<= 1) {
            a1 = probe_fold61(a1 + __shfl_xor_sync(0xffffffffu, a1, off));
            a2 = probe_fold61(a2 + __shfl_xor_sync(0xffffffffu, a2, off));
        }
        if (row < n && sub == 0) {
            k1[row] = probe_mod61(a1);
            k2[row] = probe_mod61(a2);
        }
    }
}

template <typename T>
__device__ void row_keys_thr(const T *__restrict__ x, u64 n, u32 d, const float *__restrict__ thr_g,
                             u32 m, float t0, float inv, u32 search, u32 bits, u32 per, u32 limbs,
                             const u64 *__restrict__ coef, u32 glog, u64 *__restrict__ k1,
                             u64 *__restrict__ k2) {
    PROBE_DYN_SMEM(float, s_thr);
    const float *thr = thr_g;
    if (m <= PROBE_SMEM_THR_MAX) {
        for (u32 i = threadIdx.x; i < m; i += blockDim.x)
            s_thr[i] = thr_g[i];
        __syncthreads();
        thr = s_thr;
    }
    const ProbeThr p = {thr, m, t0, inv, search};
    probe_row_keys(x, n, d, glog, k1, k2, [&](const T *r, u32 sub, u32 G, u64 &a1, u64 &a2) {
        for (u32 w = sub; w < limbs; w += G) {
            u32 j = w * per;
            const u32 end = probe_min_u32(j + per, d);
            u32 limb = 0, shift = 0;
            for (; j < end; ++j, shift += bits)
                limb |= probe_code(probe_load(r, j), p) << shift;
            a1 = probe_acc(a1, probe_mul_limb(limb, coef[2 * w]));
            a2 = probe_acc(a2, probe_mul_limb(limb, coef[2 * w + 1]));
        }
    });
}

template <typename T>
__device__ void row_keys_floor(const T *__restrict__ x, u64 n, u32 d, double width,
                               const u64 *__restrict__ coef, u32 glog, u64 *__restrict__ k1,
                               u64 *__restrict__ k2) {
    probe_row_keys(x, n, d, glog, k1, k2, [&](const T *r, u32 sub, u32 G, u64 &a1, u64 &a2) {
        for (u32 j = sub; j < d; j += G) {
            const u64 u = (u64)probe_floor_bin(probe_load(r, j), width) + (1ull << 31);
            const u32 lo = (u32)u, hi = (u32)(u >> 32);
            a1 = probe_acc(a1, probe_mul_limb(lo, coef[2 * j]));
            a2 = probe_acc(a2, probe_mul_limb(lo, coef[2 * j + 1]));
            if (hi != 0) { // bins beyond [-2^31, 2^31): the high limb (0 contributes nothing)
                const u64 w = (u64)d + j;
                a1 = probe_acc(a1, probe_mul_limb(hi, coef[2 * w]));
                a2 = probe_acc(a2, probe_mul_limb(hi, coef[2 * w + 1]));
            }
        }
    });
}

// row_keys_thr asks for 8 blocks of 256 threads per SM (at most 32 registers): with that bound
// ptxas (CUDA 13.0, sm_90) fits every dtype in 31 registers without spilling, where its own
// choice spilled a few bytes for f16 (and, before, for f64 and bf16).
#define PROBE_ROW_KEYS(SUFFIX, T)                                                                  \
    extern "C" __global__ void __launch_bounds__(256, 8) row_keys_thr_##SUFFIX(                    \
        const T *x, u64 n, u32 d, const float *thr, u32 m, float t0, float inv, u32 search,        \
        u32 bits, u32 per, u32 limbs, const u64 *coef, u32 glog, u64 *k1, u64 *k2) {               \
        row_keys_thr<T>(x, n, d, thr, m, t0, inv, search, bits, per, limbs, coef, glog, k1, k2);   \
    }                                                                                              \
    extern "C" __global__ void __launch_bounds__(256) row_keys_floor_##SUFFIX(                     \
        const T *x, u64 n, u32 d, double width, const u64 *coef, u32 glog, u64 *k1, u64 *k2) {     \
        row_keys_floor<T>(x, n, d, width, coef, glog, k1, k2);                                     \
    }

/// coef[i] = probe_key_coef(seed, i) for i < count (grid-stride; any launch shape).
extern "C" __global__ void __launch_bounds__(256) key_coefficients(u64 seed, u64 count, u64 *coef) {
    for (u64 i = (u64)blockIdx.x * blockDim.x + threadIdx.x; i < count;
         i += (u64)gridDim.x * blockDim.x)
        coef[i] = probe_key_coef(seed, i);
}

PROBE_ROW_KEYS(f32, float)
PROBE_ROW_KEYS(f64, double)
PROBE_ROW_KEYS(f16, f16_t)
PROBE_ROW_KEYS(bf16, bf16_t)
