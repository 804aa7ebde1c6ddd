//! The handlespace proper: pools, entries and every set kept up to date
//! on each operation.

mod ownership;
mod register;
mod resolve;
mod sync;
mod timers;

use std::collections::HashMap;
use std::fmt;

use foldhash::fast::RandomState;

use super::checksum::ChecksumSum;
use super::entry::{Cold, EntryRef, Hot, PeEntry, SlotState, StoredPolicy, TimerKind};
use super::fenwick::Fenwick;
use super::lists::Links;
use super::ordered::{SelKey, Windowed};
use super::packed::Arena;
use super::policy;
use super::pool_map::PoolMap;
use super::set::{BTreeFamily, SetFamily};
use super::slot_index::SlotIndex;
use super::wheel::Wheel;
use crate::time::Time;
use crate::wire::{PeId, PolicyType, PoolHandle, ServerId, TransportKind, TransportUse};

/// Hash maps keyed by network-supplied values use a randomly seeded hasher
/// (hash flooding); iteration order never leaks into results.
type Map<K, V> = HashMap<K, V, RandomState>;

/// Limits (exceeding one is "Lack of Resources") and thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Most pools at once.
    pub max_pools: usize,
    /// Most PEs in one pool.
    pub max_pes_per_pool: usize,
    /// Most PEs in all pools together.
    pub max_pes_total: usize,
    /// MAX-BAD-PE-REPORT (RFC 5353): unreachable reports before removal.
    pub max_bad_pe_reports: u32,
    /// How many of an ordered pool's first PEs (least used, priority)
    /// are kept in its ordered set; `None` keeps all of them there, as the
    /// paper's handlespace does (see the `ordered` module).
    pub ordered_window: Option<usize>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_pools: 1 << 16,
            max_pes_per_pool: 1 << 22,
            max_pes_total: 1 << 24,
            max_bad_pe_reports: 3,
            ordered_window: Some(64),
        }
    }
}

/// The outcome of a successful [`Handlespace::register`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registered {
    /// The entry created or updated.
    pub entry: EntryRef,
    /// True for a re-registration (update) of an existing entry.
    pub updated: bool,
}

/// The outcome of an endpoint-unreachable report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// Counted; still below MAX-BAD-PE-REPORT.
    Counted(u32),
    /// The threshold is reached: the caller removes the PE.
    ThresholdReached(u32),
}

/// A timer taken by [`Handlespace::take_due`]; the entry no longer has a
/// timer afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DueTimer {
    /// The entry whose timer expired.
    pub entry: EntryRef,
    /// Which timer it was.
    pub kind: TimerKind,
    /// When it was due.
    pub deadline: Time,
}

impl DueTimer {
    /// A placeholder for pre-filled output buffers.
    pub const NONE: DueTimer = DueTimer {
        entry: EntryRef::NONE,
        kind: TimerKind::LifetimeExpiry,
        deadline: Time(0),
    };
}

/// Where a block-wise traversal continues. Entries are visited in slot
/// order and slots are stable, so an entry present throughout a traversal
/// is visited exactly once however others come and go in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SyncCursor(u32);

impl SyncCursor {
    /// Where a traversal starts: the first slot.
    pub const START: SyncCursor = SyncCursor(0);
}

/// The result of one traversal block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncStep {
    /// Entries visited in this block.
    pub count: usize,
    /// Where the next block starts; `None` when the traversal is complete
    /// (the ENRP M flag is set when this is `Some`).
    pub next: Option<SyncCursor>,
}

enum Selection<F: SetFamily> {
    /// Round robin: a circular list over the slots' selection links.
    Ring {
        cursor: u32,
    },
    Ordered(Windowed<F::Set<SelKey>>),
    /// Random: every member weighs the same, no weight structure needed.
    Uniform,
    Weighted(Fenwick),
}

struct Pool<F: SetFamily> {
    handle: PoolHandle,
    handle_sum: u64,
    policy: PolicyType,
    transport: TransportKind,
    transport_use: TransportUse,
    /// Dense array of the pool's slots (`SlotState::member_pos` indexes it).
    members: Vec<u32>,
    sel: Selection<F>,
    next_seq: u64,
}

