//! The timing loop: the only place the benchmark reads the clock.

use std::time::{Duration, Instant};

/// Target time between two clock reads.
const CLOCK_EVERY: f64 = 0.001;

/// Runs `step` as often as it can for `budget`, reading the clock about
/// once a millisecond (batches sized from the rate so far); returns the
/// operations done and the seconds they took.
pub fn run_for(budget: Duration, mut step: impl FnMut()) -> (u64, f64) {
    let start = Instant::now();
    let mut ops: u64 = 0;
    let mut batch: u64 = 1;
    loop {
        for _ in 0..batch {
            step();
        }
        ops += batch;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return (ops, elapsed.as_secs_f64());
        }
        let per_op = elapsed.as_secs_f64() / ops as f64;
        batch = if per_op > 0.0 {
            ((CLOCK_EVERY / per_op) as u64).clamp(1, 1 << 16)
        } else {
            batch.saturating_mul(2).min(1 << 16)
        };
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_step_and_stops_after_the_budget() {
        let mut calls = 0u64;
        let (ops, secs) = run_for(Duration::from_millis(20), || calls += 1);
        assert_eq!(ops, calls);
        assert!(ops > 0);
        assert!(secs >= 0.02, "{secs}");
    }

    #[test]
    fn zero_budget_still_runs_once() {
        let (ops, _) = run_for(Duration::ZERO, || {});
        assert_eq!(ops, 1);
    }
}
