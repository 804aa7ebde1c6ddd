//! Handle resolution: selection by the pool's policy.

use super::{Handlespace, Selection};
use crate::handlespace::entry::{EntryRef, SlotState};
use crate::handlespace::error::HsError;
use crate::handlespace::lists::Links;
use crate::handlespace::ordered::{HEAD, SelKey, Windowed, key_slot, key_value, sel_key};
use crate::handlespace::policy::{self};
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
    #[inline]
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
