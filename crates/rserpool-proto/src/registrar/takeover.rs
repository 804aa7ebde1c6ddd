//! Takeover of a dead peer's PEs (RFC 5353 section 3.10).
//!
//! The PR that finds a peer dead sends INIT_TAKEOVER to every other live
//! peer and waits for all their INIT_TAKEOVER_ACKs; with no other peer it
//! completes at once. It then sends TAKEOVER_SERVER, becomes the home of
//! the target's PEs, opens an ASAP association to each PE (the dead PR's
//! associations are gone) and sends it an Endpoint Keep-Alive with the H
//! flag; the PE answers and re-registers here. At most
//! `Config::takeover_reach_window` of those Keep-Alives are unanswered at
//! a time (answers, timeouts and lost associations let the next go), so
//! that a takeover of a million PEs
//! neither floods the PEs' associations nor gives the last PE its answer
//! time before its Keep-Alive could even leave.
//!
//! Two PRs taking over the same target: the one with the lower server ID
//! goes on, as RSPLIB decides (the higher one acknowledges it and abandons
//! its own; the lower one ignores the higher one's INIT_TAKEOVER). A third
//! PR may acknowledge both, in either order: it accepts the TAKEOVER_SERVER
//! of any initiator it acknowledged, so it follows the winner.
//!
//! A PR that still has the target as a live peer does not acknowledge
//! (unlike RSPLIB, which does): a PR that merely lost its own association
//! to the target must not move the PEs of a reachable registrar.
//!
//! Missing acknowledgements abandon the takeover after `takeover_expiry`.
//! A PR that acknowledged does not start its own takeover of that target
//! for twice `takeover_expiry`; if the target still has PEs then, it tries
//! itself. Otherwise the target's PEs expire by their lifetime at each PR.

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use foldhash::fast::FixedState;

use super::state::{Assoc, Takeover};
use super::util;
use super::{Event, Registrar, RemovalReason, Transmit};
use crate::Time;
use crate::handlespace::{AssocId, EntryRef, Registration, TimerKind};
use crate::wire::ServerId;
use crate::wire::enrp;

/// Taken-over PEs on their way to being reached.
#[derive(Debug, Default)]
pub(super) struct Reach {
    /// Not reached yet, in takeover order.
    queue: VecDeque<EntryRef>,
    /// Reached, Keep-Alive unanswered.
    outstanding: HashSet<EntryRef, FixedState>,
    /// The association opened to each PE endpoint (PEs naming the same
    /// endpoint share one), while PEs remain to be reached.
    by_addr: BTreeMap<Vec<SocketAddr>, AssocId>,
    /// The last pass over a full window for PEs that left it without an
    /// answer.
    swept: Option<Time>,
}

/// How often a full window is searched for PEs that left it without an
/// answer (timed out, association lost, removed): a pass reads the whole
/// window (65,536 by default), which every wake-up of a busy registrar
/// would otherwise pay while the window stays full.
const REACH_SWEEP: Duration = Duration::from_millis(100);

impl Reach {
    /// When a full window with PEs still waiting is next searched.
    pub(super) fn sweep_due(&self, window: usize) -> Option<Time> {
        if self.queue.is_empty() || self.outstanding.len() < window.max(1) {
            return None;
        }
        self.swept.map(|t| t + REACH_SWEEP)
    }
}

impl Registrar {
    pub(super) fn start_takeover(&mut self, now: Time, target: ServerId) {
        if target == self.config.id
            || self.takeovers.contains_key(&target)
            || self.peers.contains_key(&target)
            || self.hs.owner_len(target) == 0
            || self
                .foreign_takeovers
                .get(&target)
                .is_some_and(|(u, _)| *u > now)
        {
            return;
        }
        let awaiting: BTreeSet<ServerId> = self
            .peers
            .keys()
            .copied()
            .filter(|p| *p != target)
            .collect();
        self.event(Event::TakeoverStarted { target });
        for p in &awaiting {
            let m = enrp::InitTakeover {
                sender: self.config.id,
                receiver: *p,
                target_server_id: target,
            };
            if let Some(conn) = self.peers.get(p).map(|x| x.conn) {
                self.send_enrp(conn, m.into());
            }
        }
        let empty = awaiting.is_empty();
        self.takeovers.insert(
            target,
            Takeover {
                deadline: now + self.config.takeover_expiry,
                awaiting,
            },
        );
        if empty {
            self.complete_takeover(now, target);
        }
    }

