//! The pool side of the demo: echo PEs and a pool user session, built on
//! the `rserpool` pool element and pool user runtimes. What they do is
//! narrated as it happens and recorded in [`Observed`] for the acts and
//! the summary.

use super::cluster::pr_name;
use super::narrate::Narrator;
use super::secure::Scope;
use super::timing::Timing;
use rserpool::pool_element::{self, PoolElementConfig, ServerSession, SessionMessage};
use rserpool::pool_user::{self, PoolUserConfig, Session, SessionEvent};
use rserpool::transport::TransportMode;
use rserpool_proto::asap_endpoint::AsapTimers;
use rserpool_proto::pool_element::PeEvent;
use rserpool_proto::wire::{PeId, Policy, ServerId};
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

pub const POOL: &str = "EchoPool";

/// Everything the acts wait for and the summary reports.
#[derive(Debug, Default)]
pub struct Observed {
    pub sent: u64,
    pub replies: u64,
    /// The PE that answered last.
    pub serving: Option<PeId>,
    /// (from, to, cookie replayed).
    pub failovers: Vec<(PeId, PeId, bool)>,
    /// PEs that received a COOKIE_ECHO, with the state it restored.
    pub cookie_echoes: Vec<(PeId, u64)>,
    /// (PE, new home) after its home registrar was lost.
    pub new_homes: Vec<(PeId, ServerId, HowHomed)>,
    /// Home of each PE as the PE itself last heard.
    pub homes: Vec<(PeId, ServerId)>,
    pub last_reply: Option<Instant>,
    /// Longest silence between two replies.
    pub longest_gap: Duration,
}

/// How a PE got its new home.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HowHomed {
    /// A peer registrar took it over (ENDPOINT_KEEP_ALIVE with the H flag).
    Takeover,
    /// It registered anew by itself.
    Registration,
}

#[derive(Clone, Debug, Default)]
pub struct Shared(Arc<Mutex<Observed>>);

impl Shared {
    pub fn get(&self) -> MutexGuard<'_, Observed> {
        // A panic elsewhere cannot leave these counters half-written.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn set_home(&self, pe: PeId, home: ServerId) -> Option<ServerId> {
        let mut o = self.get();
        match o.homes.iter_mut().find(|(p, _)| *p == pe) {
            Some((_, h)) => Some(std::mem::replace(h, home)),
            None => {
                o.homes.push((pe, home));
                None
            }
        }
    }
}

/// ASAP timers that notice failures within a second or two.
fn timers(t: &Timing) -> AsapTimers {
    let mut a = AsapTimers::DEFAULT;
    a.t1_enrp_request = t.keep_alive_timeout * 2;
    a.t2_registration = t.keep_alive_timeout * 2;
    a.t3_deregistration = t.keep_alive_timeout;
    a.t6_server_announce = t.keep_alive_interval / 2;
    a.connect_timeout = t.keep_alive_timeout;
    a.stale_cache_value = t.keep_alive_interval;
    a
}

enum Control {
    Kill,
    Stop(oneshot::Sender<()>),
}

/// A running echo PE.
#[derive(Debug)]
pub struct EchoPe {
    pub id: PeId,
    control: mpsc::Sender<Control>,
    task: JoinHandle<()>,
}

