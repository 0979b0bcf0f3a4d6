//! Process-wide CPU threading settings for candle, applied once at start-up.
//!
//! Two of candle 0.11's defaults cost training time on small CPUs:
//! - without `RAYON_NUM_THREADS`, candle works out its default thread count (the physical cores,
//!   read from `/proc/cpuinfo`) again on **every** matrix product; for small networks that file
//!   read cost more than the training itself (the 12-bit protocol ran 2–3× slower);
//! - its elementwise thread pool's workers spin 25 000 times after every op before parking, while
//!   the matrix products run on rayon's pool: on 2 cores the spinning worker takes a core from
//!   the product, and the Saxe MNIST MLP ran no faster on 2 threads than on 1 (2.3 s per epoch
//!   either way; 1.65 s with a spin limit of 100, BENCHMARKS.md).
//!
//! [`configure`] sets both through candle's own environment variables, unless the user set them.

/// Spin iterations of candle's elementwise pool workers before they park.
const BARRIER_POOL_SPIN_LIMIT: u32 = 100;

/// Fixes `RAYON_NUM_THREADS` (to candle's own default) and `CANDLE_BARRIER_POOL_SPIN_LIMIT` (to
/// 100) for this process, leaving values the user set alone. Call it first thing in `main`, before
/// any other thread exists and before the first tensor op (candle reads both once). Changes only
/// speed, never results.
pub fn configure() {
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        let threads = candle_core::utils::get_num_threads();
        // Single-threaded here (see above): no other thread can be reading the environment.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
    }
    if std::env::var_os("CANDLE_BARRIER_POOL_SPIN_LIMIT").is_none() {
        std::env::set_var(
            "CANDLE_BARRIER_POOL_SPIN_LIMIT",
            BARRIER_POOL_SPIN_LIMIT.to_string(),
        );
    }
}
