//! Process-wide CPU threading settings for candle, applied once at start-up.
//!
//! Three of candle 0.11's defaults cost training time on small CPUs:
//! - without `RAYON_NUM_THREADS`, candle works out its default thread count (the physical cores,
//!   read from `/proc/cpuinfo`) again on **every** matrix product; for small networks that file
//!   read cost more than the training itself (the 12-bit protocol ran 2–3× slower);
//! - its elementwise thread pool's workers spin 25 000 times after every op before parking, while
//!   the matrix products run on rayon's pool: on 2 cores the spinning worker takes a core from
//!   the product, and the Saxe MNIST MLP ran no faster on 2 threads than on 1 (2.3 s per epoch
//!   either way; 1.65 s with a spin limit of 100, BENCHMARKS.md);
//! - every elementwise op of 64 Ki elements or more is split over that pool, and the calling
//!   thread then spins until each worker has woken (a futex wake-up per op once the worker has
//!   parked) and finished. With the CNN, Transformer and RNN of `configs/*_fashion.toml` that
//!   wait was 13–43 % of the process's CPU time (`perf`, `BarrierGuard::drop`, most of it in
//!   backprop's gradient sums), more than the split saved: one elementwise thread
//!   (`CANDLE_NUM_THREADS=1`; matrix products still use all `RAYON_NUM_THREADS`) cut the CPU
//!   time per training epoch by 25 % (CNN), 45 % (Transformer) and 11 % (GRU) on the 2-core
//!   machine (issue 20; measured under load, BENCHMARKS.md "Models").
//!
//! [`configure`] sets all three through candle's own environment variables, unless the user set
//! them. `on_pool` runs the trainer's steps on one of rayon's workers, so the parallel products
//! and ops inside a step hand work to the other worker without putting the caller to sleep.

/// Spin iterations of candle's elementwise pool workers before they park.
const BARRIER_POOL_SPIN_LIMIT: u32 = 100;

/// Elementwise threads of candle's barrier pool (the caller plus `n − 1` workers).
const ELEMENTWISE_THREADS: u32 = 1;

/// Fixes `RAYON_NUM_THREADS` (to candle's own default), `CANDLE_BARRIER_POOL_SPIN_LIMIT` (to 100)
/// and `CANDLE_NUM_THREADS` (candle's elementwise threads, to 1) for this process, leaving values
/// the user set alone. Call it first thing in `main`, before
/// any other thread exists and before the first tensor op (candle reads both once). Changes only
/// speed, never results.
pub fn configure() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = candle_core::utils::get_num_threads();
        // Single-threaded here (see above): no other thread can be reading the environment.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", ELEMENTWISE_THREADS.to_string());
    }
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var(
            "CANDLE_BARRIER_POOL_SPIN_LIMIT",
            BARRIER_POOL_SPIN_LIMIT.to_string(),
        );
    }
}

/// A value moved to a rayon worker and back while its owner's thread waits (see [`on_pool`]).
struct Handoff<T>(T);

// SAFETY: `on_pool` hands the value to exactly one worker and blocks the calling thread until the
// worker is done with it, so it is never used by two threads at once, and rayon's latch orders
// the worker's accesses after the caller's earlier ones and before its later ones.
unsafe impl<T> Send for Handoff<T> {}

impl<T> Handoff<T> {
    fn take(self) -> T {
        self.0
    }
}

/// Runs `f` on one of rayon's worker threads (the calling thread waits), or right here when this
/// thread already is one or the pool has a single thread.
///
/// candle's matrix products (and probe's CPU ops, `model::layers::par`) split over rayon's pool;
/// called from a thread outside the pool, each one injects its job, wakes a sleeping worker and
/// puts the caller to sleep until it is done: two futex wake-ups and two context switches per
/// product. From a worker, the caller computes its own share and the other worker steals the
/// rest (issue 20). The trainer runs each batch's step here: one hand-over per step instead of
/// one per product.
///
/// `f` and what it captures need not be `Send` (a model holds `Cell`s): they are used by one
/// thread at a time (see [`Handoff`]). `f` must not depend on the thread it runs on: no guards
/// of thread-bound locks among its captures, no thread-locals of the caller, and no Python
/// signal handling (which runs only on the main thread; the trainer keeps its batch loop and
/// callbacks on the calling thread for this).
pub(crate) fn on_pool<R>(f: impl FnOnce() -> R) -> R {
    if rayon::current_thread_index().is_some() || rayon::current_num_threads() < 2 {
        return f();
    }
    let job = Handoff(f);
    rayon::scope(move |_| Handoff(job.take()())).take()
}