impl EchoPe {
    /// Starts a PE of [`POOL`] that knows only `registrars` and answers
    /// every message with an echo naming itself; returns once registered.
    pub async fn start(
        registrars: Vec<SocketAddr>,
        timing: &Timing,
        n: Narrator,
        seen: Shared,
        tls: Option<Arc<Scope>>,
    ) -> io::Result<EchoPe> {
        let mut cfg = PoolElementConfig::new(POOL, Policy::RoundRobin);
        let local = SocketAddr::from(([127, 0, 0, 1], 0));
        cfg.data_addr = local;
        cfg.control_addr = local;
        cfg.registrars = registrars;
        cfg.announces = None;
        cfg.transport = TransportMode::Tcp;
        cfg.registration_life = timing.registration_life;
        cfg.timers = timers(timing);
        cfg.seed = crate::random_u64();
        if let Some(scope) = &tls {
            let name = format!("pe-{:08x}", crate::random_u64() as u32);
            cfg.tls = Some(scope.pool_element(POOL, &name)?);
            cfg.data_tls = true;
        }
        let mut pe = pool_element::start(cfg).await?;
        let id = pe.pe_id();
        let sessions = pe.take_sessions();
        tokio::time::timeout(timing.patience, pe.wait_registered())
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "PE did not register"))?;
        let (control, rx) = mpsc::channel(4);
        let task = tokio::spawn(run_pe(pe, sessions, rx, n, seen));
        Ok(EchoPe { id, control, task })
    }

    /// As a crash: sockets close, no deregistration.
    pub async fn kill(self) {
        let _ = self.control.send(Control::Kill).await;
        let _ = self.task.await;
    }

    /// Deregisters and closes its sessions.
    pub async fn stop(self) {
        let (tx, rx) = oneshot::channel();
        if self.control.send(Control::Stop(tx)).await.is_ok() {
            let _ = rx.await;
        }
        let _ = self.task.await;
    }
}

async fn run_pe(
    mut pe: pool_element::PoolElementHandle,
    mut sessions: pool_element::SessionAcceptor,
    mut control: mpsc::Receiver<Control>,
    n: Narrator,
    seen: Shared,
) {
    let id = pe.pe_id();
    // Dropping the set ends every session's task and closes its channel.
    let mut echoes = JoinSet::new();
    loop {
        tokio::select! {
            e = pe.next_event() => match e {
                Some(e) => pe_event(id, e, n, &seen),
                None => return,
            },
            s = sessions.accept() => {
                if let Some(s) = s {
                    echoes.spawn(echo(s, id, n, seen.clone()));
                }
            }
            c = control.recv() => {
                match c {
                    Some(Control::Stop(done)) => {
                        echoes.shutdown().await;
                        match pe.stop().await {
                            Ok(()) => n.say(format!("PE {id} deregistered and stopped")),
                            Err(e) => n.say(format!("PE {id} stopped: {e}")),
                        }
                        let _ = done.send(());
                    }
                    Some(Control::Kill) | None => {
                        echoes.abort_all();
                        pe.kill();
                    }
                }
                return;
            }
        }
    }
}

fn pe_event(id: PeId, e: PeEvent, n: Narrator, seen: &Shared) {
    match e {
        PeEvent::Registered { registrar, .. } => {
            let Some(r) = registrar else {
                // The registrar's ID is not known yet (it comes with its
                // first Keep-Alive); the views show the home.
                n.say(format!("PE {id} registered"));
                return;
            };
            match seen.set_home(id, r) {
                None => n.say(format!("PE {id} registered with {}", pr_name(r))),
                Some(old) if old != r => {
                    n.say(format!(
                        "PE {id} registered with {}: new home {} (was {})",
                        pr_name(r),
                        pr_name(r),
                        pr_name(old)
                    ));
                    seen.get().new_homes.push((id, r, HowHomed::Registration));
                }
                Some(_) => {}
            }
        }
        PeEvent::HomeLost { registrar } => n.say(format!(
            "PE {id} lost its home registrar {}; hunting for another",
            registrar.map_or_else(|| "?".into(), pr_name)
        )),
        PeEvent::HomeChanged { from, to } => {
            seen.set_home(id, to);
            n.say(format!(
                "{} took over PE {id}: new home {} (was {})",
                pr_name(to),
                pr_name(to),
                from.map_or_else(|| "?".into(), pr_name)
            ));
            seen.get().new_homes.push((id, to, HowHomed::Takeover));
        }
        PeEvent::Deregistered { confirmed } => n.say(format!(
            "PE {id} deregistered{}",
            if confirmed { "" } else { " (unconfirmed)" }
        )),
        other => n.detail(format!("PE {id}: {other:?}")),
    }
}