#[derive(Clone, Copy, Debug)]
struct Owner {
    server: ServerId,
    head: u32,
    count: u32,
    sum: ChecksumSum,
}

/// All pools of an operation scope as one PR sees them.
///
/// Generic over the [`SetFamily`] used for ordered selection sets, so the
/// same code runs on each ordered-set implementation.
pub struct Handlespace<F: SetFamily = BTreeFamily> {
    config: Config,
    entries: Vec<Option<Hot>>,
    /// The cold part of each slot's entry; stale in free slots.
    cold: Vec<Cold>,
    /// Transports that do not fit inline in their entry's cold part.
    arena: Arena,
    generations: Vec<u32>,
    /// Set bookkeeping per slot (see [`SlotState`]).
    state: Vec<SlotState>,
    free_slots: Vec<u32>,
    len: usize,
    /// (pool index << 32 | PE ID) -> slot.
    index: SlotIndex,
    pools: Vec<Option<Pool<F>>>,
    free_pools: Vec<u32>,
    pool_index: PoolMap,
    owners: Vec<Owner>,
    owner_index: Map<u32, u32>,
    owner_links: Links,
    /// Association -> the head slot of its list.
    assocs: SlotIndex,
    assoc_links: Links,
    /// Selection links: the outside lists of windowed ordered selections,
    /// and the rings of round robin pools (a pool has one or neither).
    outside_links: Links,
    timers: Wheel,
    total: ChecksumSum,
}

impl<F: SetFamily> Default for Handlespace<F> {
    fn default() -> Self {
        Self::new(Config::default())
    }
}

impl<F: SetFamily> fmt::Debug for Handlespace<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handlespace")
            .field("set", &F::NAME)
            .field("pools", &self.pool_index.len())
            .field("pes", &self.len)
            .field("timers", &self.timers.len())
            .field("checksum", &self.checksum())
            .finish()
    }
}

/// The slot state's `charge` after a registration: a weighted round
/// robin PE's full credit, no degradation for the others.
#[inline]
fn wrr_credit(p: &StoredPolicy) -> u32 {
    if p.ty == PolicyType::WeightedRoundRobin {
        policy::wrr_weight(p)
    } else {
        0
    }
}

#[inline]
fn index_key(pool: u32, pe: PeId) -> u64 {
    (u64::from(pool) << 32) | u64::from(pe.0)
}

/// The index key of `slot` (`u64::MAX` for a free slot, which is never
/// in the index).
#[inline]
fn slot_key(entries: &[Option<Hot>], state: &[SlotState], slot: u32) -> u64 {
    match (entries.get(slot as usize), state.get(slot as usize)) {
        (Some(Some(e)), Some(st)) => index_key(st.pool, e.pe_id),
        _ => u64::MAX,
    }
}

/// The association of `slot`, as the association index reads it.
#[inline]
fn assoc_key(cold: &[Cold], slot: u32) -> u64 {
    cold.get(slot as usize)
        .and_then(Cold::association)
        .unwrap_or(u64::MAX)
}

impl<F: SetFamily> Handlespace<F> {
    /// An empty handlespace with these limits.
    pub fn new(config: Config) -> Self {
        Handlespace {
            config,
            entries: Vec::new(),
            cold: Vec::new(),
            arena: Arena::default(),
            generations: Vec::new(),
            state: Vec::new(),
            free_slots: Vec::new(),
            len: 0,
            index: SlotIndex::default(),
            pools: Vec::new(),
            free_pools: Vec::new(),
            pool_index: PoolMap::default(),
            owners: Vec::new(),
            owner_index: Map::default(),
            owner_links: Links::default(),
            assocs: SlotIndex::default(),
            assoc_links: Links::default(),
            outside_links: Links::default(),
            timers: Wheel::default(),
            total: ChecksumSum::EMPTY,
        }
    }

    /// The limits it was made with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ----- lookups -------------------------------------------------------

    /// Number of PE entries.
    pub fn len(&self) -> usize {
        self.len
    }
    /// True when no PE is registered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Number of pools (a pool exists while it has PEs).
    pub fn pool_count(&self) -> usize {
        self.pool_index.len()
    }

