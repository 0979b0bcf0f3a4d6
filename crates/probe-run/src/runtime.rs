//! Process-wide settings a front end applies once, before any run: the thread pools' sizes
//! (`probe_train::threads`: `RAYON_NUM_THREADS`, candle's) and the allocator's thresholds
//! (`probe_train::malloc`: freed tensor buffers stay in the process, which halved a CPU CNN
//! step's page faults).

/// Configures the thread pools and the allocator for this process; call it first thing in `main`.
pub fn configure_process() {
    probe_train::threads::configure();
    probe_train::malloc::tune();
}