    pub(super) fn on_init_takeover(&mut self, now: Time, from: ServerId, target: ServerId) {
        if target == self.config.id {
            // We are alive: say so instead of agreeing.
            self.send_presence_to(from);
            return;
        }
        if self.peers.contains_key(&target) {
            // The target is alive as far as we can tell: no agreement. The
            // initiator abandons after its expiry; if the target really is
            // gone, we notice ourselves.
            return;
        }
        if self.takeovers.contains_key(&target) {
            if self.config.id < from {
                // The lower ID goes on (as RSPLIB decides); we keep ours.
                return;
            }
            self.takeovers.remove(&target);
            self.event(Event::TakeoverAbandoned { target });
        }
        // Every initiator we acknowledge may win (the lower ID does, but
        // its INIT_TAKEOVER may reach us first or last): remember them all,
        // so that the winner's TAKEOVER_SERVER is accepted whichever it is.
        let until = now + self.config.takeover_expiry * 2;
        let agreed = self
            .foreign_takeovers
            .entry(target)
            .or_insert_with(|| (until, BTreeSet::new()));
        agreed.0 = agreed.0.max(until);
        agreed.1.insert(from);
        let m = enrp::InitTakeoverAck {
            sender: self.config.id,
            receiver: from,
            target_server_id: target,
        };
        if let Some(conn) = self.peers.get(&from).map(|p| p.conn) {
            self.send_enrp(conn, m.into());
        }
    }

    pub(super) fn on_init_takeover_ack(&mut self, from: ServerId, target: ServerId) {
        let done = match self.takeovers.get_mut(&target) {
            Some(t) => {
                t.awaiting.remove(&from);
                t.awaiting.is_empty()
            }
            None => false,
        };
        if done {
            let now = self.now;
            self.complete_takeover(now, target);
        }
    }

    /// Only a takeover this PR agreed to moves PEs: a TAKEOVER_SERVER
    /// from a peer whose INIT_TAKEOVER for that target we did not
    /// acknowledge (or of a PR we still hear from) is refused, so that no
    /// peer can seize a live registrar's PEs by announcing it took them.
    pub(super) fn on_takeover_server(&mut self, from: ServerId, target: ServerId) {
        if target == self.config.id {
            return;
        }
        let agreed = self
            .foreign_takeovers
            .get(&target)
            .is_some_and(|(until, initiators)| initiators.contains(&from) && *until > self.now);
        if !agreed || self.peers.contains_key(&target) {
            let conn = self.peers.get(&from).map_or(super::ConnId(0), |p| p.conn);
            self.protocol_error(
                conn,
                format!(
                    "TAKEOVER_SERVER of {target} from {from} refused: no takeover of it was agreed"
                ),
            );
            return;
        }
        if self.takeovers.remove(&target).is_some() {
            self.event(Event::TakeoverAbandoned { target });
        }
        self.foreign_takeovers.remove(&target);
        self.suspects.remove(&target);
        let entries: Vec<EntryRef> = self.hs.owner_entries(target).collect();
        self.hs.take_over(target, from);
        self.release_peer_host(target);
        self.home_changed(&entries, target, from);
    }

    /// Tells the driver which entries moved from one home to another.
    fn home_changed(&mut self, entries: &[EntryRef], from: ServerId, to: ServerId) {
        for r in entries {
            if let (Some(pool), Some(e)) = (self.hs.pool_handle_of(*r), self.hs.entry(*r)) {
                let event = Event::PeHomeChanged {
                    pool: pool.clone(),
                    pe: e.pe_id(),
                    from,
                    to,
                };
                self.event(event);
            }
        }
    }

    /// A peer left: it no longer has to acknowledge anything.
    pub(super) fn peer_left_takeovers(&mut self, id: ServerId) {
        let mut done = Vec::new();
        for (target, t) in &mut self.takeovers {
            if t.awaiting.remove(&id) && t.awaiting.is_empty() {
                done.push(*target);
            }
        }
        let now = self.now;
        for target in done {
            self.complete_takeover(now, target);
        }
    }

