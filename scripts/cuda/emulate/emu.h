// CPU stand-ins for the CUDA built-ins probe's kernels use, so that kernels/*.cu compile as plain
// C++ (g++ -std=c++20) and run on the CPU: one std::thread per CUDA thread, blocks one after the
// other, std::barrier for __syncthreads and for the warp-synchronous intrinsics (every lane of a
// warp must reach them, as on a GPU with a full mask), std::atomic_ref for the atomics.
// It checks logic (indexing, tables, reductions, bins), not speed or memory-model subtleties.
#pragma once
#include <atomic>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)

struct dim3 {
    unsigned x = 1, y = 1, z = 1;
};

struct EmuWarp {
    std::barrier<> bar{32};
    unsigned long long vals[32];
};

struct EmuBlock {
    std::unique_ptr<std::barrier<>> bar;
    std::vector<std::unique_ptr<EmuWarp>> warps;
    std::vector<unsigned char> smem;
};

inline thread_local dim3 threadIdx, blockIdx, blockDim, gridDim;
inline thread_local EmuBlock *emu_block = nullptr;

inline void *emu_dyn_smem() { return emu_block->smem.data(); }
inline void __syncthreads() { emu_block->bar->arrive_and_wait(); }

inline EmuWarp &emu_warp() { return *emu_block->warps[threadIdx.x / 32]; }

template <typename T> inline T __shfl_xor_sync(unsigned mask, T v, unsigned off) {
    (void)mask;
    EmuWarp &w = emu_warp();
    unsigned lane = threadIdx.x & 31u;
    unsigned long long bits = 0;
    static_assert(sizeof(T) <= 8, "shuffle of at most 8 bytes");
    std::memcpy(&bits, &v, sizeof(T));
    w.vals[lane] = bits;
    w.bar.arrive_and_wait();
    bits = w.vals[lane ^ off];
    w.bar.arrive_and_wait();
    T out;
    std::memcpy(&out, &bits, sizeof(T));
    return out;
}

inline unsigned __match_any_sync(unsigned mask, unsigned v) {
    (void)mask;
    EmuWarp &w = emu_warp();
    unsigned lane = threadIdx.x & 31u;
    w.vals[lane] = v;
    w.bar.arrive_and_wait();
    unsigned peers = 0;
    for (unsigned l = 0; l < 32; ++l)
        if (w.vals[l] == v)
            peers |= 1u << l;
    w.bar.arrive_and_wait();
    return peers;
}

inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __popc(unsigned x) { return __builtin_popcount(x); }

template <typename T> inline T atomicCAS(T *p, T expected, T desired) {
    std::atomic_ref<T> a(*p);
    a.compare_exchange_strong(expected, desired);
    return expected; // the old value, whether or not the exchange happened
}
template <typename T> inline T atomicAdd(T *p, T v) { return std::atomic_ref<T>(*p).fetch_add(v); }
template <typename T> inline T atomicExch(T *p, T v) { return std::atomic_ref<T>(*p).exchange(v); }
template <typename T> inline T emu_load(const T *p) {
    return std::atomic_ref<T>(*const_cast<T *>(p)).load();
}

/// Runs kernel() on grid x block threads (block.x a multiple of 32), with `smem` bytes of dynamic
/// shared memory per block.
inline void emu_launch(dim3 grid, dim3 block, size_t smem, const std::function<void()> &kernel) {
    const unsigned threads = block.x * block.y * block.z;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx) {
                EmuBlock b;
                b.bar = std::make_unique<std::barrier<>>(threads);
                for (unsigned w = 0; w < (threads + 31) / 32; ++w)
                    b.warps.push_back(std::make_unique<EmuWarp>());
                b.smem.assign(smem + 16, 0xAB); // garbage, as on a GPU
                std::vector<std::thread> ts;
                for (unsigned t = 0; t < threads; ++t)
                    ts.emplace_back([&, t] {
                        threadIdx = {t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
                        blockIdx = {bx, by, bz};
                        blockDim = block;
                        gridDim = grid;
                        emu_block = &b;
                        kernel();
                    });
                for (auto &t : ts)
                    t.join();
            }
}
