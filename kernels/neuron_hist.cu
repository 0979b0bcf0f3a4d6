// Per-neuron histograms: for a row-major [n, d] activation matrix and threshold bins (m
// thresholds, codes 0..=m, NaN m + 1: B = m + 2 codes), counts out[j * B + code] of column
// (neuron) j, for per-neuron entropy and saturation statistics. out must be zeroed.
//
// Launch: grid (ceil(d / tile), ceil(n / rows_per_block)), blockDim.x = 256. A block counts the
// columns [blockIdx.x * tile, + tile) of rows [blockIdx.y * rows_per_block, + rows_per_block) into
// a shared-memory histogram (dynamic shared memory tile * B * 4 bytes; the host keeps it near
// 24 KiB so that 8 blocks of 256 threads fit an SM) with shared atomics, then adds it to out with
// one global atomic per non-zero bin. With direct = 1 (B too large for shared memory) it adds
// straight to out and needs no shared memory. rows_per_block * tile < 2^31.
//
// The shared histogram is code-major, hist[code * tc + c]: the lanes of a warp read consecutive
// columns c of one row, so lanes whose values fall in the same bin hit consecutive banks (no
// conflict when tc is a multiple of 32, which the host arranges when tile >= 32). Each thread
// walks its elements i = threadIdx.x + k * blockDim.x as (row, column) incrementally: no division
// per element.
#include "probe_common.cuh"

template <typename T>
__device__ void neuron_hist(const T *__restrict__ x, u64 n, u32 d, const float *__restrict__ thr,
                            u32 m, float t0, float inv, u32 search, u32 tile, u32 rows_per_block,
                            u32 direct, u32 *__restrict__ out) {
    const u32 B = m + 2;
    const u32 col0 = blockIdx.x * tile;
    const u64 r0 = (u64)blockIdx.y * rows_per_block;
    if (col0 >= d || r0 >= n) // uniform over the block
        return;
    const u32 tc = d - col0 < tile ? d - col0 : tile;
    const u32 rows = n - r0 < rows_per_block ? (u32)(n - r0) : rows_per_block;
    const ProbeThr p = {thr, m, t0, inv, search};
    PROBE_DYN_SMEM(u32, hist);
    u32 *const block_out = out + (u64)col0 * B;
    if (!direct) {
        for (u32 i = threadIdx.x; i < tc * B; i += blockDim.x)
            hist[i] = 0;
        __syncthreads();
    }
    // Element i = r * tc + c; the step blockDim.x = dr * tc + dc.
    const u32 dr = blockDim.x / tc, dc = blockDim.x - dr * tc;
    u32 r = threadIdx.x / tc, c = threadIdx.x - r * tc;
    const T *const base = x + r0 * d + col0;
    while (r < rows) {
        const u32 code = probe_code(probe_load(base, (u64)r * d + c), p);
        if (direct)
            atomicAdd(&block_out[(u64)c * B + code], 1u);
        else
            atomicAdd(&hist[code * tc + c], 1u);
        c += dc;
        r += dr;
        if (c >= tc) {
            c -= tc;
            ++r;
        }
    }
    if (!direct) {
        __syncthreads();
        for (u32 i = threadIdx.x; i < tc * B; i += blockDim.x) {
            const u32 h = hist[i];
            if (h != 0) {
                const u32 code = i / tc;
                atomicAdd(&block_out[(u64)(i - code * tc) * B + code], h);
            }
        }
    }
}

#define PROBE_NEURON_HIST(SUFFIX, T)                                                               \
    extern "C" __global__ void __launch_bounds__(256) neuron_hist_##SUFFIX(                        \
        const T *x, u64 n, u32 d, const float *thr, u32 m, float t0, float inv, u32 search,        \
        u32 tile, u32 rows_per_block, u32 direct, u32 *out) {                                      \
        neuron_hist<T>(x, n, d, thr, m, t0, inv, search, tile, rows_per_block, direct, out);       \
    }

PROBE_NEURON_HIST(f32, float)
PROBE_NEURON_HIST(f64, double)
PROBE_NEURON_HIST(f16, f16_t)
PROBE_NEURON_HIST(bf16, bf16_t)
