//! Timers: one per entry, on the hierarchical timing wheel.

use super::{DueTimer, Handlespace};
use crate::handlespace::entry::{EntryRef, TimerKind};
use crate::handlespace::set::SetFamily;
use crate::time::Time;

impl<F: SetFamily> Handlespace<F> {
    /// Schedules the entry's one timer (replacing any other); false if the
    /// entry is gone.
    ///
    /// ```
    /// # use rserpool_proto::handlespace::*;
    /// # use rserpool_proto::wire::*;
    /// # use rserpool_proto::Time;
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
}