/// One session: echoes each message, naming itself and how many messages
/// the session has sent so far; that count is the session state, handed
/// to the pool user in a COOKIE after every reply and restored from a
/// COOKIE_ECHO after a failover.
async fn echo(mut s: ServerSession, id: PeId, n: Narrator, seen: Shared) {
    let mut count: u64 = 0;
    while let Ok(Some(m)) = s.recv().await {
        match m {
            SessionMessage::Data(f) => {
                count += 1;
                let text = String::from_utf8_lossy(&f.payload);
                let reply = format!("{text} -> echo from PE {id} (message {count} of the session)");
                if s.send(f.ppid, reply.into_bytes()).await.is_err() {
                    return;
                }
                if s.send_cookie(format!("count={count}").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
            SessionMessage::CookieEcho(c) => {
                let restored = std::str::from_utf8(&c)
                    .ok()
                    .and_then(|t| t.strip_prefix("count="))
                    .and_then(|v| v.parse().ok());
                match restored {
                    Some(v) => {
                        count = v;
                        n.say(format!(
                            "PE {id} got the session's cookie echo: resumes after message {v}"
                        ));
                        seen.get().cookie_echoes.push((id, v));
                    }
                    None => n.say(format!("PE {id} got a cookie echo it cannot read")),
                }
            }
            SessionMessage::BusinessCard(_) => {}
        }
    }
}

/// The pool user's session: a message every `timing.message_every`,
/// replies printed (every fifth, and every one from a new PE).
#[derive(Debug)]
pub struct UserSession {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl UserSession {
    pub async fn start(
        registrars: Vec<SocketAddr>,
        timing: &Timing,
        n: Narrator,
        seen: Shared,
        tls: Option<Arc<Scope>>,
    ) -> io::Result<UserSession> {
        let mut cfg = PoolUserConfig::new();
        cfg.registrars = registrars;
        cfg.announces = None;
        cfg.transport = TransportMode::Tcp;
        cfg.timers = timers(timing);
        cfg.seed = crate::random_u64();
        if let Some(scope) = &tls {
            cfg.tls = Some(scope.pool_user()?);
            cfg.data_tls = true;
        }
        let pu = pool_user::start(cfg).await?;
        let session = pu.open_session(POOL).await.map_err(io::Error::from)?;
        let (stop, rx) = oneshot::channel();
        let every = timing.message_every;
        let task = tokio::spawn(async move {
            run_session(session, every, rx, n, seen).await;
            drop(pu);
        });
        Ok(UserSession { stop, task })
    }

    pub async fn close(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

async fn run_session(
    mut session: Session,
    every: Duration,
    mut stop: oneshot::Receiver<()>,
    n: Narrator,
    seen: Shared,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seq: u64 = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                seq += 1;
                if session.send(format!("hello #{seq}").into_bytes()).await.is_ok() {
                    seen.get().sent += 1;
                }
            }
            e = session.recv() => match e {
                Some(e) => session_event(e, n, &seen),
                None => break,
            },
            _ = &mut stop => {
                session.close().await;
                n.say("pool user closed its session");
                return;
            }
        }
    }
}

fn session_event(e: SessionEvent, n: Narrator, seen: &Shared) {
    match e {
        SessionEvent::Up { pe_id } => n.say(format!("PU session up with PE {pe_id}")),
        SessionEvent::Data(f) => {
            let text = String::from_utf8_lossy(&f.payload).into_owned();
            let now = Instant::now();
            let mut o = seen.get();
            o.replies += 1;
            if let Some(last) = o.last_reply {
                o.longest_gap = o.longest_gap.max(now - last);
            }
            o.last_reply = Some(now);
            let from = text
                .split("echo from PE ")
                .nth(1)
                .and_then(|r| r.split(' ').next())
                .and_then(|h| u32::from_str_radix(h.trim_start_matches("0x"), 16).ok())
                .map(PeId);
            let changed = from.is_some() && from != o.serving;
            if from.is_some() {
                o.serving = from;
            }
            let count = o.replies;
            drop(o);
            if changed || count % 5 == 1 {
                n.detail(format!("PU reply: {text}"));
            }
        }
        SessionEvent::Failover {
            from,
            to,
            cookie_replayed,
        } => {
            n.say(format!(
                "PU session failed over to PE {to} (from PE {from}){}",
                if cookie_replayed {
                    ", cookie replayed"
                } else {
                    ", no cookie to replay"
                }
            ));
            seen.get().failovers.push((from, to, cookie_replayed));
        }
        SessionEvent::Failed(why) => n.say(format!("PU session has no PE for now: {why:?}")),
    }
}
