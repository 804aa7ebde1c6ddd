//! The timer schedule: a hierarchical timing wheel (11 levels of 64 slots,
//! 1 µs ticks, so every `u64` deadline fits) with intrusive bucket lists.
//! Scheduling and cancelling are O(1); taking due timers cascades buckets
//! down as time passes.
//!
//! Invariant (as in Linux's and tokio's wheels): an entry sits at the
//! level of the highest 6-bit group in which its deadline differs from
//! `elapsed`, so every entry of a lower level expires before every entry
//! of a higher one and, within a level, slots expire in index order.

use super::lists::{Links, NIL};

const LEVELS: usize = 11;
const SLOTS: usize = 64;

/// A slot's timer, kept beside its bucket links: rescheduling touches one
/// line of the slot and one of each list neighbour. Only the deadline is
/// kept: by the invariant above, the bucket a scheduled timer is in is
/// where [`Wheel::place`] puts its deadline now. The deadline is kept as
/// two halves so that the node (links included) takes 16 bytes, not the
/// 24 a `u64` field's alignment and a bucket number would make of it.
#[derive(Clone, Copy, Debug, Default)]
struct Timer {
    deadline: [u32; 2],
}

impl Timer {
    #[inline]
    fn deadline(&self) -> u64 {
        (u64::from(self.deadline[1]) << 32) | u64::from(self.deadline[0])
    }

    #[inline]
    fn set_deadline(&mut self, deadline: u64) {
        self.deadline = [deadline as u32, (deadline >> 32) as u32];
    }
}

#[derive(Clone, Debug)]
pub struct Wheel {
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    elapsed: u64,
    links: Links<Timer>,
    len: usize,
}

impl Default for Wheel {
    fn default() -> Self {
        Wheel {
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            elapsed: 0,
            links: Links::default(),
            len: 0,
        }
    }
}

impl Wheel {
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn place(&self, deadline: u64) -> (usize, usize) {
        let eff = deadline.max(self.elapsed);
        let diff = (eff ^ self.elapsed) | (SLOTS as u64 - 1);
        let level = (63 - diff.leading_zeros() as usize) / 6;
        let slot = ((eff >> (6 * level)) & (SLOTS as u64 - 1)) as usize;
        (level, slot)
    }

    /// Links `slot` into the bucket of its deadline.
    #[inline]
    fn link(&mut self, slot: u32) {
        let (level, s) = self.place(self.deadline(slot));
        self.link_at(slot, level, s);
    }

    /// Links `slot` into bucket (`level`, `s`), where its deadline belongs.
    #[inline]
    fn link_at(&mut self, slot: u32, level: usize, s: usize) {
        let deadline = self.deadline(slot);
        // A level-0 bucket is one tick, so its timers share one deadline,
        // except in the bucket of `elapsed`, where past deadlines are put:
        // that one is kept sorted, so the earliest pops first. Elsewhere
        // the walk stops at the head.
        let mut after = NIL;
        if level == 0 {
            let mut at = self.heads[level][s];
            while at != NIL
                && self
                    .links
                    .extra(at)
                    .is_some_and(|t| t.deadline() < deadline)
            {
                after = at;
                at = self.links.next(at);
            }
        }
        if after == NIL {
            self.links.push_front(&mut self.heads[level][s], slot);
        } else {
            self.links.insert_after(after, slot);
        }
        self.occupied[level] |= 1 << s;
    }

    /// Schedules (or reschedules) `slot` at `deadline`.
    #[inline]
    pub fn schedule(&mut self, slot: u32, deadline: u64) {
        self.links.ensure(slot);
        // A PE rescheduled a little later than before (a re-registration,
        // a keep-alive answered early) usually stays in its bucket: then
        // only the deadline changes, and no list neighbour is touched.
        let (level, s) = self.place(deadline);
        // In level 0 only an unchanged deadline keeps its place: the
        // bucket of `elapsed` is sorted.
        if self.bucket_of(slot) == Some((level, s))
            && (level > 0 || self.deadline(slot) == deadline)
        {
            self.links.extra_mut(slot).set_deadline(deadline);
            return;
        }
        self.cancel(slot);
        self.len += 1;
        self.links.extra_mut(slot).set_deadline(deadline);
        // `cancel` leaves `elapsed` alone: the placement above still holds.
        self.link_at(slot, level, s);
    }

    /// Unschedules `slot`; false if it had no timer.
    #[inline]
    pub fn cancel(&mut self, slot: u32) -> bool {
        let Some((level, s)) = self.bucket_of(slot) else {
            return false;
        };
        self.links.unlink(&mut self.heads[level][s], slot);
        if self.heads[level][s] == NIL {
            self.occupied[level] &= !(1 << s);
        }
        self.len -= 1;
        true
    }

    /// The bucket `slot`'s timer is in, if it is scheduled: where its
    /// deadline belongs now (the invariant), and it is linked there, as a
    /// list's head or behind another timer (an unscheduled slot's links
    /// are both `NIL`).
    #[inline]
    fn bucket_of(&self, slot: u32) -> Option<(usize, usize)> {
        let deadline = self.links.extra(slot)?.deadline();
        let (level, s) = self.place(deadline);
        let linked = self.links.prev(slot) != NIL || self.heads[level][s] == slot;
        linked.then_some((level, s))
    }

