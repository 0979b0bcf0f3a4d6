//! Measurement schedules: on which epochs (numbered 1..=E, each measured after that epoch's
//! training) a run computes its information estimates. Every schedule includes epoch 1 and epoch E.
//!
//! `LogSpaced(n)` gives exactly `n` distinct epochs as close as integers allow to the geometric
//! sequence `E^(i/(n-1))`, i = 0..n-1: dense (every epoch) early on where log spacing is finer than
//! one epoch, sparse late. IDNNs measured 274 of 8000 epochs this way.
//!
//! [`Schedule::plan`] gives the measured epochs as [`Planned`], which holds O(points) memory
//! whatever the run's length: `every` and `every_k` are answered by arithmetic, only `log`
//! keeps its (at most `points`) epochs.

use crate::{Error, Result};

/// When to measure during a run of E epochs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Every epoch.
    Every,
    /// Every k-th epoch (k, 2k, …), plus epochs 1 and E.
    EveryK(usize),
    /// Exactly n log-spaced epochs, including 1 and E.
    LogSpaced(usize),
}

/// The epochs a [`Schedule`] measures in a run of `total` epochs, without listing them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Planned {
    kind: Schedule,
    total: usize,
    /// The epochs of a `LogSpaced` schedule (empty for the others).
    log: Vec<usize>,
}

impl Planned {
    /// Whether `epoch` is measured.
    pub fn contains(&self, epoch: usize) -> bool {
        match self.kind {
            Schedule::Every => (1..=self.total).contains(&epoch),
            Schedule::EveryK(k) => {
                (1..=self.total).contains(&epoch)
                    && (epoch == 1 || epoch == self.total || epoch.is_multiple_of(k))
            }
            Schedule::LogSpaced(_) => self.log.binary_search(&epoch).is_ok(),
        }
    }

    /// The number of measured epochs.
    pub fn len(&self) -> usize {
        match self.kind {
            Schedule::Every => self.total,
            Schedule::EveryK(k) => {
                let multiples = self.total / k;
                // 1 and `total` are added where they are not multiples of k.
                multiples + usize::from(k != 1) + usize::from(!self.total.is_multiple_of(k))
                    - usize::from(self.total == 1 && k != 1)
            }
            Schedule::LogSpaced(_) => self.log.len(),
        }
    }

    /// Whether no epoch is measured (never: every schedule measures the last epoch).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The measured epochs in increasing order, computed as they are taken.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let (log, arithmetic) = match self.kind {
            Schedule::LogSpaced(_) => (Some(self.log.iter().copied()), None),
            _ => (None, Some((1..=self.total).filter(|&e| self.contains(e)))),
        };
        log.into_iter()
            .flatten()
            .chain(arithmetic.into_iter().flatten())
    }
}

impl Schedule {
    /// The measured epochs of a run of `total` epochs, in O(points) memory.
    pub fn plan(&self, total: usize) -> Result<Planned> {
        if total == 0 {
            return Err(Error::Schedule("a run needs at least 1 epoch".into()));
        }
        let log = match *self {
            Schedule::Every => Vec::new(),
            Schedule::EveryK(0) => {
                return Err(Error::Schedule(
                    "`every` must be at least 1 (measure every k-th epoch)".into(),
                ))
            }
            Schedule::EveryK(_) => Vec::new(),
            Schedule::LogSpaced(n) => log_spaced(n, total)?,
        };
        Ok(Planned {
            kind: *self,
            total,
            log,
        })
    }

    /// The sorted, distinct epochs to measure in a run of `total` epochs, as a list (O(epochs)
    /// memory for `Every`: prefer [`Schedule::plan`]).
    pub fn epochs(&self, total: usize) -> Result<Vec<usize>> {
        Ok(self.plan(total)?.iter().collect())
    }
}

