//! Server hunt (RFC 5352 section 3.2): finding a registrar to talk to.
//!
//! Candidates are the static registrars in their configured order, then
//! the registrars heard in ASAP Server Announces within T7-ENRPoutdate.
//! The hunt connects to one candidate at a time; a failed or timed-out
//! attempt moves on to the next. After a whole round without success it
//! pauses T6 before the next round, and reports once when T5 passes.
//! The cursor survives a successful hunt, so the next hunt (after the home
//! registrar died) starts with the registrar after it.

use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;

use crate::Time;
use crate::wire::asap::ServerAnnounce;
use crate::wire::{PORT_ASAP, ServerId, TransportParam};

use super::config::{AsapTimers, RegistrarConfig};

/// An association to a registrar, named by the state machine. The driver
/// maps it to its socket and reports events with it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RegConn(pub u64);

impl fmt::Debug for RegConn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RegConn({})", self.0)
    }
}

/// What the driver does on the registrar side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegTransmit {
    /// Open an ASAP association to a registrar (one endpoint, possibly
    /// multi-homed: all addresses are the same registrar). Report the
    /// outcome with `registrar_connected` or `registrar_closed`.
    Connect { conn: RegConn, to: Vec<SocketAddr> },
    /// Send one ASAP message (SCTP PPID 11; over TCP the message as is).
    Send { conn: RegConn, bytes: Vec<u8> },
    /// Close (or abort) the association; no further reports for it.
    Close { conn: RegConn },
}

/// A registrar the hunt may try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub to: Vec<SocketAddr>,
    pub server_id: Option<ServerId>,
}

#[derive(Clone, Debug)]
struct Announced {
    server_id: ServerId,
    to: Vec<SocketAddr>,
    heard: Time,
}

/// Static registrars plus those learned from announces.
#[derive(Clone, Debug)]
pub(crate) struct RegistrarSet {
    config: RegistrarConfig,
    announced: Vec<Announced>,
    outdate: std::time::Duration,
}

impl RegistrarSet {
    pub fn new(config: RegistrarConfig, timers: &AsapTimers) -> Self {
        RegistrarSet {
            config,
            announced: Vec::new(),
            outdate: timers.t7_enrp_outdate,
        }
    }

    /// Learns (or refreshes) a registrar from its announce. The ASAP
    /// endpoint is taken from the announce's SCTP/TCP transports; RSPLIB
    /// sends none, then it is the sender's address at the ASAP port.
    pub fn learn(&mut self, now: Time, from: SocketAddr, msg: &ServerAnnounce) -> bool {
        let mut to = Vec::new();
        for t in &msg.transports {
            if matches!(t, TransportParam::Sctp { .. } | TransportParam::Tcp { .. }) {
                for a in t.addresses() {
                    let sa = SocketAddr::new(*a, t.port());
                    if !to.contains(&sa) {
                        to.push(sa);
                    }
                }
            }
        }
        if to.is_empty() {
            to.push(SocketAddr::new(from.ip(), PORT_ASAP));
        }
        self.expire(now);
        if let Some(a) = self
            .announced
            .iter_mut()
            .find(|a| a.server_id == msg.server_id)
        {
            a.to = to;
            a.heard = now;
            return false;
        }
        if self.config.max_announced == 0 {
            return false;
        }
        if self.announced.len() >= self.config.max_announced {
            // Oldest first: the list is kept in order of first hearing.
            self.announced.remove(0);
        }
        self.announced.push(Announced {
            server_id: msg.server_id,
            to,
            heard: now,
        });
        true
    }

    fn expire(&mut self, now: Time) {
        let outdate = self.outdate;
        self.announced.retain(|a| now < a.heard + outdate);
    }