    /// Size in bytes of one stored entry (hot and cold part) plus its
    /// per-slot side tables (set bookkeeping, generation, the selection,
    /// ownership and association links, the timer node, the member
    /// array), not counting the two hash indexes (about 10 bytes each at
    /// 1,000,000 entries), transports kept in the arena, or vector slack.
    pub fn bytes_per_entry() -> usize {
        std::mem::size_of::<Option<Hot>>()
            + std::mem::size_of::<Cold>()
            + std::mem::size_of::<SlotState>()
            + 4 // generation
            + 3 * 2 * 4 // selection, ownership and association links
            + 2 * 4 + 8 // timer links and deadline
            + 4 // member array
    }

    #[inline]
    fn pool_idx(&self, handle: &[u8]) -> Option<u32> {
        let pools = &self.pools;
        self.pool_index
            .get(handle, |p| match pools.get(p as usize) {
                Some(Some(pool)) => Some(pool.handle.as_bytes()),
                _ => None,
            })
    }

    #[inline]
    fn pool(&self, idx: u32) -> Option<&Pool<F>> {
        self.pools.get(idx as usize).and_then(Option::as_ref)
    }

    #[inline]
    fn slot_of(&self, r: EntryRef) -> Option<u32> {
        let live = self.generations.get(r.slot as usize) == Some(&r.generation)
            && matches!(self.entries.get(r.slot as usize), Some(Some(_)));
        live.then_some(r.slot)
    }

    #[inline]
    fn eref(&self, slot: u32) -> EntryRef {
        EntryRef {
            slot,
            generation: self.generations.get(slot as usize).copied().unwrap_or(0),
        }
    }

