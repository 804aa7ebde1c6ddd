//! The checkers: what must always hold, and what must hold once the
//! faults have healed and the run has settled.

use std::collections::BTreeMap;
use std::time::Duration;

use rserpool_proto::pool_element::PePhase;
use rserpool_proto::wire::ServerId;

use crate::Timers;
use crate::world::{HOST_DETECT, Machine, NState, World};

/// How long after its death a PE may still be in a registrar's
/// handlespace: its registration lifetime (an entry learnt from a peer
/// lives that long after the last update), the home's keep-alive interval
/// and timeout, a host crash's detection, a dead home registrar's
/// detection (MAX-TIME-LAST-HEARD plus MAX-TIME-NO-RESPONSE) and two
/// takeover expiries, and a second of slack.
pub fn dead_pe_bound(timers: Timers) -> Duration {
    let peer = match timers {
        Timers::Rfc => Duration::from_secs(61 + 5),
        Timers::Rsplib => Duration::from_secs(5 + 5),
    };
    Duration::from_secs(30) // lifetime
        + Duration::from_secs(5 + 5) // keep-alive interval and timeout
        + HOST_DETECT
        + Duration::from_secs(5) // detection jitter
        + peer
        + Duration::from_secs(10) // 2 x takeover expiry
        + Duration::from_secs(1)
}

impl World {
    /// Checked every few seconds of virtual time.
    pub(crate) fn check_continuous(&mut self) {
        let late: Vec<(u32, u64)> = self
            .dead
            .iter()
            .filter(|(_, t)| **t + self.dead_bound < self.now)
            .map(|(id, t)| (*id, t.as_micros()))
            .collect();
        let mut found = Vec::new();
        for n in 0..self.nodes.len() {
            if self.nodes[n].state != NState::Up {
                continue;
            }
            let Some(r) = self.pr_machine(n) else {
                continue;
            };
            let hs = r.handlespace();
            for (id, died) in &late {
                if hs
                    .find(&self.pool, rserpool_proto::wire::PeId(*id))
                    .is_some()
                {
                    found.push(format!(
                        "{}: PE {id} died at {:.3} s and is still in the handlespace {:.0} s later (bound {} s)",
                        self.nodes[n].name,
                        *died as f64 / 1e6,
                        (self.now.as_micros() - died) as f64 / 1e6,
                        self.dead_bound.as_secs()
                    ));
                }
            }
            if hs.timer_count() > hs.len() {
                found.push(format!(
                    "{}: {} timers for {} entries",
                    self.nodes[n].name,
                    hs.timer_count(),
                    hs.len()
                ));
            }
        }
        // Handles (associations a node knows) stay bounded.
        let bound = 4 * (self.nodes.len() + 4);
        for n in 0..self.nodes.len() {
            if self.nodes[n].handles.len() > bound {
                found.push(format!(
                    "{} holds {} associations (bound {bound})",
                    self.nodes[n].name,
                    self.nodes[n].handles.len()
                ));
            }
        }
        for f in found {
            self.violation(f);
        }
    }

    /// Checked at the end, after the faults healed and the run settled.
    pub(crate) fn check_final(&mut self) {
        self.check_continuous();
        let mut found = Vec::new();
        let prs: Vec<usize> = (0..self.nodes.len())
            .filter(|n| self.nodes[*n].state == NState::Up && self.pr_machine(*n).is_some())
            .collect();
        let live_ids: Vec<ServerId> = prs
            .iter()
            .filter_map(|n| self.pr_machine(*n).map(|r| r.id()))
            .collect();
        // Every registrar has the same handlespace.
        let mut views = Vec::new();
        for &n in &prs {
            let Some(r) = self.pr_machine(n) else {
                continue;
            };
            let hs = r.handlespace();
            let mut v = BTreeMap::new();
            for e in hs.pool_entries(&self.pool) {
                if let Some(x) = hs.entry(e) {
                    v.insert(x.pe_id().0, (x.home(), x.association().is_some()));
                }
            }
            views.push((n, r.id(), v, hs.checksum().0));
        }
        if let Some((n0, _, v0, c0)) = views.first() {
            for (n, _, v, c) in &views[1..] {
                let a: Vec<(u32, ServerId)> = v0.iter().map(|(k, x)| (*k, x.0)).collect();
                let b: Vec<(u32, ServerId)> = v.iter().map(|(k, x)| (*k, x.0)).collect();
                if a != b || c0 != c {
                    found.push(format!(
                        "handlespaces differ after settling: {} has {:?} (checksum {c0:#06x}), {} has {:?} (checksum {c:#06x})",
                        self.nodes[*n0].name, a, self.nodes[*n].name, b
                    ));
                }
            }
        }
        // Each entry has one live home, which holds its association.
        for (n, id, v, _) in &views {
            for (pe, (home, assoc)) in v {
                if !live_ids.contains(home) {
                    found.push(format!(
                        "{}: PE {pe} has home {home}, which is not a live registrar",
                        self.nodes[*n].name
                    ));
                }
                if home == id && !assoc {
                    found.push(format!(
                        "{}: PE {pe} is homed here without an association",
                        self.nodes[*n].name
                    ));
                }
            }
        }
        // Every live PE is registered and resolvable everywhere.
        for n in 0..self.nodes.len() {
            if self.nodes[n].state != NState::Up {
                continue;
            }
            let Some(pe) = self.pe_machine(n) else {
                continue;
            };
            let st = pe.state();
            // A periodic re-registration may be in flight at the check.
            let busy = st.phase == PePhase::Registering && st.registered;
            if st.phase != PePhase::Registered && !busy {
                found.push(format!(
                    "{} (PE {}) is {:?} after settling",
                    self.nodes[n].name, st.pe_id.0, st.phase
                ));
                continue;
            }
            for (m, _, v, _) in &views {
                if !v.contains_key(&st.pe_id.0) {
                    found.push(format!(
                        "{} (PE {}) is not resolvable at {}",
                        self.nodes[n].name, st.pe_id.0, self.nodes[*m].name
                    ));
                }
            }
        }
        // Every session makes progress.
        let quiet = Duration::from_secs(45);
        for n in 0..self.nodes.len() {
            if self.nodes[n].state != NState::Up {
                continue;
            }
            let Machine::Pu(a) = &self.nodes[n].m else {
                continue;
            };
            for s in &a.sessions {
                if s.last_reply + quiet < self.now {
                    found.push(format!(
                        "{} session {}: no reply for {:.0} s after the faults healed (state {:?}, outstanding since {:?})",
                        self.nodes[n].name,
                        s.id.0,
                        (self.now.as_micros() - s.last_reply.as_micros()) as f64 / 1e6,
                        a.sm.session_state(s.id),
                        s.out.map(|o| o.sent_at)
                    ));
                }
            }
        }
        // Every live registrar knows every other as a peer.
        for &n in &prs {
            let Some(r) = self.pr_machine(n) else {
                continue;
            };
            let peers: Vec<ServerId> = r.peers().map(|(p, _)| p).collect();
            for id in &live_ids {
                if *id != r.id() && !peers.contains(id) {
                    found.push(format!(
                        "{} does not have {id} as a peer after settling",
                        self.nodes[n].name
                    ));
                }
            }
        }
        for f in found {
            self.violation(f);
        }
    }
}