    /// The current candidates: static ones in order, then fresh announced.
    pub fn candidates(&mut self, now: Time) -> Vec<Candidate> {
        self.expire(now);
        let mut out: Vec<Candidate> = self
            .config
            .static_registrars
            .iter()
            .map(|a| Candidate {
                to: vec![*a],
                server_id: None,
            })
            .collect();
        for a in &self.announced {
            if let Some(c) = out.iter_mut().find(|c| c.to == a.to) {
                c.server_id = Some(a.server_id);
            } else {
                out.push(Candidate {
                    to: a.to.clone(),
                    server_id: Some(a.server_id),
                });
            }
        }
        out
    }

    #[cfg(test)]
    pub fn announced_count(&mut self, now: Time) -> usize {
        self.expire(now);
        self.announced.len()
    }
}

#[derive(Clone, Copy, Debug)]
struct Attempt {
    conn: RegConn,
    deadline: Time,
    server_id: Option<ServerId>,
}

/// What the hunt reports from a timeout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HuntProgress {
    Nothing,
    /// T5 passed without finding a registrar (reported once per hunt).
    GaveUp,
}

/// The server hunt state machine; also allocates connection names.
#[derive(Clone, Debug)]
pub(crate) struct Hunter {
    pub set: RegistrarSet,
    timers: AsapTimers,
    next_conn: u64,
    cursor: usize,
    active: bool,
    attempt: Option<Attempt>,
    /// Attempts that failed in the current round.
    failures: usize,
    retry_at: Option<Time>,
    give_up_at: Option<Time>,
}

impl Hunter {
    pub fn new(config: RegistrarConfig, timers: AsapTimers) -> Self {
        Hunter {
            set: RegistrarSet::new(config, &timers),
            timers,
            next_conn: 1,
            cursor: 0,
            active: false,
            attempt: None,
            failures: 0,
            retry_at: None,
            give_up_at: None,
        }
    }

    /// A fresh connection name (also for associations registrars open).
    pub fn alloc_conn(&mut self) -> RegConn {
        let c = RegConn(self.next_conn);
        self.next_conn += 1;
        c
    }

    /// Starts hunting (no-op when already hunting).
    pub fn start(&mut self, now: Time, out: &mut VecDeque<RegTransmit>) {
        if self.active {
            return;
        }
        self.active = true;
        self.failures = 0;
        self.retry_at = None;
        self.give_up_at = Some(now + self.timers.t5_server_hunt);
        self.try_next(now, out);
    }

    /// Stops hunting, closing an attempt in progress.
    pub fn stop(&mut self, out: &mut VecDeque<RegTransmit>) {
        if let Some(a) = self.attempt.take() {
            out.push_back(RegTransmit::Close { conn: a.conn });
        }
        self.active = false;
        self.retry_at = None;
        self.give_up_at = None;
    }

    fn try_next(&mut self, now: Time, out: &mut VecDeque<RegTransmit>) {
        let cands = self.set.candidates(now);
        if cands.is_empty() || self.failures >= cands.len() {
            self.failures = 0;
            self.retry_at = Some(now + self.timers.t6_server_announce);
            return;
        }
        let Some(c) = cands.get(self.cursor % cands.len()) else {
            return;
        };
        self.cursor = self.cursor.wrapping_add(1);
        let conn = self.alloc_conn();
        out.push_back(RegTransmit::Connect {
            conn,
            to: c.to.clone(),
        });
        self.attempt = Some(Attempt {
            conn,
            deadline: now + self.timers.connect_timeout,
            server_id: c.server_id,
        });
    }

    /// The driver connected `conn`: if it is the hunt's attempt, the hunt
    /// ends and the registrar's ID (if announced) is returned.
    pub fn connected(&mut self, conn: RegConn) -> Option<Option<ServerId>> {
        match self.attempt {
            Some(a) if a.conn == conn => {
                self.attempt = None;
                self.active = false;
                self.retry_at = None;
                self.give_up_at = None;
                Some(a.server_id)
            }
            _ => None,
        }
    }

