//! SIGINT and SIGTERM: the first sets the stop flag `probe_run` checks between batches (the run
//! stops after the batch it is in, writes a checkpoint of the stopped epoch, keeps the tables of
//! the finished ones, then ends with `Error::Interrupted`; `--resume` continues at the next
//! batch); a second one exits at
//! once with 128 + the signal. Files are written atomically (temporary file, rename), so even
//! that exit leaves every finished file whole; a leftover temporary file is removed when the run
//! is resumed. Cluster schedulers send SIGTERM before preempting a job.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::flag;

/// The flag the handlers set, and which signal arrived.
pub struct StopOnSignal {
    /// Set by the first SIGINT/SIGTERM; hand it to `TrainOptions::stop`.
    pub flag: Arc<AtomicBool>,
    /// 128 + the number of the signal that arrived (0 before any).
    code: Arc<AtomicUsize>,
}

impl StopOnSignal {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        let code = Arc::new(AtomicUsize::new(0));
        for sig in [SIGINT, SIGTERM] {
            let exit = 128 + sig;
            // Registered first, so it sees the flag as the previous signal left it: a second
            // signal exits at once.
            flag::register_conditional_shutdown(sig, exit, Arc::clone(&flag))?;
            flag::register_usize(sig, Arc::clone(&code), exit as usize)?;
            flag::register(sig, Arc::clone(&flag))?;
        }
        Ok(Self { flag, code })
    }

    /// The exit code of a run a signal stopped: 128 + the signal (130 for SIGINT, 143 for
    /// SIGTERM).
    pub fn exit_code(&self) -> u8 {
        match self.code.load(Ordering::SeqCst) {
            0 => 130,
            c => u8::try_from(c).unwrap_or(130),
        }
    }
}