    pub(super) fn run_takeover_timers(&mut self, now: Time) {
        let expired: Vec<ServerId> = self
            .takeovers
            .iter()
            .filter(|(_, t)| t.deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        for target in expired {
            self.takeovers.remove(&target);
            self.event(Event::TakeoverAbandoned { target });
        }
    }

    fn complete_takeover(&mut self, now: Time, target: ServerId) {
        if self.takeovers.remove(&target).is_none() {
            return;
        }
        let peers: Vec<(ServerId, super::ConnId)> =
            self.peers().filter(|(p, _)| *p != target).collect();
        for (p, conn) in peers {
            let m = enrp::TakeoverServer {
                sender: self.config.id,
                receiver: p,
                target_server_id: target,
            };
            self.send_enrp(conn, m.into());
        }
        let entries: Vec<EntryRef> = self.hs.owner_entries(target).collect();
        let n = self.hs.take_over(target, self.config.id);
        self.home_changed(&entries, target, self.config.id);
        self.reach.queue.extend(entries);
        self.reach_more(now);
        self.stats.takeovers += 1;
        self.suspects.remove(&target);
        self.release_peer_host(target);
        self.event(Event::TakeoverCompleted { target, pes: n });
    }

    /// A taken-over PE answered its Keep-Alive (an Ack or a registration):
    /// the next one may go.
    pub(super) fn reach_answered(&mut self, now: Time, r: EntryRef) {
        if !self.reach.outstanding.is_empty() && self.reach.outstanding.remove(&r) {
            self.reach_more(now);
        }
    }

    /// Reaches queued taken-over PEs while fewer than the window of their
    /// Keep-Alives are unanswered.
    pub(super) fn reach_more(&mut self, now: Time) {
        if self.reach.queue.is_empty() {
            if !self.reach.by_addr.is_empty() {
                self.reach.by_addr.clear();
                self.reach.outstanding.clear();
            }
            self.reach.swept = None;
            return;
        }
        let window = self.config.takeover_reach_window.max(1);
        if self.reach.outstanding.len() >= window
            && self.reach.swept.is_none_or(|t| now >= t + REACH_SWEEP)
        {
            // Forget those no longer waiting for an answer: gone (timed
            // out, association lost, deregistered).
            self.reach.swept = Some(now);
            let hs = &self.hs;
            self.reach
                .outstanding
                .retain(|r| matches!(hs.timer(*r), Some((TimerKind::KeepAliveTimeout, _))));
        }
        while self.reach.outstanding.len() < window {
            let Some(r) = self.reach.queue.pop_front() else {
                break;
            };
            if let Some(r) = self.reach_taken_over(now, r) {
                self.reach.outstanding.insert(r);
            }
        }
        // A window just filled has nobody to forget yet: its first pass is
        // one interval from now.
        if self.reach.swept.is_none() && self.reach.outstanding.len() >= window {
            self.reach.swept = Some(now);
        }
    }

    /// Opens an ASAP association to a taken-over PE (or uses the one open
    /// to its endpoint) and queues its Keep-Alive with the H flag. The
    /// entry as it is now, or `None` if the PE is no longer one to reach.
    fn reach_taken_over(&mut self, now: Time, r: EntryRef) -> Option<EntryRef> {
        let home = self.config.id;
        // Removed, re-registered or taken by another PR meanwhile.
        if !self
            .hs
            .entry(r)
            .is_some_and(|e| e.home() == home && e.association().is_none())
        {
            return None;
        }
        let pool = self.hs.pool_handle_of(r).cloned()?;
        let mut reg = self.hs.entry(r).map(|e| Registration {
            pe_id: e.pe_id(),
            home,
            lifetime_ms: e.lifetime_ms(),
            transport: e.transport(),
            policy: e.policy(),
            asap_transport: e.asap_transport(),
            association: None,
        })?;
        let to = match &reg.asap_transport {
            Some(t) if !util::socket_addrs(t).is_empty() => util::socket_addrs(t),
            _ => util::socket_addrs(&reg.transport),
        };
        if to.is_empty() {
            self.remove_entry(r, RemovalReason::PeerDown);
            return None;
        }
        // One association per PE endpoint (a PE may be in several pools),
        // a new one if that endpoint's failed meanwhile.
        let open = self.reach.by_addr.get(&to).copied();
        let assoc = match open {
            Some(a) if self.assocs.contains_key(&a) => a,
            _ => {
                let a = self.alloc_assoc();
                self.assocs.insert(a, Assoc::outgoing(to.first().copied()));
                self.transmits.push_back(Transmit::ConnectAsap {
                    assoc: a,
                    to: to.clone(),
                });
                self.reach.by_addr.insert(to, a);
                a
            }
        };
        reg.association = Some(assoc);
        let Ok(stored) = self.hs.register(&pool, reg) else {
            return None;
        };
        let r = stored.entry;
        // Until connected, the PE has the takeover expiry plus a keep-alive
        // timeout to answer.
        self.hs.schedule_timer(
            r,
            TimerKind::KeepAliveTimeout,
            now + self.config.takeover_expiry + self.config.keep_alive_timeout,
        );
        self.send_keep_alive(r, true).then_some(r)
    }
}
