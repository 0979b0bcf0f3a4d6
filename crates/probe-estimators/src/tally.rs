//! Histograms of dense ids (`counts[i]` = occurrences of `i`), the counting step of the
//! plug-in entropies ([`crate::discrete`]).
//!
//! A plain `counts[id] += 1` loop runs at the latency of one memory increment per sample when the
//! same few ids repeat (saturated layers have a handful of distinct rows, labels two classes):
//! each increment waits for the previous one to the same slot. For small tables the samples are
//! therefore spread round-robin over [`COPIES`] independent tables, summed at the end, so that
//! consecutive samples never wait for each other; large tables (ids spread over many slots, where
//! repeats are far apart) keep one. The counts are integers: identical either way.

/// Independent tables for small histograms.
const COPIES: usize = 4;

/// Tables up to this many slots get [`COPIES`] (4 × 2048 `u32` = 32 KiB, within L1).
const SMALL: usize = 2048;

/// `counts[k]`: how many `i` with `key(i) = k`, for `i` in `0..n` (every key `< size`).
#[inline(always)]
pub(crate) fn tally(n: usize, size: usize, key: impl Fn(usize) -> usize) -> Vec<u32> {
    if size > SMALL || n < 4 * COPIES {
        let mut counts = vec![0u32; size];
        for i in 0..n {
            counts[key(i)] += 1;
        }
        return counts;
    }
    let mut tables = vec![0u32; COPIES * size];
    let (t0, rest) = tables.split_at_mut(size);
    let (t1, rest) = rest.split_at_mut(size);
    let (t2, t3) = rest.split_at_mut(size);
    let whole = n - n % COPIES;
    for i in (0..whole).step_by(COPIES) {
        t0[key(i)] += 1;
        t1[key(i + 1)] += 1;
        t2[key(i + 2)] += 1;
        t3[key(i + 3)] += 1;
    }
    for i in whole..n {
        t0[key(i)] += 1;
    }
    for (((a, b), c), d) in t0.iter_mut().zip(&*t1).zip(&*t2).zip(&*t3) {
        *a += b + c + d;
    }
    tables.truncate(size);
    tables
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tally_counts_every_key_at_every_size() {
        for (n, size) in [
            (0, 1),
            (1, 1),
            (15, 3),
            (16, 3),
            (17, 3),
            (4099, 2),
            (5000, 2048),
            (5000, 2049),
            (300, 4000),
        ] {
            let keys: Vec<usize> = (0..n).map(|i| (i * i + 7 * i) % size).collect();
            let mut want = vec![0u32; size];
            keys.iter().for_each(|&k| want[k] += 1);
            assert_eq!(tally(n, size, |i| keys[i]), want, "n={n} size={size}");
        }
    }
}
