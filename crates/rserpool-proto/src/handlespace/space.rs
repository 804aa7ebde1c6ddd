//! The handlespace proper: pools, entries and every set kept up to date
//! on each operation.

use std::collections::HashMap;
use std::fmt;

use foldhash::fast::RandomState;

use super::checksum::{self, Checksum, ChecksumSum};
use super::entry::{
    AssocId, Cold, EntryRef, Hot, PeEntry, Registration, SlotState, StoredPolicy, TimerKind,
};
use super::error::{HsError, Resource};
use super::fenwick::Fenwick;
use super::lists::{Links, NIL};
use super::ordered::{HEAD, SelKey, Windowed, key_slot, key_value, sel_key};
use super::packed::{Arena, Packed};
use super::policy::{self, Kind};
use super::pool_map::PoolMap;
use super::set::{BTreeFamily, OrderedSet, SetFamily};
use super::slot_index::SlotIndex;
use super::wheel::Wheel;
use crate::rng::Rng;
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

    fn pool_idx(&self, handle: &[u8]) -> Option<u32> {
        let pools = &self.pools;
        self.pool_index
            .get(handle, |p| match pools.get(p as usize) {
                Some(Some(pool)) => Some(pool.handle.as_bytes()),
                _ => None,
            })
    }

    fn pool(&self, idx: u32) -> Option<&Pool<F>> {
        self.pools.get(idx as usize).and_then(Option::as_ref)
    }

    fn slot_of(&self, r: EntryRef) -> Option<u32> {
        let live = self.generations.get(r.slot as usize) == Some(&r.generation)
            && matches!(self.entries.get(r.slot as usize), Some(Some(_)));
        live.then_some(r.slot)
    }

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

    // ----- registration --------------------------------------------------

    /// Registers a PE, or updates it if it is already registered with the
    /// same home PR (re-registration: new policy values can move it in the
    /// selection order, its degradation resets). Creates the pool with the
    /// PE's policy type and transport on its first registration.
    ///
    /// Checks, in this order: non-unique PE ID (registered by another home
    /// PR), inconsistent pooling policy, inconsistent transport type,
    /// inconsistent data/control configuration, lack of resources.
    ///
    /// ```
    /// # use rserpool_proto::handlespace::*;
    /// # use rserpool_proto::wire::*;
    /// let mut hs: Handlespace = Handlespace::default();
    /// let pool = PoolHandle::from("p");
    /// let mut reg = Registration {
    ///     pe_id: PeId(1), home: ServerId(1), lifetime_ms: 30_000,
    ///     transport: TransportParam::Udp { port: 1, address: [10, 0, 0, 1].into() },
    ///     policy: Policy::LeastUsed { load: 5 }, asap_transport: None, association: Some(9),
    /// };
    /// assert!(!hs.register(&pool, reg.clone()).unwrap().updated);
    /// reg.policy = Policy::LeastUsed { load: 7 };
    /// assert!(hs.register(&pool, reg.clone()).unwrap().updated);
    /// reg.policy = Policy::RoundRobin;
    /// assert_eq!(hs.register(&pool, reg).unwrap_err().cause_code(), Some(5));
    /// ```
    pub fn register(
        &mut self,
        handle: &PoolHandle,
        reg: Registration,
    ) -> Result<Registered, HsError> {
        let requested = reg.policy.policy_type();
        let Some(p) = self.pool_idx(handle.as_bytes()) else {
            if self.pool_index.len() >= self.config.max_pools {
                return Err(HsError::LackOfResources(Resource::Pools));
            }
            if self.len >= self.config.max_pes_total {
                return Err(HsError::LackOfResources(Resource::PesTotal));
            }
            if self.config.max_pes_per_pool == 0 {
                return Err(HsError::LackOfResources(Resource::PesInPool));
            }
            let p = self.create_pool(handle, &reg);
            let slot = self.insert_entry(p, reg);
            return Ok(Registered {
                entry: self.eref(slot),
                updated: false,
            });
        };
        let existing = self.index.get(index_key(p, reg.pe_id), |s| self.key_of(s));
        if let Some(slot) = existing {
            if let Some(Some(e)) = self.entries.get(slot as usize) {
                if e.home != reg.home {
                    return Err(HsError::NonUniquePeId {
                        existing_home: e.home,
                    });
                }
            }
        }
        let pool = self.pool(p).ok_or(HsError::UnknownPoolHandle)?;
        if pool.policy != requested {
            return Err(HsError::InconsistentPoolingPolicy {
                pool: pool.policy,
                requested,
            });
        }
        if pool.transport != reg.transport.kind() {
            return Err(HsError::InconsistentTransportType {
                pool: pool.transport,
                requested: reg.transport.kind(),
            });
        }
        if pool.transport_use != reg.transport.transport_use() {
            return Err(HsError::InconsistentDataControlConfiguration {
                pool: pool.transport_use,
                requested: reg.transport.transport_use(),
            });
        }
        if let Some(slot) = existing {
            self.update_entry(slot, reg);
            return Ok(Registered {
                entry: self.eref(slot),
                updated: true,
            });
        }
        if pool.members.len() >= self.config.max_pes_per_pool {
            return Err(HsError::LackOfResources(Resource::PesInPool));
        }
        if self.len >= self.config.max_pes_total {
            return Err(HsError::LackOfResources(Resource::PesTotal));
        }
        let slot = self.insert_entry(p, reg);
        Ok(Registered {
            entry: self.eref(slot),
            updated: false,
        })
    }

    /// Deregisters PE `pe` from pool `handle` (deleting the pool with its
    /// last PE).
    pub fn deregister(&mut self, handle: &PoolHandle, pe: PeId) -> Result<(), HsError> {
        let p = self
            .pool_idx(handle.as_bytes())
            .ok_or(HsError::UnknownPoolHandle)?;
        // Taken out of the index here, so removal needs no second probe.
        let (entries, state) = (&self.entries, &self.state);
        let slot = self
            .index
            .remove(index_key(p, pe), |s| slot_key(entries, state, s))
            .ok_or(HsError::UnknownPoolElement)?;
        self.remove_slot_unindexed(slot);
        Ok(())
    }

    /// Removes the entry `r` refers to; false if it is already gone.
    pub fn remove(&mut self, r: EntryRef) -> bool {
        match self.slot_of(r) {
            Some(slot) => {
                self.remove_slot(slot);
                true
            }
            None => false,
        }
    }

    fn create_pool(&mut self, handle: &PoolHandle, reg: &Registration) -> u32 {
        let policy = reg.policy.policy_type();
        let sel = match policy::kind(policy) {
            Kind::Ring => Selection::Ring { cursor: NIL },
            // Rounds rebase over the whole pool: no window there.
            Kind::Ordered if policy == PolicyType::WeightedRoundRobin => {
                Selection::Ordered(Windowed::new(None))
            }
            Kind::Ordered => Selection::Ordered(Windowed::new(self.config.ordered_window)),
            Kind::Weighted if policy == PolicyType::Random => Selection::Uniform,
            Kind::Weighted => Selection::Weighted(Fenwick::default()),
        };
        let pool = Pool {
            handle: handle.clone(),
            handle_sum: checksum::handle_sum(handle.as_bytes()),
            policy,
            transport: reg.transport.kind(),
            transport_use: reg.transport.transport_use(),
            members: Vec::new(),
            sel,
            next_seq: 0,
        };
        let idx = match self.free_pools.pop() {
            Some(i) => {
                self.pools[i as usize] = Some(pool);
                i
            }
            None => {
                self.pools.push(Some(pool));
                (self.pools.len() - 1) as u32
            }
        };
        self.pool_index.insert(handle.as_bytes(), idx);
        idx
    }

    fn owner_of(&mut self, server: ServerId) -> u32 {
        if let Some(&i) = self.owner_index.get(&server.0) {
            return i;
        }
        let i = self.owners.len() as u32;
        self.owners.push(Owner {
            server,
            head: NIL,
            count: 0,
            sum: ChecksumSum::EMPTY,
        });
        self.owner_index.insert(server.0, i);
        i
    }

    /// A free slot, its cold part set to `cold`.
    fn alloc_slot(&mut self, cold: Cold) -> u32 {
        if let Some(s) = self.free_slots.pop() {
            if let Some(c) = self.cold.get_mut(s as usize) {
                *c = cold;
            }
            return s;
        }
        let s = self.entries.len() as u32;
        self.entries.push(None);
        self.cold.push(cold);
        self.generations.push(0);
        self.state.push(SlotState::default());
        self.owner_links.ensure(s);
        self.assoc_links.ensure(s);
        self.outside_links.ensure(s);
        s
    }

    fn insert_entry(&mut self, p: u32, reg: Registration) -> u32 {
        let association = reg.association;
        let transport = Packed::new(reg.transport, &mut self.arena);
        let cold = Cold::new(reg.asap_transport, association, &mut self.arena);
        let slot = self.alloc_slot(cold);
        let owner = self.owner_of(reg.home);
        let Some(pool) = self.pools.get_mut(p as usize).and_then(Option::as_mut) else {
            return slot;
        };
        let seq = pool.next_seq;
        pool.next_seq += 1;
        let member_pos = pool.members.len() as u32;
        pool.members.push(slot);
        let part = checksum::pe_part(pool.handle_sum, reg.pe_id);
        let e = Hot {
            pe_id: reg.pe_id,
            home: reg.home,
            lifetime_ms: reg.lifetime_ms,
            policy: StoredPolicy::new(&reg.policy),
            transport,
        };
        let mut st = SlotState {
            pool: p,
            owner,
            member_pos,
            sel_value: 0,
            charge: wrr_credit(&e.policy),
            bad_reports: 0,
            timer_kind: 0,
            key_seq: seq,
            seq,
        };
        match &mut pool.sel {
            Selection::Ring { cursor } => {
                if *cursor == NIL {
                    self.outside_links.set_prev(slot, slot);
                    self.outside_links.set_next(slot, slot);
                    *cursor = slot;
                } else {
                    // Before the cursor: the end of the current rotation.
                    let c = *cursor;
                    let last = self.outside_links.prev(c);
                    self.outside_links.set_next(last, slot);
                    self.outside_links.set_prev(slot, last);
                    self.outside_links.set_next(slot, c);
                    self.outside_links.set_prev(c, slot);
                }
            }
            Selection::Ordered(ord) => {
                // A new weighted-round-robin PE joins the current round.
                let round = ord.set.first().map_or(0, key_value);
                st.sel_value = policy::ordered_value(&e.policy, 0, round);
                ord.insert(&mut self.outside_links, sel_key(st.sel_value, seq, slot));
            }
            Selection::Uniform => {}
            Selection::Weighted(fw) => fw.push(policy::weight(&e.policy, 0)),
        }
        let key = index_key(p, e.pe_id);
        let o = &mut self.owners[owner as usize];
        self.owner_links.push_front(&mut o.head, slot);
        o.count += 1;
        o.sum.add(part);
        self.total.add(part);
        if let Some(a) = association {
            self.link_assoc(a, slot);
        }
        self.entries[slot as usize] = Some(e);
        self.state[slot as usize] = st;
        let (entries, state) = (&self.entries, &self.state);
        self.index
            .insert(key, slot, |s| slot_key(entries, state, s));
        self.len += 1;
        slot
    }

    fn update_entry(&mut self, slot: u32, reg: Registration) {
        let old_assoc = self.cold.get(slot as usize).and_then(Cold::association);
        if old_assoc != reg.association {
            // Before the cold part changes: the list's index reads the
            // association of its head from there.
            if let Some(a) = old_assoc {
                self.unlink_assoc(a, slot);
            }
        }
        let (Some(Some(e)), Some(st), Some(cold)) = (
            self.entries.get_mut(slot as usize),
            self.state.get_mut(slot as usize),
            self.cold.get_mut(slot as usize),
        ) else {
            return;
        };
        e.lifetime_ms = reg.lifetime_ms;
        std::mem::replace(
            cold,
            Cold::new(reg.asap_transport, reg.association, &mut self.arena),
        )
        .release(&mut self.arena);
        std::mem::replace(
            &mut e.transport,
            Packed::new(reg.transport, &mut self.arena),
        )
        .release(&mut self.arena);
        e.policy = StoredPolicy::new(&reg.policy);
        st.charge = wrr_credit(&e.policy);
        let Some(pool) = self
            .pools
            .get_mut(st.pool as usize)
            .and_then(Option::as_mut)
        else {
            return;
        };
        match &mut pool.sel {
            Selection::Ordered(ord) => {
                // Weighted round robin keeps the PE in its round.
                let v = policy::ordered_value(&e.policy, 0, st.sel_value);
                if v != st.sel_value {
                    ord.remove(
                        &mut self.outside_links,
                        sel_key(st.sel_value, st.key_seq, slot),
                    );
                    // A PE whose value changes joins the end of its new
                    // tie group.
                    st.seq = pool.next_seq;
                    pool.next_seq += 1;
                    st.key_seq = st.seq;
                    st.sel_value = v;
                    ord.insert(&mut self.outside_links, sel_key(v, st.seq, slot));
                }
            }
            Selection::Weighted(fw) => {
                let w = policy::weight(&e.policy, 0);
                if fw.weight(st.member_pos as usize) != w {
                    fw.set(st.member_pos as usize, w);
                }
            }
            Selection::Ring { .. } | Selection::Uniform => {}
        }
        if old_assoc != reg.association {
            if let Some(a) = reg.association {
                self.link_assoc(a, slot);
            }
        }
    }

    /// Adds `slot`, whose cold part names association `a`, to `a`'s list.
    fn link_assoc(&mut self, a: AssocId, slot: u32) {
        let cold = &self.cold;
        let links = &mut self.assoc_links;
        let linked = self.assocs.update(
            a,
            |s| assoc_key(cold, s),
            |head| links.push_front(head, slot),
        );
        if !linked {
            let mut head = NIL;
            self.assoc_links.push_front(&mut head, slot);
            let cold = &self.cold;
            self.assocs.insert(a, head, |s| assoc_key(cold, s));
        }
    }

    /// Takes `slot`, whose cold part names association `a`, out of `a`'s
    /// list (the list goes with its last slot).
    fn unlink_assoc(&mut self, a: AssocId, slot: u32) {
        let cold = &self.cold;
        let links = &mut self.assoc_links;
        self.assocs
            .update(a, |s| assoc_key(cold, s), |head| links.unlink(head, slot));
    }

    /// The index key of a live slot.
    #[inline]
    fn key_of(&self, slot: u32) -> u64 {
        slot_key(&self.entries, &self.state, slot)
    }

    fn remove_slot(&mut self, slot: u32) {
        let key = match (
            self.entries.get(slot as usize),
            self.state.get(slot as usize),
        ) {
            (Some(Some(e)), Some(st)) => index_key(st.pool, e.pe_id),
            _ => return,
        };
        let (entries, state) = (&self.entries, &self.state);
        self.index.remove(key, |s| slot_key(entries, state, s));
        self.remove_slot_unindexed(slot);
    }

    /// [`Self::remove_slot`] for an entry already taken out of the index.
    fn remove_slot_unindexed(&mut self, slot: u32) {
        let Some(e) = self.entries.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        let st = self.state.get(slot as usize).copied().unwrap_or_default();
        let p = st.pool;
        let Some(pool) = self.pools.get_mut(p as usize).and_then(Option::as_mut) else {
            return;
        };
        let part = checksum::pe_part(pool.handle_sum, e.pe_id);
        let pos = st.member_pos as usize;
        let last = pool.members.len() - 1;
        match &mut pool.sel {
            Selection::Ring { cursor } => {
                let (prev, next) = (self.outside_links.prev(slot), self.outside_links.next(slot));
                if next == slot {
                    *cursor = NIL;
                } else {
                    self.outside_links.set_next(prev, next);
                    self.outside_links.set_prev(next, prev);
                    if *cursor == slot {
                        *cursor = next;
                    }
                }
            }
            Selection::Ordered(ord) => {
                ord.remove(
                    &mut self.outside_links,
                    sel_key(st.sel_value, st.key_seq, slot),
                );
            }
            Selection::Uniform => {}
            Selection::Weighted(fw) => {
                if pos != last {
                    fw.set(pos, fw.weight(last));
                }
                fw.pop();
            }
        }
        pool.members.swap_remove(pos);
        if pos < pool.members.len() {
            let moved = pool.members[pos];
            if let Some(m) = self.state.get_mut(moved as usize) {
                m.member_pos = pos as u32;
            }
        }
        let pool_empty = pool.members.is_empty();
        if pool_empty {
            if let Some(pool) = self.pools.get_mut(p as usize).and_then(Option::take) {
                self.pool_index.remove(pool.handle.as_bytes(), p);
                self.free_pools.push(p);
            }
        }
        self.timers.cancel(slot);
        let o = &mut self.owners[st.owner as usize];
        self.owner_links.unlink(&mut o.head, slot);
        o.count -= 1;
        o.sum.sub(part);
        self.total.sub(part);
        if let Some(c) = self.cold.get(slot as usize).copied() {
            if let Some(a) = c.association() {
                self.unlink_assoc(a, slot);
            }
            c.release(&mut self.arena);
        }
        e.transport.release(&mut self.arena);
        self.generations[slot as usize] = self.generations[slot as usize].wrapping_add(1);
        self.free_slots.push(slot);
        self.len -= 1;
    }

    // ----- handle resolution ---------------------------------------------

    /// Handle resolution: selects up to `out.len()` distinct PEs of the pool
    /// by its policy into `out`, returning how many. The first choice is
    /// charged (round robin moves on, ties rotate, degradation grows).
    /// No allocation.
    ///
    /// ```
    /// # use rserpool_proto::handlespace::*;
    /// # use rserpool_proto::wire::*;
    /// let mut hs: Handlespace = Handlespace::default();
    /// let pool = PoolHandle::from("lu");
    /// for (id, load) in [(1, 900), (2, 100), (3, 500)] {
    ///     hs.register(&pool, Registration {
    ///         pe_id: PeId(id), home: ServerId(1), lifetime_ms: 30_000,
    ///         transport: TransportParam::Udp { port: 1, address: [10, 0, 0, 1].into() },
    ///         policy: Policy::LeastUsed { load }, asap_transport: None, association: None,
    ///     }).unwrap();
    /// }
    /// let mut out = [EntryRef::NONE; 3]; // MaxHResItems
    /// let n = hs.resolve(&pool, &mut Xoshiro256::seed_from_u64(1), &mut out).unwrap();
    /// let ids: Vec<u32> = out[..n].iter().map(|r| hs.entry(*r).unwrap().pe_id().0).collect();
    /// assert_eq!(ids, [2, 3, 1]);
    /// ```
    pub fn resolve(
        &mut self,
        handle: &PoolHandle,
        rng: &mut impl Rng,
        out: &mut [EntryRef],
    ) -> Result<usize, HsError> {
        let p = self
            .pool_idx(handle.as_bytes())
            .ok_or(HsError::UnknownPoolHandle)?;
        Ok(self.resolve_pool(p, rng, out))
    }

    fn resolve_pool(&mut self, p: u32, rng: &mut impl Rng, out: &mut [EntryRef]) -> usize {
        let Some(pool) = self.pools.get_mut(p as usize).and_then(Option::as_mut) else {
            return 0;
        };
        let h = out.len().min(pool.members.len());
        if h == 0 {
            return 0;
        }
        let gens = &self.generations;
        let r = |slot: u32| EntryRef {
            slot,
            generation: gens[slot as usize],
        };
        let first;
        match &mut pool.sel {
            Selection::Ring { cursor } => {
                let mut at = *cursor;
                first = at;
                for o in out.iter_mut().take(h) {
                    *o = r(at);
                    at = self.outside_links.next(at);
                }
                *cursor = self.outside_links.next(first);
                if let Some(st) = self.state.get_mut(first as usize) {
                    st.seq = pool.next_seq;
                    pool.next_seq += 1;
                }
            }
            Selection::Ordered(ord) => {
                if pool.policy == PolicyType::WeightedRoundRobin {
                    rebase_rounds(ord, &mut self.state, &mut self.outside_links);
                }
                let state = &self.state;
                ord.prepare(&mut self.outside_links, h.max(2), |s| {
                    state
                        .get(s as usize)
                        .map_or(SelKey::MAX, |st| sel_key(st.sel_value, st.key_seq, s))
                });
                let mut head = [None::<SelKey>; 2];
                if h < HEAD {
                    let keys = ord.head();
                    head[0] = keys.first().copied();
                    head[1] = keys.get(1).copied();
                    for (o, k) in out.iter_mut().zip(keys).take(h) {
                        *o = r(key_slot(*k));
                    }
                } else {
                    for (n, k) in ord.set.iter_from(None).take(h).enumerate() {
                        if n < 2 {
                            head[n] = Some(k);
                        }
                        out[n] = r(key_slot(k));
                    }
                }
                let Some(k) = head[0] else { return 0 };
                first = key_slot(k);
                let t = pool.policy;
                let seq = pool.next_seq;
                pool.next_seq += 1;
                if !policy::degrades(t) && t != PolicyType::WeightedRoundRobin {
                    // The value stays: only a tie moves the PE (to the end
                    // of its tie group). Without a tie its old key orders
                    // exactly like the new one (later arrivals in its tie
                    // group get still larger sequence numbers), so the set
                    // and the slot state stay untouched.
                    let Some(st) = self.state.get_mut(first as usize) else {
                        return h;
                    };
                    st.seq = seq;
                    let v = key_value(k);
                    if head[1].is_some_and(|k2| key_value(k2) == v) {
                        ord.remove(&mut self.outside_links, k);
                        ord.insert(&mut self.outside_links, sel_key(v, seq, first));
                        st.key_seq = seq;
                    }
                    return h;
                }
                let (Some(Some(e)), Some(st)) = (
                    self.entries.get(first as usize),
                    self.state.get_mut(first as usize),
                ) else {
                    return h;
                };
                st.seq = seq;
                let mut round = st.sel_value;
                if t == PolicyType::WeightedRoundRobin {
                    if st.charge > 1 {
                        st.charge -= 1;
                    } else {
                        // No overflow: rounds are rebased before reaching MAX.
                        round = round.saturating_add(1);
                        st.charge = policy::wrr_weight(&e.policy);
                    }
                }
                if policy::degrades(t) {
                    st.charge = st
                        .charge
                        .saturating_add(policy::degradation_step(&e.policy));
                }
                let degradation = if t == PolicyType::WeightedRoundRobin {
                    0
                } else {
                    st.charge
                };
                let v = policy::ordered_value(&e.policy, degradation, round);
                let alone = head[1].is_none_or(|k2| key_value(k2) > v);
                if v != st.sel_value || !alone {
                    ord.remove(&mut self.outside_links, k);
                    st.sel_value = v;
                    st.key_seq = seq;
                    ord.insert(&mut self.outside_links, sel_key(v, seq, first));
                }
            }
            Selection::Uniform => {
                let n = pool.members.len();
                if h == n {
                    for (o, s) in out.iter_mut().zip(&pool.members) {
                        *o = r(*s);
                    }
                    for i in (1..h).rev() {
                        out.swap(i, rng.below(i as u64 + 1) as usize);
                    }
                } else {
                    // Rejection sampling (h is small against n); a degenerate
                    // generator falls back to a scan after bounded tries.
                    let mut i = 0;
                    let mut tries = 0;
                    while i < h && tries < 64 * h {
                        tries += 1;
                        let s = pool.members[rng.below(n as u64) as usize];
                        if out[..i].iter().all(|o| o.slot != s) {
                            out[i] = r(s);
                            i += 1;
                        }
                    }
                    for &s in &pool.members {
                        if i == h {
                            break;
                        }
                        if out[..i].iter().all(|o| o.slot != s) {
                            out[i] = r(s);
                            i += 1;
                        }
                    }
                }
                first = out[0].slot;
                if let Some(st) = self.state.get_mut(first as usize) {
                    st.seq = pool.next_seq;
                    pool.next_seq += 1;
                }
            }
            Selection::Weighted(fw) => {
                let mut n = 0;
                while n < h {
                    let total = fw.total();
                    if total == 0 {
                        break;
                    }
                    let pos = fw.find(rng.below(total));
                    out[n] = r(pool.members[pos]);
                    fw.set(pos, 0);
                    n += 1;
                }
                for o in out.iter().take(n) {
                    if let (Some(Some(e)), Some(st)) = (
                        self.entries.get(o.slot as usize),
                        self.state.get(o.slot as usize),
                    ) {
                        fw.set(st.member_pos as usize, policy::weight(&e.policy, st.charge));
                    }
                }
                if n == 0 {
                    return 0;
                }
                first = out[0].slot;
                if let (Some(Some(e)), Some(st)) = (
                    self.entries.get(first as usize),
                    self.state.get_mut(first as usize),
                ) {
                    st.seq = pool.next_seq;
                    pool.next_seq += 1;
                    if policy::degrades(pool.policy) {
                        st.charge = st
                            .charge
                            .saturating_add(policy::degradation_step(&e.policy));
                        fw.set(st.member_pos as usize, policy::weight(&e.policy, st.charge));
                    }
                }
                return n;
            }
        }
        h
    }

    // ----- timers ----------------------------------------------------------

    /// Schedules the entry's one timer (replacing any other); false if the
    /// entry is gone.
    ///
    /// ```
    /// # use rserpool_proto::handlespace::*;
    /// # use rserpool_proto::wire::*;
    /// let mut hs: Handlespace = Handlespace::default();
    /// let pe = hs.register(&PoolHandle::from("p"), Registration {
    ///     pe_id: PeId(1), home: ServerId(2), lifetime_ms: 30_000,
    ///     transport: TransportParam::Udp { port: 1, address: [10, 0, 0, 1].into() },
    ///     policy: Policy::RoundRobin, asap_transport: None, association: None,
    /// }).unwrap().entry;
    /// // Learned from a peer: expires with its lifetime unless refreshed.
    /// hs.schedule_timer(pe, TimerKind::LifetimeExpiry, Time::from_millis(30_000));
    /// assert_eq!(hs.next_deadline(), Some(Time::from_millis(30_000)));
    /// let mut due = [DueTimer::NONE; 16];
    /// assert_eq!(hs.take_due(Time::from_millis(29_999), &mut due), 0);
    /// assert_eq!(hs.take_due(Time::from_millis(30_000), &mut due), 1);
    /// assert_eq!((due[0].entry, due[0].kind), (pe, TimerKind::LifetimeExpiry));
    /// assert!(hs.remove(due[0].entry));
    /// ```
    #[inline]
    pub fn schedule_timer(&mut self, r: EntryRef, kind: TimerKind, deadline: Time) -> bool {
        let Some(slot) = self.slot_of(r) else {
            return false;
        };
        self.timers.schedule(slot, deadline.0);
        if let Some(st) = self.state.get_mut(slot as usize) {
            st.set_timer_kind(Some(kind));
        }
        true
    }

    /// Cancels the entry's timer; false if it had none (or is gone).
    pub fn cancel_timer(&mut self, r: EntryRef) -> bool {
        let Some(slot) = self.slot_of(r) else {
            return false;
        };
        if let Some(st) = self.state.get_mut(slot as usize) {
            st.set_timer_kind(None);
        }
        self.timers.cancel(slot)
    }

    /// The earliest timer deadline.
    pub fn next_deadline(&self) -> Option<Time> {
        self.timers.next_deadline().map(Time)
    }

    /// When the timer schedule must next be serviced with
    /// [`Handlespace::take_due`]: no later than [`Handlespace::next_deadline`],
    /// possibly earlier (then nothing is due yet), and O(1) where
    /// `next_deadline` may scan a bucket. For event loops that ask after
    /// every message.
    pub fn next_wakeup(&self) -> Option<Time> {
        self.timers.next_wakeup().map(Time)
    }

    /// Number of scheduled timers.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }

    /// Takes timers due at `now` (deadline `<= now`) into `out`, earliest
    /// first, returning how many; more stay scheduled if `out` fills up.
    /// Time never goes backwards: a `now` earlier than a previous call's
    /// behaves like that earlier call's.
    pub fn take_due(&mut self, now: Time, out: &mut [DueTimer]) -> usize {
        let mut n = 0;
        while n < out.len() {
            let Some((slot, deadline)) = self.timers.pop_due(now.0) else {
                break;
            };
            let entry = self.eref(slot);
            let kind = match (
                self.entries.get(slot as usize),
                self.state.get_mut(slot as usize),
            ) {
                (Some(Some(_)), Some(st)) => {
                    let kind = st.timer_kind().unwrap_or(TimerKind::LifetimeExpiry);
                    st.set_timer_kind(None);
                    kind
                }
                _ => continue,
            };
            out[n] = DueTimer {
                entry,
                kind,
                deadline: Time(deadline),
            };
            n += 1;
        }
        out[..n].sort_unstable_by_key(|d| (d.deadline, d.entry));
        n
    }

    // ----- ownership and checksums ------------------------------------------

    /// The checksum over the PEs whose home PR is `server` (ENRP PE
    /// Checksum parameter).
    pub fn owner_checksum(&self, server: ServerId) -> Checksum {
        self.owner_index
            .get(&server.0)
            .map_or(ChecksumSum::EMPTY, |i| self.owners[*i as usize].sum)
            .finish()
    }

    /// The checksum over all PEs.
    pub fn checksum(&self) -> Checksum {
        self.total.finish()
    }

    /// Number of PEs whose home PR is `server`.
    pub fn owner_len(&self, server: ServerId) -> usize {
        self.owner_index
            .get(&server.0)
            .map_or(0, |i| self.owners[*i as usize].count as usize)
    }

    /// Home PRs that have (or had) PEs here.
    pub fn owners(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.owners.iter().filter(|o| o.count > 0).map(|o| o.server)
    }

    /// The entries whose home PR is `server`, in no particular order.
    pub fn owner_entries(&self, server: ServerId) -> impl Iterator<Item = EntryRef> + '_ {
        let head = self
            .owner_index
            .get(&server.0)
            .map_or(NIL, |i| self.owners[*i as usize].head);
        self.owner_links.iter(head).map(|s| self.eref(s))
    }

    /// Makes `to` the home PR of one entry; false if the entry is gone.
    pub fn set_home(&mut self, r: EntryRef, to: ServerId) -> bool {
        let Some(slot) = self.slot_of(r) else {
            return false;
        };
        self.move_owner(slot, to);
        true
    }

    fn move_owner(&mut self, slot: u32, to: ServerId) {
        let new = self.owner_of(to);
        let (Some(Some(e)), Some(st)) = (
            self.entries.get_mut(slot as usize),
            self.state.get_mut(slot as usize),
        ) else {
            return;
        };
        let old = st.owner;
        if old == new {
            return;
        }
        st.owner = new;
        e.home = to;
        let handle_sum = self
            .pools
            .get(st.pool as usize)
            .and_then(Option::as_ref)
            .map_or(0, |p| p.handle_sum);
        let part = checksum::pe_part(handle_sum, e.pe_id);
        let o = &mut self.owners[old as usize];
        self.owner_links.unlink(&mut o.head, slot);
        o.count -= 1;
        o.sum.sub(part);
        let o = &mut self.owners[new as usize];
        self.owner_links.push_front(&mut o.head, slot);
        o.count += 1;
        o.sum.add(part);
    }

    /// Takeover: makes `to` the home PR of all of `from`'s PEs, returning
    /// how many moved.
    pub fn take_over(&mut self, from: ServerId, to: ServerId) -> usize {
        let Some(&i) = self.owner_index.get(&from.0) else {
            return 0;
        };
        if from == to {
            return 0;
        }
        let mut at = self.owners[i as usize].head;
        let mut n = 0;
        while at != NIL {
            let next = self.owner_links.next(at);
            self.move_owner(at, to);
            n += 1;
            at = next;
        }
        n
    }

    // ----- synchronisation ---------------------------------------------------

    /// Visits up to `max` entries from `from` on (all entries, or those of
    /// home PR `owner`), calling `f` for each; see [`SyncCursor`].
    ///
    /// ```
    /// # use rserpool_proto::handlespace::*;
    /// # use rserpool_proto::wire::*;
    /// let mut hs: Handlespace = Handlespace::default();
    /// for id in 0..300 {
    ///     hs.register(&PoolHandle::from("p"), Registration {
    ///         pe_id: PeId(id), home: ServerId(1), lifetime_ms: 30_000,
    ///         transport: TransportParam::Udp { port: 1, address: [10, 0, 0, 1].into() },
    ///         policy: Policy::Random, asap_transport: None, association: None,
    ///     }).unwrap();
    /// }
    /// // Handle Table Responses of up to 128 entries; `next` set = M flag.
    /// let (mut cursor, mut blocks, mut seen) = (Some(SyncCursor::START), 0, 0);
    /// while let Some(c) = cursor {
    ///     let step = hs.sync_block(c, None, 128, |_, e| seen += usize::from(e.pe_id().0 < 300));
    ///     cursor = step.next;
    ///     blocks += 1;
    /// }
    /// assert_eq!((blocks, seen), (3, 300));
    /// ```
    #[inline]
    pub fn sync_block(
        &self,
        from: SyncCursor,
        owner: Option<ServerId>,
        max: usize,
        mut f: impl FnMut(EntryRef, PeEntry<'_>),
    ) -> SyncStep {
        let owner_idx = match owner {
            None => None,
            Some(s) => match self.owner_index.get(&s.0) {
                Some(i) => Some(*i),
                None => {
                    return SyncStep {
                        count: 0,
                        next: None,
                    };
                }
            },
        };
        let start = from.0 as usize;
        let mut count = 0;
        if max == 0 {
            return SyncStep {
                count,
                next: (start < self.entries.len()).then_some(from),
            };
        }
        let len = self.entries.len();
        if owner_idx.is_none() && self.free_slots.is_empty() {
            // No holes in the slab: the block is the next `max` slots.
            let end = start.saturating_add(max).min(len);
            let entries = self.entries.get(start..end).unwrap_or(&[]);
            let generations = self.generations.get(start..end).unwrap_or(&[]);
            let colds = self.cold.get(start..end).unwrap_or(&[]);
            // Four slots a step: reading an entry takes a handful of
            // instructions, and a loop step per slot would add a third.
            let mut visit = |slot: usize, e: &Option<Hot>, generation: u32, cold: &Cold| {
                if let Some(hot) = e {
                    let r = EntryRef {
                        slot: slot as u32,
                        generation,
                    };
                    f(
                        r,
                        PeEntry {
                            hot,
                            cold,
                            arena: &self.arena,
                        },
                    );
                    count += 1;
                }
            };
            let n = entries.len().min(generations.len()).min(colds.len());
            let (entries, generations, colds) = (&entries[..n], &generations[..n], &colds[..n]);
            let mut k = 0;
            while k + 4 <= n {
                for j in k..k + 4 {
                    visit(start + j, &entries[j], generations[j], &colds[j]);
                }
                k += 4;
            }
            for j in k..n {
                visit(start + j, &entries[j], generations[j], &colds[j]);
            }
            return SyncStep {
                count,
                next: (end < len).then_some(SyncCursor(end as u32)),
            };
        }
        let entries = self.entries.get(start..).unwrap_or(&[]);
        let generations = self.generations.get(start..).unwrap_or(&[]);
        let colds = self.cold.get(start..).unwrap_or(&[]);
        let slots = entries.iter().zip(generations).zip(colds).enumerate();
        for (k, ((e, generation), cold)) in slots {
            let Some(hot) = e else { continue };
            let slot = start + k;
            if let Some(o) = owner_idx {
                if self.state.get(slot).is_none_or(|st| st.owner != o) {
                    continue;
                }
            }
            f(
                EntryRef {
                    slot: slot as u32,
                    generation: *generation,
                },
                PeEntry {
                    hot,
                    cold,
                    arena: &self.arena,
                },
            );
            count += 1;
            if count == max {
                let next = slot + 1;
                return SyncStep {
                    count,
                    next: (next < len).then_some(SyncCursor(next as u32)),
                };
            }
        }
        SyncStep { count, next: None }
    }

    /// [`Handlespace::sync_block`] writing entry references into `out`.
    pub fn sync_block_into(
        &self,
        from: SyncCursor,
        owner: Option<ServerId>,
        out: &mut [EntryRef],
    ) -> SyncStep {
        let mut i = 0;
        let max = out.len();
        self.sync_block(from, owner, max, |r, _| {
            out[i] = r;
            i += 1;
        })
    }

    // ----- unreachability and associations ---------------------------------

    /// Counts an ASAP Endpoint Unreachable report against the PE; `None`
    /// if the entry is gone.
    pub fn report_unreachable(&mut self, r: EntryRef) -> Option<Unreachable> {
        let slot = self.slot_of(r)?;
        let max = self.config.max_bad_pe_reports;
        let st = self.state.get_mut(slot as usize)?;
        st.bad_reports = st.bad_reports.saturating_add(1);
        let n = u32::from(st.bad_reports);
        Some(if n >= max {
            Unreachable::ThresholdReached(n)
        } else {
            Unreachable::Counted(n)
        })
    }

    /// The entries registered through association `a`.
    pub fn association_entries(&self, a: AssocId) -> impl Iterator<Item = EntryRef> + '_ {
        let head = self
            .assocs
            .get(a, |s| assoc_key(&self.cold, s))
            .unwrap_or(NIL);
        self.assoc_links.iter(head).map(|s| self.eref(s))
    }

    /// Removes every entry registered through association `a` (it was
    /// lost), calling `f` with each before it goes; returns how many.
    pub fn remove_association(
        &mut self,
        a: AssocId,
        mut f: impl FnMut(&PoolHandle, PeEntry<'_>),
    ) -> usize {
        let mut at = self
            .assocs
            .get(a, |s| assoc_key(&self.cold, s))
            .unwrap_or(NIL);
        let mut n = 0;
        while at != NIL {
            let next = self.assoc_links.next(at);
            if let (Some(e), Some(st)) = (self.view(at), self.state.get(at as usize)) {
                if let Some(p) = self.pool(st.pool) {
                    f(&p.handle, e);
                }
            }
            self.remove_slot(at);
            n += 1;
            at = next;
        }
        n
    }
}

/// Weighted round robin counts rounds in 32 bits; when the current round
/// reaches the end of that range (after 2^32 rounds), every PE's round is
/// made relative to the current one. O(n log n), that rarely.
fn rebase_rounds<S: OrderedSet<SelKey>>(
    ord: &mut Windowed<S>,
    state: &mut [SlotState],
    links: &mut Links,
) {
    let Some(min) = ord.set.first().map(key_value) else {
        return;
    };
    if min < u32::MAX {
        return;
    }
    let keys = {
        let state = &*state;
        ord.drain_all(links, |s| {
            state
                .get(s as usize)
                .map_or(SelKey::MAX, |st| sel_key(st.sel_value, st.key_seq, s))
        })
    };
    for k in keys {
        let slot = key_slot(k);
        if let Some(st) = state.get_mut(slot as usize) {
            st.sel_value -= min;
            ord.insert(links, sel_key(st.sel_value, st.key_seq, slot));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