    /// The deadline of `slot`'s timer, if it has one.
    pub fn scheduled(&self, slot: u32) -> Option<u64> {
        self.bucket_of(slot)?;
        Some(self.deadline(slot))
    }

    fn deadline(&self, slot: u32) -> u64 {
        self.links.extra(slot).map_or(0, Timer::deadline)
    }

    /// Lowest occupied (level, slot) and the first tick it covers.
    fn first_bucket(&self) -> Option<(usize, usize, u64)> {
        let level = self.occupied.iter().position(|m| *m != 0)?;
        let s = self.occupied[level].trailing_zeros() as usize;
        let shift = 6 * level;
        let above = if shift + 6 >= 64 {
            0
        } else {
            self.elapsed >> (shift + 6) << (shift + 6)
        };
        Some((level, s, above | ((s as u64) << shift)))
    }

    /// The earliest deadline; O(size of the first occupied bucket).
    pub fn next_deadline(&self) -> Option<u64> {
        let (level, s, _) = self.first_bucket()?;
        self.links
            .iter(self.heads[level][s])
            .map(|x| self.deadline(x))
            .min()
    }

    /// A time no later than the earliest deadline, in O(1): exact when
    /// that deadline sits on the lowest level (1 µs slots), else the start
    /// of its bucket, where taking due timers cascades it down.
    pub fn next_wakeup(&self) -> Option<u64> {
        let (_, _, start) = self.first_bucket()?;
        Some(start.max(self.elapsed))
    }

    /// Removes one due slot (deadline `<= now`), cascading as needed.
    /// Never moves `elapsed` past `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<(u32, u64)> {
        loop {
            let Some((level, s, start)) = self.first_bucket() else {
                self.elapsed = self.elapsed.max(now);
                return None;
            };
            if start > now {
                self.elapsed = self.elapsed.max(now);
                return None;
            }
            let head = self.heads[level][s];
            if level == 0 {
                self.elapsed = self.elapsed.max(start);
                let d = self.deadline(head);
                self.cancel(head);
                return Some((head, d));
            }
            // Cascade: everything in this bucket moves to lower levels.
            self.elapsed = self.elapsed.max(start);
            self.heads[level][s] = NIL;
            self.occupied[level] &= !(1 << s);
            let mut at = head;
            while at != NIL {
                let next = self.links.next(at);
                self.link(at);
                at = next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_node_is_small() {
        assert_eq!(std::mem::size_of::<Timer>(), 8);
    }

    #[test]
    fn pops_in_deadline_order_across_levels() {
        let mut w = Wheel::default();
        let deadlines = [
            5u64,
            70,
            64,
            4096,
            1 << 40,
            3,
            70,
            262_143,
            262_144,
            u64::MAX,
        ];
        for (i, d) in deadlines.iter().enumerate() {
            w.schedule(i as u32, *d);
        }
        w.schedule(2, 65); // reschedule
        assert_eq!(w.len(), deadlines.len());
        assert_eq!(w.next_deadline(), Some(3));
        let mut got = Vec::new();
        while let Some((_, d)) = w.pop_due(u64::MAX) {
            got.push(d);
        }
        let mut want = deadlines.to_vec();
        want[2] = 65;
        want.sort();
        assert_eq!(got, want);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn rescheduling_within_a_bucket_keeps_order_and_count() {
        let mut w = Wheel::default();
        // Level 3 buckets span 2^18 ticks: these stay in one bucket.
        w.schedule(0, 15_000_000);
        w.schedule(1, 15_000_100);
        w.schedule(0, 15_000_200);
        w.schedule(0, 15_000_050);
        assert_eq!(w.len(), 2);
        assert_eq!(w.next_deadline(), Some(15_000_050));
        // Into another bucket and back.
        w.schedule(1, 30_000_000);
        w.schedule(1, 15_000_010);
        assert_eq!(w.pop_due(u64::MAX), Some((1, 15_000_010)));
        assert_eq!(w.pop_due(u64::MAX), Some((0, 15_000_050)));
        assert_eq!(w.pop_due(u64::MAX), None);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn past_deadlines_pop_earliest_first() {
        let mut w = Wheel::default();
        assert_eq!(w.pop_due(832), None);
        // All in the bucket of `elapsed` (832), in no order.
        for (slot, d) in [(0, 832), (1, 0), (2, 500), (3, 832), (4, 100)] {
            w.schedule(slot, d);
        }
        // Moved within that bucket.
        w.schedule(3, 50);
        let mut got = Vec::new();
        while let Some((_, d)) = w.pop_due(832) {
            got.push(d);
        }
        assert_eq!(got, [0, 50, 100, 500, 832]);
    }

    #[test]
    fn respects_now_and_past_deadlines() {
        let mut w = Wheel::default();
        w.schedule(0, 1000);
        w.schedule(1, 2000);
        assert_eq!(w.pop_due(999), None);
        assert_eq!(w.pop_due(1500), Some((0, 1000)));
        assert_eq!(w.pop_due(1500), None);
        w.schedule(2, 10); // already in the past
        assert_eq!(w.next_deadline(), Some(10));
        assert_eq!(w.pop_due(1500), Some((2, 10)));
        assert!(w.cancel(1));
        assert!(!w.cancel(1));
        assert_eq!(w.pop_due(u64::MAX), None);
    }
}
