//! Time as the protocol core sees it: a plain timestamp handed in by the
//! caller, so no state machine ever reads a clock.

use std::fmt;
use std::ops::Add;

/// Microseconds since an arbitrary origin chosen by the caller.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    /// The caller's origin.
    pub const ZERO: Time = Time(0);

    /// `us` microseconds after the origin.
    pub const fn from_micros(us: u64) -> Time {
        Time(us)
    }
    /// `ms` milliseconds after the origin, saturating at the end of time.
    pub const fn from_millis(ms: u64) -> Time {
        Time(ms.saturating_mul(1000))
    }
    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// `self + ms` milliseconds, saturating at the end of time.
    pub const fn plus_millis(self, ms: u64) -> Time {
        Time(self.0.saturating_add(ms.saturating_mul(1000)))
    }
}

impl Add<std::time::Duration> for Time {
    type Output = Time;
    fn add(self, d: std::time::Duration) -> Time {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Time(self.0.saturating_add(us))
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}
