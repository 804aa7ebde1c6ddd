//! Registration, update and deregistration: every set an entry is in
//! is kept up to date on each.

use super::{
    Handlespace, Owner, Pool, Registered, Selection, assoc_key, index_key, slot_key, wrr_credit,
};
use crate::handlespace::checksum::{self, ChecksumSum};
use crate::handlespace::entry::{
    AssocId, Cold, EntryRef, Hot, Registration, SlotState, StoredPolicy,
};
use crate::handlespace::error::{HsError, Resource};
use crate::handlespace::fenwick::Fenwick;
use crate::handlespace::lists::NIL;
use crate::handlespace::ordered::{Windowed, key_value, sel_key};
use crate::handlespace::packed::Packed;
use crate::handlespace::policy::{self, Kind};
use crate::handlespace::set::{OrderedSet, SetFamily};
use crate::wire::{PeId, PolicyType, PoolHandle, ServerId};

impl<F: SetFamily> Handlespace<F> {
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

    pub(super) fn create_pool(&mut self, handle: &PoolHandle, reg: &Registration) -> u32 {
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

    pub(super) fn owner_of(&mut self, server: ServerId) -> u32 {
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
    pub(super) fn alloc_slot(&mut self, cold: Cold) -> u32 {
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

    pub(super) fn insert_entry(&mut self, p: u32, reg: Registration) -> u32 {
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

    pub(super) fn update_entry(&mut self, slot: u32, reg: Registration) {
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
    pub(super) fn link_assoc(&mut self, a: AssocId, slot: u32) {
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
    pub(super) fn unlink_assoc(&mut self, a: AssocId, slot: u32) {
        let cold = &self.cold;
        let links = &mut self.assoc_links;
        self.assocs
            .update(a, |s| assoc_key(cold, s), |head| links.unlink(head, slot));
    }

    /// The index key of a live slot.
    #[inline]
    pub(super) fn key_of(&self, slot: u32) -> u64 {
        slot_key(&self.entries, &self.state, slot)
    }

    pub(super) fn remove_slot(&mut self, slot: u32) {
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
    pub(super) fn remove_slot_unindexed(&mut self, slot: u32) {
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
}
