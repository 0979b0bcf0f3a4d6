//! What `probe train` shows while it runs: a progress bar over the epochs with the last losses,
//! and at the end one line saying where the results are (with the bottleneck of the last
//! measured epoch), or how to continue a run stopped by `--stop-after`. Hidden with `--quiet`,
//! except the first line, which says where the run writes.

use std::path::PathBuf;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use probe_run::fit::stopped_as_asked;
use probe_run::measure::{bottleneck_lines, Flow};
use probe_run::observer::{EpochEnd, Finished, Measured, Observer, RunInfo, Stop};
use probe_run::Result;

/// The CLI's [`Observer`]: a progress bar and the closing lines.
pub struct Progress {
    bar: ProgressBar,
    quiet: bool,
    started: Instant,
    out: PathBuf,
    epochs: usize,
    device: String,
    last_flows: Option<(usize, Vec<Flow>)>,
}

impl Progress {
    /// A progress display, hidden with `quiet`; `started` is when the command began.
    pub fn new(quiet: bool, started: Instant) -> Self {
        Self {
            bar: ProgressBar::hidden(),
            quiet,
            started,
            out: PathBuf::new(),
            epochs: 0,
            device: String::new(),
            last_flows: None,
        }
    }
}

fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = v.fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    sum / n.max(1) as f64
}

impl Observer for Progress {
    fn on_start(&mut self, run: &RunInfo) -> Result<()> {
        self.out = run.out.to_path_buf();
        self.epochs = run.epochs;
        self.device = run.device.to_string();
        // Always said, --quiet too: where this run writes (one line on stderr).
        eprintln!("run directory: {}", run.out.display());
        if !self.quiet {
            self.bar = ProgressBar::new(run.epochs as u64);
            if let Ok(style) = ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} epochs, ETA {eta} | {msg}",
            ) {
                self.bar.set_style(style.progress_chars("=> "));
            }
            self.bar.set_position((run.first_epoch - 1) as u64);
        }
        Ok(())
    }

    fn on_epoch(&mut self, e: &EpochEnd) -> Result<()> {
        let (tr, te) = (&e.out.train, &e.out.test);
        let msg = match (&tr[..], &te[..]) {
            ([a], [b]) => format!(
                "loss {:.4} acc {:.3} | test loss {:.4} acc {:.3}",
                a.loss, a.acc, b.loss, b.acc
            ),
            _ => format!(
                "mean of {} seeds: loss {:.4} | test acc {:.3}",
                e.seeds.len(),
                mean(tr.iter().map(|l| l.loss)),
                mean(te.iter().map(|l| l.acc))
            ),
        };
        self.bar.set_message(msg);
        self.bar.inc(1);
        Ok(())
    }

    fn on_measure(&mut self, m: &Measured) -> Result<()> {
        if m.seeds.len() == 1 {
            self.last_flows = Some((m.epoch, m.flows.to_vec()));
        }
        Ok(())
    }

    fn on_stop(&mut self, stop: Stop) -> Result<()> {
        match stop {
            Stop::Error { .. } => self.bar.abandon(),
            // The run's error says where it stopped and how to resume.
            Stop::Signal { .. } => self.bar.finish_and_clear(),
            Stop::Asked { epoch } => {
                self.bar.finish_and_clear();
                if !self.quiet {
                    eprintln!("{}", stopped_as_asked(epoch, self.epochs, &self.out));
                }
            }
        }
        Ok(())
    }

    fn on_finish(&mut self, f: &Finished) -> Result<()> {
        self.bar.finish_and_clear();
        if self.quiet {
            return Ok(());
        }
        let what = match f.seeds.len() {
            1 => format!("{} epochs", f.epochs),
            n => format!("{n} seeds × {} epochs", f.epochs),
        };
        eprintln!(
            "trained {what} on {} in {:.1} s; results in {}",
            self.device,
            self.started.elapsed().as_secs_f64(),
            self.out.display()
        );
        if let Some((epoch, flows)) = &self.last_flows {
            for line in bottleneck_lines(flows) {
                eprintln!("epoch {epoch} {line}");
            }
        }
        Ok(())
    }
}
