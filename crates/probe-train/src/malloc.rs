//! Allocator tuning for training on the CPU (glibc only).
//!
//! candle allocates a fresh buffer for every tensor an op produces. glibc serves buffers above its
//! mmap threshold (128 KiB at first, adapting up to 32 MiB) with `mmap` and gives freed memory at
//! the top of the heap back to the kernel beyond its trim threshold, so a training step that
//! produces a few hundred megabytes of activations and gradients faults every page in afresh and
//! unmaps it again (with TLB shootdowns on every core). On the 2-core benchmark machine that was
//! half of a CNN training step (BENCHMARKS.md, "Models"). [`tune`] raises the thresholds once, at
//! start-up, so freed buffers stay in the process and are reused.
//!
//! What no setting can do: a block above 32 MiB (glibc's largest mmap threshold) is always a fresh
//! `mmap`, unmapped again on free. The 8192-row evaluation and capture passes made such tensors
//! (200–400 MB for the CNN) and faulted in ~1.9 million pages per epoch (issue 20); the models now
//! run those passes in slices whose tensors stay under 16 MiB (`model::eval_chunks`).

/// Keeps freed memory for reuse: mmap threshold 32 MiB (glibc's maximum), trim threshold 1 GiB,
/// top pad 64 MiB. Returns whether the settings were accepted (always `false` off glibc). Call it
/// once, before the first large allocation; it changes only performance, never results.
pub fn tune() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // glibc's `mallopt` parameters (malloc.h).
        const M_TRIM_THRESHOLD: i32 = -1;
        const M_TOP_PAD: i32 = -2;
        const M_MMAP_THRESHOLD: i32 = -3;
        extern "C" {
            fn mallopt(param: i32, value: i32) -> i32;
        }
        // SAFETY: mallopt only changes allocator parameters; it is thread-safe in glibc and takes
        // plain integers.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1
                && mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1
                && mallopt(M_TOP_PAD, 64 << 20) == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}
