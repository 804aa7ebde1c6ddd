//! A PE entry as the handlespace stores it, and what a caller hands in to
//! create or update one.

use super::packed::{Arena, OWNER_BIT, Packed};
use crate::wire::{PeId, Policy, PolicyType, ServerId, TransportParam, TransportUse};

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
    /// The PE's identifier, unique within its pool.
    pub pe_id: PeId,
    /// The PE's home PR.
    pub home: ServerId,
    /// Registration lifetime in milliseconds.
    pub lifetime_ms: u32,
    /// Where pool users reach the PE (its user transport).
    pub transport: TransportParam,
    /// The pool member selection policy with the PE's values.
    pub policy: Policy,
    /// The PE's ASAP control transport, if announced separately.
    pub asap_transport: Option<TransportParam>,
    /// The ASAP association it registered through (home PR only).
    pub association: Option<AssocId>,
}

/// Registration data that selection, timers and traversal never read,
/// kept in a slab of its own beside the entries so the entries stay small
/// (a full traversal streams through them). Its place follows from the
/// slot, not from a pointer in the entry: a re-registration fetches entry
/// and cold part at once instead of one after the other. Sixteen bytes:
/// the ASAP transport packed (see `packed.rs`), the association's
/// presence in a flag bit of it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cold {
    association: AssocId,
    asap_transport: Packed,
}

impl Cold {
    /// Packs a registration's ASAP transport and association, spilling
    /// what does not fit inline into `arena`.
    pub(crate) fn new(
        asap_transport: Option<TransportParam>,
        association: Option<AssocId>,
        arena: &mut Arena,
    ) -> Cold {
        let mut asap_transport = asap_transport.map_or(Packed::NONE, |t| Packed::new(t, arena));
        if association.is_some() {
            asap_transport.flags |= OWNER_BIT;
        }
        Cold {
            association: association.unwrap_or(0),
            asap_transport,
        }
    }

    /// Frees what the transport holds in `arena`.
    pub(crate) fn release(self, arena: &mut Arena) {
        self.asap_transport.release(arena);
    }

    #[inline]
    pub(crate) fn association(&self) -> Option<AssocId> {
        (self.asap_transport.flags & OWNER_BIT != 0).then_some(self.association)
    }
}

/// What the handlespace keeps per slot beside the registration itself:
/// set bookkeeping, selection state, unreachability count and timer kind.
/// Kept out of [`Hot`] so that the entries a traversal streams through
/// hold only what a Handle Table Response carries.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SlotState {
    pub(crate) pool: u32,
    pub(crate) owner: u32,
    /// Position in the pool's member array.
    pub(crate) member_pos: u32,
    /// Selection order value as stored in the ordered set.
    pub(crate) sel_value: u32,
    /// Weighted round robin: selections left in the current round; the
    /// other policies: degradation accumulated by selections since the
    /// last registration (weighted round robin never degrades, so one
    /// field serves both and the slot state stays at 40 bytes).
    pub(crate) charge: u32,
    /// Endpoint-unreachable reports; saturating, thresholds are small.
    pub(crate) bad_reports: u16,
    /// The timer's kind (0: none); its deadline is in the timer wheel.
    pub(crate) timer_kind: u8,
    /// The sequence number of this PE's key in the ordered set; it may lag
    /// `seq` while that cannot change the order.
    pub(crate) key_seq: u64,
    /// Sequence number: ties in selection order go first in, first out.
    pub(crate) seq: u64,
}

impl SlotState {
    pub(crate) fn timer_kind(&self) -> Option<TimerKind> {
        match self.timer_kind {
            1 => Some(TimerKind::KeepAliveTransmission),
            2 => Some(TimerKind::KeepAliveTimeout),
            3 => Some(TimerKind::LifetimeExpiry),
            _ => None,
        }
    }

    pub(crate) fn set_timer_kind(&mut self, kind: Option<TimerKind>) {
        self.timer_kind = match kind {
            None => 0,
            Some(TimerKind::KeepAliveTransmission) => 1,
            Some(TimerKind::KeepAliveTimeout) => 2,
            Some(TimerKind::LifetimeExpiry) => 3,
        };
    }
}

/// A PE's policy as its entry stores it: the type, and the values at
/// fixed places. A [`Policy`] is an enum whose fields move with its
/// variant, so reading its type and load costs a branch on the type; here
/// both are plain fields, which a full traversal reads for every entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredPolicy {
    pub(crate) ty: PolicyType,
    /// Adaptive policies' load; 0 for the others.
    pub(crate) load: u32,
    /// The values after the load (adaptive policies), or all values (the
    /// others, which have at most three), in wire order.
    pub(crate) rest: [u32; 3],
}

