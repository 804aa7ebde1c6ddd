//! Ownership (home PR), checksums, unreachability reports and
//! associations.

use super::{Handlespace, Unreachable, assoc_key};
use crate::handlespace::checksum::{self, Checksum, ChecksumSum};
use crate::handlespace::entry::{AssocId, EntryRef, PeEntry};
use crate::handlespace::lists::NIL;
use crate::handlespace::set::SetFamily;
use crate::wire::{PoolHandle, ServerId};

impl<F: SetFamily> Handlespace<F> {
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

    pub(super) fn move_owner(&mut self, slot: u32, to: ServerId) {
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