    /// The entry `r` refers to, if it still exists.
    #[inline]
    pub fn entry(&self, r: EntryRef) -> Option<PeEntry<'_>> {
        if self.generations.get(r.slot as usize) != Some(&r.generation) {
            return None;
        }
        self.view(r.slot)
    }

    #[inline]
    fn view(&self, slot: u32) -> Option<PeEntry<'_>> {
        let hot = self.entries.get(slot as usize)?.as_ref()?;
        let cold = self.cold.get(slot as usize)?;
        Some(PeEntry {
            hot,
            cold,
            arena: &self.arena,
        })
    }

    /// What the handlespace keeps about a live entry beside it.
    #[inline]
    fn state_of(&self, r: EntryRef) -> Option<&SlotState> {
        self.slot_of(r).and_then(|s| self.state.get(s as usize))
    }

    /// The entry's scheduled timer and its deadline.
    pub fn timer(&self, r: EntryRef) -> Option<(TimerKind, Time)> {
        let kind = self.state_of(r)?.timer_kind()?;
        let deadline = self.timers.scheduled(r.slot)?;
        Some((kind, Time(deadline)))
    }

    /// Endpoint-unreachable reports counted against the entry so far.
    pub fn unreachable_reports(&self, r: EntryRef) -> Option<u32> {
        self.state_of(r).map(|st| u32::from(st.bad_reports))
    }

    /// Degradation accumulated by the entry since its last
    /// (re-)registration.
    pub fn degradation(&self, r: EntryRef) -> Option<u32> {
        let slot = self.slot_of(r)?;
        let wrr =
            self.entries.get(slot as usize)?.as_ref()?.policy.ty == PolicyType::WeightedRoundRobin;
        let st = self.state.get(slot as usize)?;
        Some(if wrr { 0 } else { st.charge })
    }

    /// The sequence number ordering the entry among equal selection values.
    pub fn sequence(&self, r: EntryRef) -> Option<u64> {
        self.state_of(r).map(|st| st.seq)
    }

    /// The entry of PE `pe` in pool `handle`.
    pub fn find(&self, handle: &PoolHandle, pe: PeId) -> Option<EntryRef> {
        let p = self.pool_idx(handle.as_bytes())?;
        let slot = self.index.get(index_key(p, pe), |s| self.key_of(s))?;
        Some(self.eref(slot))
    }

    /// The entry of PE `pe` in pool `handle`, if registered.
    pub fn get(&self, handle: &PoolHandle, pe: PeId) -> Option<PeEntry<'_>> {
        self.find(handle, pe).and_then(|r| self.entry(r))
    }

    /// The pool handle of an entry.
    pub fn pool_handle_of(&self, r: EntryRef) -> Option<&PoolHandle> {
        let slot = self.slot_of(r)?;
        let p = self.state.get(slot as usize)?.pool;
        self.pool(p).map(|p| &p.handle)
    }

    /// Number of PEs in a pool (0 for an unknown pool).
    pub fn pool_len(&self, handle: &PoolHandle) -> usize {
        self.pool_idx(handle.as_bytes())
            .and_then(|p| self.pool(p))
            .map_or(0, |p| p.members.len())
    }

    /// The policy type of a pool.
    pub fn pool_policy(&self, handle: &PoolHandle) -> Option<PolicyType> {
        self.pool_idx(handle.as_bytes())
            .and_then(|p| self.pool(p))
            .map(|p| p.policy)
    }

    /// All pool handles, in no particular order.
    pub fn pools(&self) -> impl Iterator<Item = &PoolHandle> + '_ {
        self.pools.iter().flatten().map(|p| &p.handle)
    }

    /// The entries of a pool, in no particular order.
    pub fn pool_entries(&self, handle: &PoolHandle) -> impl Iterator<Item = EntryRef> + '_ {
        let members: &[u32] = self
            .pool_idx(handle.as_bytes())
            .and_then(|p| self.pool(p))
            .map_or(&[], |p| &p.members);
        members.iter().map(|s| self.eref(*s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlespace::entry::Registration;
    use crate::handlespace::ordered::sel_key;
    use crate::rng::Xoshiro256;
    use crate::wire::{Policy, TransportParam};

    #[test]
    fn weighted_round_robin_rebases_rounds_at_the_end_of_the_range() {
        let mut hs: Handlespace = Handlespace::default();
        let pool = PoolHandle::from("wrr");
        for (id, weight) in [(1u32, 1u32), (2, 2)] {
            hs.register(
                &pool,
                Registration {
                    pe_id: PeId(id),
                    home: ServerId(1),
                    lifetime_ms: 1,
                    transport: TransportParam::Udp {
                        port: 1,
                        address: [192, 0, 2, 1].into(),
                    },
                    policy: Policy::WeightedRoundRobin { weight },
                    asap_transport: None,
                    association: None,
                },
            )
            .unwrap();
        }
        // Move every PE to the last representable round.
        let p = hs.pool_idx(b"wrr").unwrap();
        let Some(Some(pool_data)) = hs.pools.get_mut(p as usize) else {
            panic!("pool missing")
        };
        let Selection::Ordered(ord) = &mut pool_data.sel else {
            panic!("not ordered")
        };
        for slot in pool_data.members.clone() {
            let st = &mut hs.state[slot as usize];
            ord.remove(
                &mut hs.outside_links,
                sel_key(st.sel_value, st.key_seq, slot),
            );
            st.sel_value = u32::MAX;
            ord.insert(
                &mut hs.outside_links,
                sel_key(st.sel_value, st.key_seq, slot),
            );
        }
        let mut rng = Xoshiro256::seed_from_u64(1);
        let mut counts = [0u32; 3];
        for _ in 0..30 {
            let mut out = [EntryRef::NONE; 1];
            hs.resolve(&pool, &mut rng, &mut out).unwrap();
            counts[hs.entry(out[0]).unwrap().pe_id().0 as usize] += 1;
        }
        // Weights 1 and 2: exact 1:2 over whole rounds, across the rebase.
        assert_eq!(counts, [0, 10, 20]);
        let max_round = pool_data_rounds(&hs, p);
        assert!(max_round < 100, "rounds were rebased: {max_round}");
    }

    fn pool_data_rounds(hs: &Handlespace, p: u32) -> u32 {
        hs.pool(p)
            .unwrap()
            .members
            .iter()
            .map(|s| hs.state[*s as usize].sel_value)
            .max()
            .unwrap()
    }
}