impl StoredPolicy {
    /// One branch on the variant; registrations call this for every PE.
    /// Inlined always: returned through memory, the narrow stores of the
    /// fields followed by a wide copy of the whole stall store forwarding.
    #[inline(always)]
    pub(crate) fn new(p: &Policy) -> Self {
        use Policy as P;
        use PolicyType as T;
        let plain = |ty, rest| StoredPolicy { ty, load: 0, rest };
        let adaptive = |ty, load, rest| StoredPolicy { ty, load, rest };
        match *p {
            P::RoundRobin => plain(T::RoundRobin, [0; 3]),
            P::Random => plain(T::Random, [0; 3]),
            P::WeightedRoundRobin { weight } => plain(T::WeightedRoundRobin, [weight, 0, 0]),
            P::WeightedRandom { weight } => plain(T::WeightedRandom, [weight, 0, 0]),
            P::Priority { priority } => plain(T::Priority, [priority, 0, 0]),
            P::WeightedRandomDpf {
                weight,
                weight_dpf,
                distance,
            } => plain(T::WeightedRandomDpf, [weight, weight_dpf, distance]),
            P::LeastUsed { load } => adaptive(T::LeastUsed, load, [0; 3]),
            P::RandomizedLeastUsed { load } => adaptive(T::RandomizedLeastUsed, load, [0; 3]),
            P::LeastUsedDegradation { load, degradation } => {
                adaptive(T::LeastUsedDegradation, load, [degradation, 0, 0])
            }
            P::PriorityLeastUsed { load, degradation } => {
                adaptive(T::PriorityLeastUsed, load, [degradation, 0, 0])
            }
            P::RandomizedPriorityLeastUsed { load, degradation } => {
                adaptive(T::RandomizedPriorityLeastUsed, load, [degradation, 0, 0])
            }
            P::RandomizedLeastUsedDegradation { load, degradation } => {
                adaptive(T::RandomizedLeastUsedDegradation, load, [degradation, 0, 0])
            }
            P::PriorityLeastUsedDegradation { load, degradation } => {
                adaptive(T::PriorityLeastUsedDegradation, load, [degradation, 0, 0])
            }
            P::RandomizedPriorityLeastUsedDegradation { load, degradation } => adaptive(
                T::RandomizedPriorityLeastUsedDegradation,
                load,
                [degradation, 0, 0],
            ),
            P::LeastUsedDpf {
                load,
                load_dpf,
                distance,
            } => adaptive(T::LeastUsedDpf, load, [load_dpf, distance, 0]),
            P::LeastUsedDegradationDpf {
                load,
                degradation,
                load_dpf,
                distance,
            } => adaptive(
                T::LeastUsedDegradationDpf,
                load,
                [degradation, load_dpf, distance],
            ),
        }
    }

    #[inline]
    pub(crate) fn policy(&self) -> Policy {
        let [a, b, c] = self.rest;
        let values = if self.ty.is_adaptive() {
            [self.load, a, b, c]
        } else {
            [a, b, c, 0]
        };
        Policy::from_array(self.ty, values)
    }
}

/// What a traversal reads of each entry: the registration as a Handle
/// Table Response carries it, less the ASAP transport.
///
/// Forty bytes: a full traversal reads every entry, and 1,000 of them
/// take 40 KB, within a 48 KB L1 cache. What only the handlespace reads
/// is in [`SlotState`], the ASAP transport and association in [`Cold`].
#[derive(Clone, Debug)]
pub(crate) struct Hot {
    pub(crate) pe_id: PeId,
    pub(crate) home: ServerId,
    pub(crate) lifetime_ms: u32,
    pub(crate) policy: StoredPolicy,
    /// The user transport, packed (see `packed.rs`).
    pub(crate) transport: Packed,
}

/// A PE entry as callers see it: its hot part and its cold part, which
/// live in two slabs at the same slot.
#[derive(Clone, Copy, Debug)]
pub struct PeEntry<'a> {
    pub(crate) hot: &'a Hot,
    pub(crate) cold: &'a Cold,
    /// Where transports that do not fit inline are.
    pub(crate) arena: &'a Arena,
}

impl<'a> PeEntry<'a> {
    /// The PE's identifier.
    pub fn pe_id(&self) -> PeId {
        self.hot.pe_id
    }
    /// The PE's home PR.
    pub fn home(&self) -> ServerId {
        self.hot.home
    }
    /// Registration lifetime in milliseconds.
    pub fn lifetime_ms(&self) -> u32 {
        self.hot.lifetime_ms
    }
    /// Where pool users reach the PE (unpacked from its stored form, no
    /// allocation for up to two addresses).
    pub fn transport(&self) -> TransportParam {
        self.hot
            .transport
            .get(self.arena)
            .unwrap_or(TransportParam::Udp {
                port: 0,
                address: std::net::Ipv4Addr::UNSPECIFIED.into(),
            })
    }
    /// The port of [`PeEntry::transport`], read without unpacking it.
    pub fn transport_port(&self) -> u16 {
        self.hot.transport.port()
    }
    /// The transport use of [`PeEntry::transport`], read without
    /// unpacking it.
    pub fn transport_use(&self) -> TransportUse {
        self.hot.transport.transport_use(self.arena)
    }
    /// The PE's ASAP transport, as its home PR saw it.
    pub fn asap_transport(&self) -> Option<TransportParam> {
        self.cold.asap_transport.get(self.arena)
    }
    /// The policy with its values, as registered.
    pub fn policy(&self) -> Policy {
        self.hot.policy.policy()
    }
    /// The policy type alone, without building the [`Policy`].
    pub fn policy_type(&self) -> PolicyType {
        self.hot.policy.ty
    }
    /// The load of adaptive policies (0 for the others), without building
    /// the [`Policy`].
    pub fn load(&self) -> u32 {
        self.hot.policy.load
    }
    /// The ASAP association it registered through (home PR only).
    pub fn association(&self) -> Option<AssocId> {
        self.cold.association()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_policy_survives_storage() {
        for t in PolicyType::ALL {
            let p = Policy::from_array(t, [11, 22, 33, 44]);
            let s = StoredPolicy::new(&p);
            assert_eq!(s.policy(), p, "{t:?}");
            assert_eq!(s.ty, t);
            assert_eq!(s.load, p.load(), "{t:?}");
        }
    }

    #[test]
    fn entries_are_small() {
        // The slab's slot holds the entry with no room for a tag: the
        // policy type's unused codes mark a free slot.
        assert_eq!(std::mem::size_of::<Option<Hot>>(), 40);
        assert_eq!(std::mem::size_of::<Cold>(), 16);
        assert_eq!(std::mem::size_of::<SlotState>(), 40);
    }
}
