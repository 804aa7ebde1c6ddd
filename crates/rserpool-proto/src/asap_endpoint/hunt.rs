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

use crate::Time;
use crate::wire::ServerId;

use super::registrars::RegistrarSet;
use super::{AsapTimers, RegConn, RegTransmit, RegistrarConfig};

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
