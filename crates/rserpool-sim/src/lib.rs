//! A deterministic whole-scope simulator for RSerPool.
//!
//! It runs the real [`Registrar`](rserpool_proto::registrar::Registrar),
//! [`PoolElement`](rserpool_proto::pool_element::PoolElement) and
//! [`PoolUser`](rserpool_proto::pool_user::PoolUser) state machines of
//! `rserpool-proto` in one thread, in virtual time, on a simulated network
//! of SCTP-like associations (reliable, ordered, per-link latency) and
//! multicast (announces, which may be lost). One seeded generator decides
//! everything: latencies, the workload, the fault schedule, every node's
//! seed. The same seed therefore gives the same run, event for event; the
//! run's trace digest shows it.
//!
//! Faults ([`Fault`]): announce loss, association aborts, partitions (also
//! one-way), node crashes (state lost; process or host) with restarts (a
//! registrar with the same or a new ID), pauses (a frozen process whose
//! kernel still buffers), clock drift, and registrars joining and leaving.
//! Faults happen during the fault phase ([`SimConfig::duration`]); then the
//! network heals and the run settles for a bound derived from the
//! protocol's timers ([`settle_time`]).
//!
//! Checkers ([`check`]) run continuously (no PU reply twice or out of
//! thin air, session state never lost beyond the last cookie, dead PEs gone
//! within their bound, timers and queues bounded) and at the end (every
//! registrar has the same handlespace with the same checksum, every live
//! PE is registered and resolvable everywhere with exactly one live home,
//! every session makes progress). A violation carries the seed, the fault
//! schedule and the tail of the event trace.
//!
//! [`scale`] has the virtual-time measurements (failover, takeover,
//! synchronisation, policy spread).

#![warn(missing_docs)]

pub mod check;
mod faults;
mod net;
pub mod scale;
mod trace;
mod world;

use std::fmt;
use std::time::Duration;

pub use world::run;

/// A kind of fault the simulator may inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Multicast announces are lost (the only datagrams).
    Loss,
    /// A random association is aborted.
    Abort,
    /// A two-way partition between two groups of nodes.
    Partition,
    /// A one-way partition: one direction passes, the other does not.
    OneWay,
    /// A node crashes (process or host) and restarts later.
    Crash,
    /// A node is frozen (SIGSTOP) and resumed.
    Pause,
    /// Node clocks run at different rates (up to 1 %).
    Drift,
    /// Registrars leave (gracefully, for good) and new ones join.
    Churn,
}

impl Fault {
    /// Every fault kind.
    pub const ALL: [Fault; 8] = [
        Fault::Loss,
        Fault::Abort,
        Fault::Partition,
        Fault::OneWay,
        Fault::Crash,
        Fault::Pause,
        Fault::Drift,
        Fault::Churn,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Loss => "loss",
            Fault::Abort => "abort",
            Fault::Partition => "partition",
            Fault::OneWay => "oneway",
            Fault::Crash => "crash",
            Fault::Pause => "pause",
            Fault::Drift => "drift",
            Fault::Churn => "churn",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of fault kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct FaultSet(u16);

impl FaultSet {
    /// No faults: the protocol alone, on a network that never fails.
    pub const NONE: FaultSet = FaultSet(0);

    /// Every fault kind.
    pub fn all() -> FaultSet {
        FaultSet(Fault::ALL.iter().fold(0, |a, f| a | f.bit()))
    }

    /// Whether `f` may be injected.
    pub fn contains(self, f: Fault) -> bool {
        self.0 & f.bit() != 0
    }

    /// This set with `f` added.
    pub fn with(self, f: Fault) -> FaultSet {
        FaultSet(self.0 | f.bit())
    }

    /// `all`, `none`, or a comma-separated list of fault names.
    pub fn parse(s: &str) -> Result<FaultSet, String> {
        match s.trim() {
            "all" => return Ok(FaultSet::all()),
            "none" | "" => return Ok(FaultSet::NONE),
            _ => {}
        }
        let mut set = FaultSet::NONE;
        for part in s.split(',') {
            let part = part.trim();
            let f = Fault::ALL
                .iter()
                .find(|f| f.name() == part)
                .ok_or_else(|| {
                    let names: Vec<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
                    format!(
                        "unknown fault {part:?} (known: {}, all, none)",
                        names.join(", ")
                    )
                })?;
            set = set.with(*f);
        }
        Ok(set)
    }
}

impl fmt::Display for FaultSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == FaultSet::all() {
            return f.write_str("all");
        }
        let names: Vec<&str> = Fault::ALL
            .iter()
            .filter(|x| self.contains(**x))
            .map(|x| x.name())
            .collect();
        if names.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&names.join(","))
        }
    }
}

/// Which registrar timers the simulated registrars use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timers {
    /// RFC 5353 defaults: PEER-HEARTBEAT-CYCLE 30 s, MAX-TIME-LAST-HEARD
    /// 61 s, MAX-TIME-NO-RESPONSE 5 s.
    Rfc,
    /// RSPLIB's registrar defaults: heartbeat 2.444 s, last heard 5 s, no
    /// response 5 s (shorter runs, faster detection).
    Rsplib,
}

/// What one simulated run looks like.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Registrars at the start.
    pub registrars: usize,
    /// Pool elements (all in one pool).
    pub pes: usize,
    /// Pool users, each with one or two sessions.
    pub pus: usize,
    /// The fault kinds the schedule draws from.
    pub faults: FaultSet,
    /// The fault phase; afterwards the network heals and the run settles.
    pub duration: Duration,
    /// The registrars' timer set; it also sets the settle time and the
    /// dead-PE bound the checkers use.
    pub timers: Timers,
    /// Trace records kept for a violation report.
    pub trace_tail: usize,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            registrars: 3,
            pes: 6,
            pus: 3,
            faults: FaultSet::all(),
            duration: Duration::from_secs(60),
            timers: Timers::Rsplib,
            trace_tail: 60,
        }
    }
}

/// Counters of one run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Messages delivered (association messages and announces).
    pub messages: u64,
    /// Faults injected.
    pub faults: u64,
    /// Requests the pool users sent (first transmissions).
    pub requests: u64,
    /// Replies they received.
    pub replies: u64,
    /// Session failovers.
    pub failovers: u64,
    /// Registrar takeovers completed.
    pub takeovers: u64,
    /// Virtual time at the end, in milliseconds.
    pub end_ms: u64,
}

/// The result of one seed.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The seed the run was made from; running it again gives the same run.
    pub seed: u64,
    /// FNV-1a digest of the event trace: equal seeds give equal digests.
    pub digest: u64,
    /// Events processed.
    pub events: u64,
    /// What happened, in counts.
    pub stats: RunStats,
    /// What the checkers found (empty: the run passed).
    pub violations: Vec<String>,
    /// On a violation: the seed, the fault schedule and the trace tail.
    pub report: Option<String>,
}

impl Outcome {
    /// True if no checker found a violation.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }
}

/// How long a run settles after the faults heal before the final checks:
/// a dead PE's bound (see [`check::dead_pe_bound`]) plus time for the
/// registrars to reconnect (static peer back-off up to 30 s), audit and
/// for sessions to make progress.
pub fn settle_time(timers: Timers) -> Duration {
    check::dead_pe_bound(timers) + Duration::from_secs(60)
}
