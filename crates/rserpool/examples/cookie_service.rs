//! A service that keeps its session state in cookies: a running sum.
//!
//! The pool user sends numbers; the PE answers with the sum so far. The
//! PE keeps no state of its own that matters: after every number it hands
//! the session state to the pool user in an ASAP COOKIE (sealed with the
//! pool's secret, so that a pool user can neither forge nor alter it).
//! When the PE dies, the pool user's session moves to another PE of the
//! pool and replays the last cookie first (COOKIE_ECHO); the new PE
//! resumes from it, and the sum goes on as if nothing happened.
//!
//! `cargo run --example cookie_service -- 127.0.0.1:3863` (a registrar's
//! ASAP address) starts two PEs and a pool user in this process, adds
//! 1..=10, and kills the serving PE halfway.

use rserpool::cookie::CookieKey;
use rserpool::pool_element::{
    self, CookieSealing, PoolElementConfig, ServerSession, SessionAcceptor, SessionMessage,
};
use rserpool::pool_user::{self, PoolUserConfig, Session, SessionEvent};
use rserpool::proto::wire::{PeId, Policy};
use std::error::Error;
use std::net::SocketAddr;
use std::time::Duration;

/// The pool's secret: every PE of the pool has it, pool users do not.
const SECRET: &[u8] = b"an example secret, at least 16 bytes";
/// How long one number may wait for its answer, failovers included.
const ANSWER_WAIT: Duration = Duration::from_secs(10);

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let registrar: SocketAddr = std::env::args()
        .nth(1)
        .ok_or("usage: cookie_service REGISTRAR:PORT")?
        .parse()?;
    let mut pes = Vec::new();
    for _ in 0..2 {
        let mut pe = pool_element::start(pe_config(registrar, "sum")).await?;
        pe.wait_registered().await;
        tokio::spawn(serve(pe.take_sessions()));
        pes.push(pe);
    }
    let mut cfg = PoolUserConfig::new();
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    let pu = pool_user::start(cfg).await?;
    let mut sum = Sum::open(pu.open_session("sum").await?);
    for n in 1..=10 {
        let total = sum.add(n).await?;
        let pe = sum.pe().map_or_else(|| "?".to_string(), |p| p.to_string());
        println!("+{n} = {total} (PE {pe})");
        if n == 5 {
            // A crash of the serving PE: no goodbye, no deregistration.
            if let Some(i) = pes.iter().position(|p| Some(p.pe_id()) == sum.pe()) {
                println!("killing PE {}", pes[i].pe_id());
                pes.remove(i).kill();
            }
        }
    }
    Ok(())
}

/// A PE of `pool` whose cookies are sealed with the pool's secret.
pub fn pe_config(registrar: SocketAddr, pool: &str) -> PoolElementConfig {
    let mut cfg = PoolElementConfig::new(pool, Policy::RoundRobin);
    cfg.registrars = vec![registrar];
    cfg.announces = None;
    cfg.cookies = CookieKey::new(SECRET).map(|key| CookieSealing {
        key,
        max_age: Duration::from_secs(3600),
    });
    cfg
}

/// The whole state of a session: the last request seen and the sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    pub seq: u64,
    pub total: u64,
}

impl State {
    fn encode(self) -> Vec<u8> {
        [self.seq.to_be_bytes(), self.total.to_be_bytes()].concat()
    }

    fn decode(bytes: &[u8]) -> Option<State> {
        let (seq, total) = bytes.split_at_checked(8)?;
        Some(State {
            seq: u64::from_be_bytes(seq.try_into().ok()?),
            total: u64::from_be_bytes(total.try_into().ok()?),
        })
    }
}

/// Serves every session pool users open, each in a task of its own.
pub async fn serve(mut sessions: SessionAcceptor) {
    while let Some(session) = sessions.accept().await {
        tokio::spawn(sum_session(session));
    }
}

/// One session: requests are (sequence number, number to add); answers
/// are the [`State`] after it.
async fn sum_session(mut session: ServerSession) {
    let mut state = State::default();
    while let Ok(Some(message)) = session.recv().await {
        match message {
            // Failed over to this PE: resume. (A cookie whose seal is
            // wrong or too old never gets here: the runtime refuses it.)
            SessionMessage::CookieEcho(cookie) => {
                if let Some(s) = State::decode(&cookie) {
                    state = s;
                }
            }
            SessionMessage::Data(frame) => {
                let Some(request) = State::decode(&frame.payload) else {
                    continue;
                };
                // A request sent again after a failover counts once.
                if request.seq > state.seq {
                    state.seq = request.seq;
                    state.total += request.total;
                }
                // The cookie first: a pool user that saw an answer then
                // always holds a cookie at least as new.
                let sent = session.send_cookie(&state.encode()).await;
                if sent.is_err() || session.send(0, state.encode()).await.is_err() {
                    return;
                }
            }
            SessionMessage::BusinessCard(_) => {}
        }
    }
}

/// The pool user's side: a session that adds numbers.
#[derive(Debug)]
pub struct Sum {
    session: Session,
    pe: Option<PeId>,
    seq: u64,
}

impl Sum {
    /// Wraps a session opened to a "sum" pool.
    pub fn open(session: Session) -> Sum {
        Sum {
            session,
            pe: None,
            seq: 0,
        }
    }

    /// The PE the session talks to, once it has one.
    pub fn pe(&self) -> Option<PeId> {
        self.pe
    }

    /// Adds `n`; the sum so far.
    pub async fn add(&mut self, n: u64) -> Result<u64, Box<dyn Error>> {
        self.seq += 1;
        let request = State {
            seq: self.seq,
            total: n,
        }
        .encode();
        self.session.send(request.clone()).await?;
        tokio::time::timeout(ANSWER_WAIT, async {
            loop {
                match self.session.recv().await.ok_or("the pool user stopped")? {
                    SessionEvent::Up { pe_id } => self.pe = Some(pe_id),
                    SessionEvent::Failover { to, .. } => {
                        // The cookie went out first; the request may have
                        // died with the old PE, so it goes again.
                        self.pe = Some(to);
                        self.session.send(request.clone()).await?;
                    }
                    SessionEvent::Failed(_) => {
                        tokio::time::sleep(Duration::from_millis(500)).await;
                        self.session.failover().await?;
                    }
                    SessionEvent::Data(frame) => match State::decode(&frame.payload) {
                        Some(s) if s.seq == self.seq => return Ok(s.total),
                        _ => {} // the answer to a request sent twice
                    },
                }
            }
        })
        .await
        .map_err(|_| "no answer in time")?
    }
}
