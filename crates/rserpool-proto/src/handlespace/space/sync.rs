//! Synchronisation: block-wise traversal in slot order.

use super::{Handlespace, SyncCursor, SyncStep};
use crate::handlespace::entry::{Cold, EntryRef, Hot, PeEntry};
use crate::handlespace::set::SetFamily;
use crate::wire::ServerId;

impl<F: SetFamily> Handlespace<F> {
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
}
