// Distinct counting of row keys on the device, and the plug-in entropy terms of the counts.
//
// Three open-addressing hash tables of `cap` = 2^log_cap slots each (linear probing, load <= 1/2),
// laid out one after the other in `rep` and `cnt`:
//   table 0: T        (key k1, k2)             -> H(T)
//   table 1: (T, X)   (key k1, k2, x label)    -> H(T|X)
//   table 2: (T, Y)   (key k1, k2, y label)    -> H(T|Y)
// A slot holds row + 1 of its first row (0 = empty), claimed by atomicCAS; a row joins a slot iff
// its key (and label) equal those of that representative row exactly. cnt[slot] counts the rows.
//
// term_runs then turns every occupied slot into its entropy term (c, g): c = the slot's count,
// g = n for table 0 and the size of the slot's x (y) group for table 1 (2), and counts equal
// terms in a second set of three tables of `R` = 2^log_runs slots (key (c << 32) | g, never 0).
// compact_runs writes the occupied run slots as (key, multiplicity) pairs, table t at
// out[2*t*(R/2)..] (the host sizes R >= 2 * the distinct terms, so R/2 pairs per table suffice; a
// table with more sets *err instead of writing past its part), with their number in out_len[t]. Only these few runs go back to the host, which sums
// (mult * c / n) * log2(g / c) exactly as the CPU reference does (bit-identical entropies).
//
// Sizes: log_cap <= 30 and log_runs <= 30 (n <= 2^29 rows), so that every slot index, including
// (table << log_runs) | i in term_runs, fits a u32 below the sentinel 0xffffffff.
//
// Launch: blockDim.x = 256 (a multiple of 32), any gridDim.x. Loops are warp-uniform so that the
// warp-aggregated increments (__match_any_sync over the full warp) see every lane.
// A probe sequence longer than its table (impossible when the host sizes the tables as documented)
// sets *err and stops instead of spinning forever.
#include "probe_common.cuh"

#define PROBE_SALT_T 0x2545f4914f6cdd1dull
#define PROBE_SALT_X 0x9e3779b97f4a7c15ull
#define PROBE_SALT_Y 0xbf58476d1ce4e5b9ull

/// `*p` read afresh from memory (volatile: other threads' atomic writes are seen).
template <typename T> __device__ __forceinline__ T probe_ld(const T *p) {
#ifdef __CUDA_ARCH__
    return *(const volatile T *)p;
#else
    return emu_load(p);
#endif
}

/// The slot of row r in the table `rep` (capacity mask + 1), starting at s; 0xffffffff (and *err
/// set) if the table is full.
__device__ __forceinline__ u32 probe_insert(u32 *rep, u32 mask, u32 s, u32 r, const u64 *k1,
                                            const u64 *k2, const u32 *lab, u32 *err) {
    const u64 a = k1[r], b = k2[r];
    const u32 l = lab ? lab[r] : 0u;
    for (u32 probes = 0; probes <= mask; ++probes) {
        u32 cur = probe_ld(&rep[s]);
        if (cur == 0) {
            const u32 prev = atomicCAS(&rep[s], 0u, r + 1);
            if (prev == 0)
                return s;
            cur = prev;
        }
        const u32 c = cur - 1;
        if (k1[c] == a && k2[c] == b && (!lab || lab[c] == l))
            return s;
        s = (s + 1) & mask;
    }
    atomicExch(err, 1u);
    return 0xffffffffu;
}

/// Adds 1 to cnt[slot] for every lane with `valid` set, one atomic per distinct slot in the warp.
__device__ __forceinline__ void probe_count(u32 *cnt, u32 slot, bool valid) {
    valid = valid && slot != 0xffffffffu;
    const u32 key = valid ? slot : 0xffffffffu;
    const u32 peers = __match_any_sync(0xffffffffu, key);
    const u32 lane = threadIdx.x & 31u;
    if (valid && (u32)(__ffs(peers) - 1) == lane)
        atomicAdd(&cnt[slot], (u32)__popc(peers));
}