    /// `conn` closed or failed to connect: if it was the attempt, try the
    /// next candidate. Returns whether it was the attempt.
    pub fn closed(&mut self, now: Time, conn: RegConn, out: &mut VecDeque<RegTransmit>) -> bool {
        match self.attempt {
            Some(a) if a.conn == conn => {
                self.attempt = None;
                self.failures += 1;
                self.try_next(now, out);
                true
            }
            _ => false,
        }
    }

    /// Abandons a timed-out attempt, starts a paused round, and reports
    /// when T5 has passed.
    pub fn timeout(&mut self, now: Time, out: &mut VecDeque<RegTransmit>) -> HuntProgress {
        if !self.active {
            return HuntProgress::Nothing;
        }
        if let Some(a) = self.attempt.filter(|a| now >= a.deadline) {
            self.attempt = None;
            out.push_back(RegTransmit::Close { conn: a.conn });
            self.failures += 1;
            self.try_next(now, out);
        }
        if self.attempt.is_none() && self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            self.try_next(now, out);
        }
        if self.give_up_at.is_some_and(|t| now >= t) {
            self.give_up_at = None;
            return HuntProgress::GaveUp;
        }
        HuntProgress::Nothing
    }

    /// A new registrar was announced: when the hunt is waiting, try now.
    pub fn announced(&mut self, now: Time, out: &mut VecDeque<RegTransmit>) {
        if self.active && self.attempt.is_none() && self.retry_at.is_some() {
            self.retry_at = None;
            self.failures = 0;
            self.try_next(now, out);
        }
    }

    pub fn deadline(&self) -> Option<Time> {
        if !self.active {
            return None;
        }
        [
            self.attempt.map(|a| a.deadline),
            self.retry_at,
            self.give_up_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::wire::TransportUse;

    fn sa(p: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], p))
    }

    #[test]
    fn announced_registrars_expire_after_t7_and_use_their_transports() {
        let timers = AsapTimers::DEFAULT;
        let mut set = RegistrarSet::new(RegistrarConfig::new(vec![sa(1)]), &timers);
        let t0 = Time::from_millis(1000);
        let plain = ServerAnnounce {
            server_id: ServerId(7),
            transports: vec![],
        };
        assert!(set.learn(t0, sa(5000), &plain));
        let with_tcp = ServerAnnounce {
            server_id: ServerId(8),
            transports: vec![TransportParam::Tcp {
                port: 4000,
                transport_use: TransportUse::DataOnly,
                address: [10, 0, 0, 8].into(),
            }],
        };
        assert!(set.learn(t0.plus_millis(3000), sa(5001), &with_tcp));
        let c = set.candidates(t0.plus_millis(4000));
        assert_eq!(c.len(), 3);
        assert_eq!(c[0].to, vec![sa(1)]);
        assert_eq!(c[1].to, vec![sa(PORT_ASAP)]);
        assert_eq!(c[1].server_id, Some(ServerId(7)));
        assert_eq!(c[2].to, vec![SocketAddr::from(([10, 0, 0, 8], 4000))]);
        // 7 was heard at 1 s and outdates at 6 s; 8 (heard at 4 s) is kept.
        let c = set.candidates(t0.plus_millis(5000));
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].server_id, Some(ServerId(8)));
        assert_eq!(set.announced_count(t0.plus_millis(8000)), 0);
    }

    #[test]
    fn announce_flood_is_bounded() {
        let mut cfg = RegistrarConfig::new(vec![]);
        cfg.max_announced = 4;
        let mut set = RegistrarSet::new(cfg, &AsapTimers::DEFAULT);
        for i in 0..100 {
            let m = ServerAnnounce {
                server_id: ServerId(i),
                transports: vec![],
            };
            set.learn(Time::ZERO, SocketAddr::from(([10, 0, 0, i as u8], 1)), &m);
        }
        let c = set.candidates(Time::ZERO);
        assert_eq!(c.len(), 4);
        assert_eq!(c[3].server_id, Some(ServerId(99)));
    }
}
