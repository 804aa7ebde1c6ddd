//! Handle resolution: selection by the pool's policy.

use super::{Handlespace, Pool, Selection};
use crate::handlespace::entry::{EntryRef, Hot, SlotState};
use crate::handlespace::error::HsError;
use crate::handlespace::fenwick::Fenwick;
use crate::handlespace::lists::Links;
use crate::handlespace::ordered::{HEAD, SelKey, Windowed, key_slot, key_value, sel_key};
use crate::handlespace::policy;
use crate::handlespace::set::{OrderedSet, SetFamily};
use crate::rng::Rng;
use crate::wire::{PolicyType, PoolHandle};

impl<F: SetFamily> Handlespace<F> {
    /// Handle resolution: selects up to `out.len()` distinct PEs of the pool
    /// by its policy into `out`, returning how many. The first choice is
    /// charged (round robin moves on, ties rotate, degradation grows).
    /// No allocation.
    ///
    /// ```
    /// # use rserpool_proto::handlespace::*;
    /// # use rserpool_proto::wire::*;
    /// # use rserpool_proto::Xoshiro256;
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

    #[inline]
    pub(super) fn resolve_pool(
        &mut self,
        p: u32,
        rng: &mut impl Rng,
        out: &mut [EntryRef],
    ) -> usize {
        let Some(pool) = self.pools.get_mut(p as usize).and_then(Option::as_mut) else {
            return 0;
        };
        let h = out.len().min(pool.members.len());
        if h == 0 {
            return 0;
        }
        let out = &mut out[..h];
        let mut slabs = Slabs {
            entries: &self.entries,
            state: &mut self.state,
            generations: &self.generations,
            links: &mut self.outside_links,
        };
        let Pool {
            sel,
            members,
            next_seq,
            policy: t,
            ..
        } = pool;
        match sel {
            Selection::Ring { cursor } => slabs.ring(cursor, next_seq, out),
            Selection::Ordered(ord) => slabs.ordered(ord, *t, next_seq, out),
            Selection::Uniform => slabs.uniform(members, rng, next_seq, out),
            Selection::Weighted(fw) => slabs.weighted(fw, members, *t, rng, next_seq, out),
        }
    }
}

/// The slab parts a selection reads and charges, borrowed apart from the
/// pool being resolved.
struct Slabs<'a> {
    entries: &'a [Option<Hot>],
    state: &'a mut [SlotState],
    generations: &'a [u32],
    /// The rings of round robin pools and the outside lists of windowed
    /// ordered selections.
    links: &'a mut Links,
}