/// Inserts every row into the three tables and counts it. Tables must be zeroed before.
extern "C" __global__ void __launch_bounds__(256)
    count_insert(const u64 *k1, const u64 *k2, const u32 *xl, const u32 *yl, u32 n, u32 log_cap,
                 u32 *rep, u32 *cnt, u32 *err) {
    const u64 cap = 1ull << log_cap;
    const u32 mask = (u32)(cap - 1);
    const u32 lane = threadIdx.x & 31u;
    const u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 base = (u64)blockIdx.x * blockDim.x + threadIdx.x - lane; base < n; base += stride) {
        const u64 row = base + lane;
        const bool valid = row < n;
        const u32 r = (u32)row;
        u32 s0 = 0, s1 = 0, s2 = 0;
        if (valid) {
            const u64 a = k1[r], b = k2[r];
            s0 = probe_insert(rep, mask, probe_slot(a, b, 0, PROBE_SALT_T) & mask, r, k1, k2,
                              nullptr, err);
            s1 = probe_insert(rep + cap, mask, probe_slot(a, b, xl[r], PROBE_SALT_X) & mask, r, k1,
                              k2, xl, err);
            s2 = probe_insert(rep + 2 * cap, mask, probe_slot(a, b, yl[r], PROBE_SALT_Y) & mask, r,
                              k1, k2, yl, err);
        }
        probe_count(cnt, s0, valid);
        probe_count(cnt + cap, s1, valid);
        probe_count(cnt + 2 * cap, s2, valid);
    }
}

/// One entropy term (c, g) per occupied slot, counted by equal terms. Run tables must be zeroed.
/// xg[l] (yg[l]) is the number of rows with x (y) label l.
extern "C" __global__ void __launch_bounds__(256)
    term_runs(const u32 *rep, const u32 *cnt, u32 log_cap, u32 n, const u32 *xl, const u32 *yl,
              const u32 *xg, const u32 *yg, u32 log_runs, u64 *rkey, u32 *rmult, u32 *err) {
    const u64 total = 3ull << log_cap;
    const u32 rmask = (1u << log_runs) - 1;
    const u32 lane = threadIdx.x & 31u;
    const u64 stride = (u64)gridDim.x * blockDim.x;
    for (u64 base = (u64)blockIdx.x * blockDim.x + threadIdx.x - lane; base < total;
         base += stride) {
        const u64 s = base + lane;
        const u32 c = s < total ? cnt[s] : 0u;
        const bool valid = c != 0;
        u32 slot = 0xffffffffu;
        if (valid) {
            const u32 table = (u32)(s >> log_cap);
            const u32 r = rep[s] - 1;
            const u32 g = table == 0 ? n : table == 1 ? xg[xl[r]] : yg[yl[r]];
            const u64 key = ((u64)c << 32) | g;
            u64 *rk = rkey + ((u64)table << log_runs);
            u32 i = (u32)(probe_fmix64(key) >> 32) & rmask;
            for (u32 probes = 0; probes <= rmask; ++probes) {
                u64 cur = probe_ld(&rk[i]);
                if (cur == 0) {
                    const u64 prev = atomicCAS(&rk[i], 0ull, key);
                    cur = prev == 0 ? key : prev;
                }
                if (cur == key) {
                    slot = (table << log_runs) | i;
                    break;
                }
                i = (i + 1) & rmask;
            }
            if (slot == 0xffffffffu)
                atomicExch(err, 1u);
        }
        probe_count(rmult, slot, valid);
    }
}

/// Writes the occupied run slots of each table t as (key, multiplicity) to out[2 * (t * H + i)],
/// H = R / 2, i counted in out_len[t]; i >= H sets *err and writes nothing. out_len must be zeroed.
extern "C" __global__ void __launch_bounds__(256)
    compact_runs(const u64 *rkey, const u32 *rmult, u32 log_runs, u64 *out, u32 *out_len,
                 u32 *err) {
    const u64 total = 3ull << log_runs;
    const u64 half = 1ull << (log_runs - 1); // log_runs >= 1
    for (u64 s = (u64)blockIdx.x * blockDim.x + threadIdx.x; s < total;
         s += (u64)gridDim.x * blockDim.x) {
        const u64 key = rkey[s];
        if (key != 0) {
            const u64 t = s >> log_runs;
            const u64 i = atomicAdd(&out_len[t], 1u);
            if (i >= half) {
                atomicExch(err, 1u);
                continue;
            }
            const u64 o = 2 * (t * half + i);
            out[o] = key;
            out[o + 1] = rmult[s];
        }
    }
}
