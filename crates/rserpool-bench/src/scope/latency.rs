//! A log-linear latency histogram: constant memory, O(1) recording, about
//! 6 % resolution, good enough for percentiles of network round trips.

use std::time::Duration;

/// Values below this many microseconds get a bucket each.
const LINEAR: u64 = 32;
/// Buckets per power of two above [`LINEAR`].
const SUB_BITS: u32 = 4;
const SUB: u64 = 1 << SUB_BITS;
/// Powers of two covered above `LINEAR` (up to about 2^45 us, a year).
const OCTAVES: usize = 40;

#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; LINEAR as usize + OCTAVES * SUB as usize],
            total: 0,
        }
    }
}

fn index(us: u64) -> usize {
    if us < LINEAR {
        return us as usize;
    }
    let e = 63 - us.leading_zeros(); // us >= 32, so e >= 5
    let sub = (us >> (e - SUB_BITS)) & (SUB - 1);
    let octave = (e - LINEAR.trailing_zeros()) as usize;
    (LINEAR as usize + octave * SUB as usize + sub as usize)
        .min(LINEAR as usize + OCTAVES * SUB as usize - 1)
}

/// The midpoint of a bucket, in microseconds.
fn value(i: usize) -> f64 {
    if i < LINEAR as usize {
        return i as f64;
    }
    let j = i - LINEAR as usize;
    let e = j / SUB as usize + LINEAR.trailing_zeros() as usize;
    let sub = (j % SUB as usize) as f64;
    let width = (1u64 << (e - SUB_BITS as usize)) as f64;
    (1u64 << e) as f64 + (sub + 0.5) * width
}

impl Histogram {
    pub fn record(&mut self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.counts[index(us)] += 1;
        self.total += 1;
    }

    /// The `q` quantile (0..=1) in milliseconds; `None` when empty.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(value(i) / 1000.0);
            }
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_close() {
        let mut last = 0;
        for us in [
            0u64, 1, 31, 32, 33, 47, 64, 100, 1000, 12_345, 1_000_000, 60_000_000,
        ] {
            let i = index(us);
            assert!(i >= last, "{us}");
            last = i;
            let v = value(i);
            assert!(
                (v - us as f64).abs() <= us as f64 * 0.07 + 0.5,
                "{us} -> {v}"
            );
        }
        assert_eq!(
            index(u64::MAX),
            LINEAR as usize + OCTAVES * SUB as usize - 1
        );
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_ms(0.5), None);
        // 1..=1000 ms, one sample each
        for ms in 1..=1000u64 {
            h.record(Duration::from_millis(ms));
        }
        assert_eq!(h.total, 1000);
        let p50 = h.quantile_ms(0.5).unwrap();
        let p99 = h.quantile_ms(0.99).unwrap();
        assert!((p50 - 500.0).abs() < 500.0 * 0.07, "{p50}");
        assert!((p99 - 990.0).abs() < 990.0 * 0.07, "{p99}");
        assert!(h.quantile_ms(0.0).unwrap() <= 1.1);
    }
}