fn log_spaced(n: usize, total: usize) -> Result<Vec<usize>> {
    if n == 0 || n > total {
        return Err(Error::Schedule(format!(
            "`points` = {n} log-spaced measurements do not fit a run of {total} epochs; \
             expected 1 ≤ points ≤ epochs"
        )));
    }
    if n == 1 {
        return Ok(vec![total]);
    }
    let mut out = Vec::with_capacity(n);
    let ln_total = (total as f64).ln();
    for i in 0..n {
        let target = (ln_total * i as f64 / (n - 1) as f64).exp().round() as usize;
        // Strictly increasing, and leave room for the remaining points before `total`.
        let lo = out.last().map_or(1, |&p: &usize| p + 1);
        let hi = total - (n - 1 - i);
        out.push(target.clamp(lo, hi));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_and_every_k_include_first_and_last() {
        assert_eq!(Schedule::Every.epochs(4).unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(
            Schedule::EveryK(3).epochs(10).unwrap(),
            vec![1, 3, 6, 9, 10]
        );
        assert_eq!(Schedule::EveryK(5).epochs(10).unwrap(), vec![1, 5, 10]);
        assert_eq!(Schedule::EveryK(1).epochs(3).unwrap(), vec![1, 2, 3]);
        assert_eq!(Schedule::EveryK(20).epochs(7).unwrap(), vec![1, 7]);
        assert!(Schedule::EveryK(0).epochs(7).is_err());
        assert!(Schedule::Every.epochs(0).is_err());
    }

    #[test]
    fn log_spaced_idnns_protocol() {
        let e = Schedule::LogSpaced(274).epochs(8000).unwrap();
        assert_eq!(e.len(), 274);
        assert_eq!((e[0], e[273]), (1, 8000));
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        // Early epochs are dense, late ones are about a factor 8000^(1/273) ≈ 1.0334 apart.
        assert_eq!(&e[..5], &[1, 2, 3, 4, 5]);
        let ratio = e[273] as f64 / e[272] as f64;
        assert!((ratio - 8000f64.powf(1.0 / 273.0)).abs() < 1e-3, "{ratio}");
    }

    /// The old list-building definition of every_k, kept as the reference of the lazy one.
    fn every_k_listed(k: usize, total: usize) -> Vec<usize> {
        let mut v: Vec<usize> = std::iter::once(1).chain((k..=total).step_by(k)).collect();
        v.push(total);
        v.dedup();
        v
    }

    #[test]
    fn plan_agrees_with_the_listed_epochs() {
        for total in 1..40 {
            for k in 1..12 {
                let p = Schedule::EveryK(k).plan(total).unwrap();
                let want = every_k_listed(k, total);
                assert_eq!(p.iter().collect::<Vec<_>>(), want, "k {k} total {total}");
                assert_eq!(p.len(), want.len(), "k {k} total {total}");
                for e in 0..total + 3 {
                    assert_eq!(
                        p.contains(e),
                        want.contains(&e),
                        "k {k} total {total} e {e}"
                    );
                }
            }
            let p = Schedule::Every.plan(total).unwrap();
            assert_eq!(
                (p.len(), p.contains(0), p.contains(total + 1)),
                (total, false, false)
            );
        }
    }

    #[test]
    fn plan_of_a_huge_run_holds_no_list() {
        // 10^12 epochs (the SIGABRT): answered by arithmetic, in constant memory.
        let total = 1_000_000_000_000;
        let p = Schedule::Every.plan(total).unwrap();
        assert_eq!(
            (p.len(), p.contains(total), p.log.capacity()),
            (total, true, 0)
        );
        let p = Schedule::EveryK(1000).plan(total).unwrap();
        assert_eq!(p.len(), 1_000_000_000 + 1);
        assert_eq!(p.iter().take(3).collect::<Vec<_>>(), vec![1, 1000, 2000]);
        let p = Schedule::LogSpaced(50).plan(total).unwrap();
        assert_eq!((p.len(), p.log.len()), (50, 50));
    }

    #[test]
    fn log_spaced_edge_cases() {
        assert_eq!(
            Schedule::LogSpaced(5).epochs(5).unwrap(),
            vec![1, 2, 3, 4, 5]
        );
        assert_eq!(Schedule::LogSpaced(1).epochs(9).unwrap(), vec![9]);
        assert_eq!(
            Schedule::LogSpaced(3).epochs(100).unwrap(),
            vec![1, 10, 100]
        );
        assert!(Schedule::LogSpaced(6).epochs(5).is_err());
        assert!(Schedule::LogSpaced(0).epochs(5).is_err());
    }
}
