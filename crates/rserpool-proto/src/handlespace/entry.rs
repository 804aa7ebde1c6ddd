//! A PE entry as the handlespace stores it, and what a caller hands in to
//! create or update one.

use super::time::Time;
use crate::wire::{PeId, Policy, ServerId, TransportParam};

/// An opaque id of the ASAP association a PE registered through, chosen
/// by the caller; a lost association drops all its PEs.
pub type AssocId = u64;

/// A reference to a live entry: slot plus generation, so a reference to a
/// removed entry is detected instead of reaching a newer one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryRef {
    pub(crate) slot: u32,
    pub(crate) generation: u32,
}

impl EntryRef {
    /// A placeholder for pre-filled output buffers; never refers to an entry.
    pub const NONE: EntryRef = EntryRef {
        slot: u32::MAX,
        generation: u32::MAX,
    };
}

/// The one timer a PE has at any time (paper section 3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TimerKind {
    /// Home PR: send the next ASAP Endpoint Keep-Alive.
    KeepAliveTransmission,
    /// Home PR: the Keep-Alive went unanswered for too long.
    KeepAliveTimeout,
    /// Other PRs: the registration lifetime ran out.
    LifetimeExpiry,
}

/// A (re-)registration of a PE (RFC 5352 REGISTRATION, or an ENRP
/// Handle Update / Handle Table entry).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Registration {
    pub pe_id: PeId,
    /// The PE's home PR.
    pub home: ServerId,
    /// Registration lifetime in milliseconds.
    pub lifetime_ms: u32,
    pub transport: TransportParam,
    pub policy: Policy,
    /// The PE's ASAP control transport, if announced separately.
    pub asap_transport: Option<TransportParam>,
    /// The ASAP association it registered through (home PR only).
    pub association: Option<AssocId>,
}

/// Registration data that selection, timers and traversal never read,
/// kept out of line so the slab of entries stays small (a full traversal
/// streams through it). Boxes of removed entries are reused, so steady
/// registration and deregistration allocate nothing.
#[derive(Clone, Debug)]
pub(crate) struct Cold {
    pub(crate) association: Option<AssocId>,
    pub(crate) transport: TransportParam,
    pub(crate) asap_transport: Option<TransportParam>,
}

/// Per-slot bookkeeping of the sets an entry is in, kept beside the entry
/// rather than in it: entries stay at 64 bytes, so a traversal streams a
/// third less memory.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SlotState {
    pub(crate) pool: u32,
    pub(crate) owner: u32,
    /// Position in the pool's member array.
    pub(crate) member_pos: u32,
    /// Selection order value as stored in the ordered set.
    pub(crate) sel_value: u32,
    /// Weighted round robin: selections left in the current round.
    pub(crate) credit: u32,
    /// The sequence number of this PE's key in the ordered set; it may lag
    /// the entry's `seq` while that cannot change the order.
    pub(crate) key_seq: u64,
}

/// A PE entry: registration data plus the state the handlespace keeps.
///
/// Exactly one cache line, aligned to one: a traversal or lookup touches
/// one line per entry, never two.
#[derive(Clone, Debug)]
#[repr(align(64))]
pub struct PeEntry {
    pub(crate) pe_id: PeId,
    pub(crate) home: ServerId,
    pub(crate) lifetime_ms: u32,
    /// Saturating; thresholds are small.
    pub(crate) bad_reports: u16,
    /// Degradation accumulated by selections since the last registration.
    pub(crate) degradation: u32,
    pub(crate) policy: Policy,
    /// The timer as kind code (0: none) and deadline, packed small.
    pub(crate) timer_kind: u8,
    pub(crate) timer_deadline: u64,
    /// Sequence number: ties in selection order go first in, first out.
    pub(crate) seq: u64,
    pub(crate) cold: Box<Cold>,
}

impl PeEntry {
    pub fn pe_id(&self) -> PeId {
        self.pe_id
    }
    pub fn home(&self) -> ServerId {
        self.home
    }
    pub fn lifetime_ms(&self) -> u32 {
        self.lifetime_ms
    }
    pub fn transport(&self) -> &TransportParam {
        &self.cold.transport
    }
    pub fn asap_transport(&self) -> Option<&TransportParam> {
        self.cold.asap_transport.as_ref()
    }
    pub fn policy(&self) -> &Policy {
        &self.policy
    }
    pub fn association(&self) -> Option<AssocId> {
        self.cold.association
    }
    /// The scheduled timer and its deadline.
    pub fn timer(&self) -> Option<(TimerKind, Time)> {
        let kind = match self.timer_kind {
            1 => TimerKind::KeepAliveTransmission,
            2 => TimerKind::KeepAliveTimeout,
            3 => TimerKind::LifetimeExpiry,
            _ => return None,
        };
        Some((kind, Time(self.timer_deadline)))
    }

    pub(crate) fn set_timer(&mut self, timer: Option<(TimerKind, Time)>) {
        match timer {
            None => self.timer_kind = 0,
            Some((kind, deadline)) => {
                self.timer_kind = match kind {
                    TimerKind::KeepAliveTransmission => 1,
                    TimerKind::KeepAliveTimeout => 2,
                    TimerKind::LifetimeExpiry => 3,
                };
                self.timer_deadline = deadline.0;
            }
        }
    }
    /// Endpoint-unreachable reports counted so far.
    pub fn unreachable_reports(&self) -> u32 {
        u32::from(self.bad_reports)
    }
    /// Degradation accumulated since the last (re-)registration.
    pub fn degradation(&self) -> u32 {
        self.degradation
    }
    /// The sequence number ordering this PE among equal selection values.
    pub fn sequence(&self) -> u64 {
        self.seq
    }
}