impl Slabs<'_> {
    #[inline(always)]
    fn eref(&self, slot: u32) -> EntryRef {
        EntryRef {
            slot,
            generation: self.generations[slot as usize],
        }
    }

    /// The bookkeeping every selection does: the first choice takes the
    /// pool's next sequence number (it was used last).
    #[inline(always)]
    fn stamp(&mut self, slot: u32, next_seq: &mut u64) {
        if let Some(st) = self.state.get_mut(slot as usize) {
            st.seq = *next_seq;
            *next_seq += 1;
        }
    }

    /// Round robin: the next `out.len()` members of the ring from the
    /// cursor, which moves on by one.
    #[inline(always)]
    fn ring(&mut self, cursor: &mut u32, next_seq: &mut u64, out: &mut [EntryRef]) -> usize {
        let first = *cursor;
        let mut at = first;
        for o in out.iter_mut() {
            *o = self.eref(at);
            at = self.links.next(at);
        }
        *cursor = self.links.next(first);
        self.stamp(first, next_seq);
        out.len()
    }

    /// Ordered policies (least used, priority, weighted round robin): the
    /// first keys of the set; the first choice is charged.
    #[inline(always)]
    fn ordered<S: OrderedSet<SelKey>>(
        &mut self,
        ord: &mut Windowed<S>,
        t: PolicyType,
        next_seq: &mut u64,
        out: &mut [EntryRef],
    ) -> usize {
        let h = out.len();
        if t == PolicyType::WeightedRoundRobin {
            rebase_rounds(ord, self.state, self.links);
        }
        let state = &*self.state;
        ord.prepare(self.links, h.max(2), |s| {
            state
                .get(s as usize)
                .map_or(SelKey::MAX, |st| sel_key(st.sel_value, st.key_seq, s))
        });
        let [Some(k), next] = self.ordered_head(ord, out) else {
            return 0;
        };
        let seq = *next_seq;
        *next_seq += 1;
        if !policy::degrades(t) && t != PolicyType::WeightedRoundRobin {
            self.rotate_tie(ord, k, next, seq);
        } else {
            self.charge_ordered(ord, t, k, next, seq);
        }
        h
    }

    /// Fills `out` from the set's first keys; returns the first two keys.
    #[inline(always)]
    fn ordered_head<S: OrderedSet<SelKey>>(
        &self,
        ord: &mut Windowed<S>,
        out: &mut [EntryRef],
    ) -> [Option<SelKey>; 2] {
        let h = out.len();
        let mut head = [None::<SelKey>; 2];
        if h < HEAD {
            let keys = ord.head();
            head[0] = keys.first().copied();
            head[1] = keys.get(1).copied();
            for (o, k) in out.iter_mut().zip(keys) {
                *o = self.eref(key_slot(*k));
            }
        } else {
            for (n, k) in ord.set.iter_from(None).take(h).enumerate() {
                if n < 2 {
                    head[n] = Some(k);
                }
                out[n] = self.eref(key_slot(k));
            }
        }
        head
    }

    /// A policy whose value stays (priority, least used): only a tie moves
    /// the first choice `k` (to the end of its tie group). Without a tie
    /// its old key orders exactly like the new one (later arrivals in its
    /// tie group get still larger sequence numbers), so the set and the
    /// slot state stay untouched.
    #[inline(always)]
    fn rotate_tie<S: OrderedSet<SelKey>>(
        &mut self,
        ord: &mut Windowed<S>,
        k: SelKey,
        next: Option<SelKey>,
        seq: u64,
    ) {
        let first = key_slot(k);
        let Some(st) = self.state.get_mut(first as usize) else {
            return;
        };
        st.seq = seq;
        let v = key_value(k);
        if next.is_some_and(|k2| key_value(k2) == v) {
            ord.remove(self.links, k);
            ord.insert(self.links, sel_key(v, seq, first));
            st.key_seq = seq;
        }
    }

    /// A policy whose value changes with use (degradation, weighted round
    /// robin's rounds): the first choice `k` gets its new value and moves
    /// if that (or a tie with `next`) changes its place.
    #[inline(always)]
    fn charge_ordered<S: OrderedSet<SelKey>>(
        &mut self,
        ord: &mut Windowed<S>,
        t: PolicyType,
        k: SelKey,
        next: Option<SelKey>,
        seq: u64,
    ) {
        let first = key_slot(k);
        let (Some(Some(e)), Some(st)) = (
            self.entries.get(first as usize),
            self.state.get_mut(first as usize),
        ) else {
            return;
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
        let alone = next.is_none_or(|k2| key_value(k2) > v);
        if v != st.sel_value || !alone {
            ord.remove(self.links, k);
            st.sel_value = v;
            st.key_seq = seq;
            ord.insert(self.links, sel_key(v, seq, first));
        }
    }

    /// Random: a shuffle of all members, or distinct members drawn
    /// uniformly.
    #[inline(always)]
    fn uniform(
        &mut self,
        members: &[u32],
        rng: &mut impl Rng,
        next_seq: &mut u64,
        out: &mut [EntryRef],
    ) -> usize {
        let h = out.len();
        if h == members.len() {
            for (o, s) in out.iter_mut().zip(members) {
                *o = self.eref(*s);
            }
            for i in (1..h).rev() {
                out.swap(i, rng.below(i as u64 + 1) as usize);
            }
        } else {
            self.sample_distinct(members, rng, out);
        }
        self.stamp(out[0].slot, next_seq);
        h
    }

    /// Rejection sampling (`out` is short against `members`); a degenerate
    /// generator falls back to a scan after bounded tries.
    #[inline(always)]
    fn sample_distinct(&self, members: &[u32], rng: &mut impl Rng, out: &mut [EntryRef]) {
        let h = out.len();
        let n = members.len();
        let mut i = 0;
        let mut tries = 0;
        while i < h && tries < 64 * h {
            tries += 1;
            let s = members[rng.below(n as u64) as usize];
            if out[..i].iter().all(|o| o.slot != s) {
                out[i] = self.eref(s);
                i += 1;
            }
        }
        for &s in members {
            if i == h {
                break;
            }
            if out[..i].iter().all(|o| o.slot != s) {
                out[i] = self.eref(s);
                i += 1;
            }
        }
    }

    /// Weighted random (and randomized least used): distinct members drawn
    /// by weight from the Fenwick tree (a drawn member weighs zero until
    /// the draw ends); the first choice is charged.
    #[inline(always)]
    fn weighted(
        &mut self,
        fw: &mut Fenwick,
        members: &[u32],
        t: PolicyType,
        rng: &mut impl Rng,
        next_seq: &mut u64,
        out: &mut [EntryRef],
    ) -> usize {
        let mut n = 0;
        while n < out.len() {
            let total = fw.total();
            if total == 0 {
                break;
            }
            let pos = fw.find(rng.below(total));
            out[n] = self.eref(members[pos]);
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
        let first = out[0].slot;
        if let (Some(Some(e)), Some(st)) = (
            self.entries.get(first as usize),
            self.state.get_mut(first as usize),
        ) {
            st.seq = *next_seq;
            *next_seq += 1;
            if policy::degrades(t) {
                st.charge = st
                    .charge
                    .saturating_add(policy::degradation_step(&e.policy));
                fw.set(st.member_pos as usize, policy::weight(&e.policy, st.charge));
            }
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
