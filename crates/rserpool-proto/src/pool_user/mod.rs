//! The pool user's side of ASAP (RFC 5352 sections 2-4) and the session
//! layer, as an I/O-free state machine.
//!
//! A [`PoolUser`] resolves pool handles through a registrar (found by
//! server hunt, like a pool element's), caches answers for
//! stale.cache.value, and reports PEs that fail (ENDPOINT_UNREACHABLE).
//! Its sessions carry application messages to a PE of a pool; when that PE
//! fails (its association is lost, or the application calls
//! [`PoolUser::failover`]) a session reports it, picks another PE (from the
//! last BUSINESS_CARD if the PE sent one, else from the cache or a new
//! resolution), replays the last COOKIE in a COOKIE_ECHO before anything
//! else, and sends the messages queued meanwhile. See [`data_channel`](crate::data_channel) for how
//! control and data share a PE association.
//!
//! The driver runs the [`PuTransmit`]s, reports association events and
//! received bytes or frames with the current [`Time`], calls
//! [`PoolUser::handle_timeout`] at [`PoolUser::poll_timeout`] and reads
//! [`PuEvent`]s.
//!
//! ```
//! use rserpool_proto::Time;
//! use rserpool_proto::asap_endpoint::RegTransmit;
//! use rserpool_proto::pool_user::{PoolUser, PuConfig, PuTransmit, SessionState};
//! use rserpool_proto::wire::PoolHandle;
//!
//! let registrar = "127.0.0.1:3863".parse().unwrap();
//! let mut pu = PoolUser::new(PuConfig::new(vec![registrar]), Time::ZERO, 7);
//! let session = pu.open_session(Time::ZERO, PoolHandle::from("echo"));
//! assert_eq!(pu.session_state(session), Some(SessionState::Resolving));
//! // Nothing cached: the pool user first looks for a registrar to ask.
//! match pu.poll_transmit() {
//!     Some(PuTransmit::Registrar(RegTransmit::Connect { to, .. })) => assert_eq!(to, vec![registrar]),
//!     other => panic!("expected a registrar connect, got {other:?}"),
//! }
//! // Messages wait for a PE.
//! pu.send(Time::ZERO, session, 0, b"hello".to_vec()).unwrap();
//! ```

mod cache;
mod session;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;

pub use session::{PeConn, SessionId, SessionState};

use crate::asap_endpoint::{
    AsapTimers, HuntProgress, Hunter, RegConn, RegTransmit, RegistrarConfig, decode_asap,
};
use crate::data_channel::{Frame, PPID_ASAP};
use crate::wire::asap::{self, AsapMessage};
use crate::wire::{
    DecodeError, DecodeOptions, OperationError, PeId, PolicyType, PoolElement, PoolHandle,
    TransportParam,
};
use crate::{Rng, Time, Xoshiro256};

use cache::Cache;
use session::Session;

/// A pool user's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PuConfig {
    /// Where to find registrars.
    pub registrars: RegistrarConfig,
    /// ASAP timers and thresholds.
    pub timers: AsapTimers,
    /// How many PEs a resolution asks for (RSPLIB's Handle Resolution
    /// option); `None` leaves it to the registrar.
    pub resolution_items: Option<u32>,
    /// Most pools kept in the resolution cache.
    pub max_cached_pools: usize,
    /// Most payload bytes a session queues while it has no PE.
    pub max_queued_bytes: usize,
    /// Most messages a session queues while it has no PE.
    pub max_queued_messages: usize,
}

impl PuConfig {
    /// A configuration with the RFC defaults and these static registrars.
    pub fn new(registrars: Vec<SocketAddr>) -> Self {
        PuConfig {
            registrars: RegistrarConfig::new(registrars),
            timers: AsapTimers::DEFAULT,
            resolution_items: None,
            max_cached_pools: 1024,
            max_queued_bytes: 1 << 20,
            max_queued_messages: 1024,
        }
    }
}

/// What the driver does for a pool user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PuTransmit {
    /// On the registrar association (see [`RegTransmit`]).
    Registrar(RegTransmit),
    /// Open a data association to a PE at `transport`; report the outcome
    /// with `pe_connected` or `pe_closed`.
    ConnectPe {
        /// The data association.
        conn: PeConn,
        /// The session.
        session: SessionId,
        /// The PE chosen.
        pe_id: PeId,
        /// The PE's user transport.
        transport: TransportParam,
    },
    /// Send one frame (SCTP: one message with the frame's PPID; TCP: see
    /// [`data_channel`](crate::data_channel)).
    SendPe {
        /// The data association.
        conn: PeConn,
        /// The frame.
        frame: Frame,
    },
    /// Close the data association; no further reports for it.
    ClosePe {
        /// The data association.
        conn: PeConn,
    },
}

/// Why a resolution failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResolutionFailure {
    /// The registrar answered with an error (e.g. Unknown Pool Handle).
    Error(OperationError),
    /// No registrar could be reached within T5-serverHunt.
    NoRegistrar,
    /// Registrars were reached but none answered within T5-serverHunt.
    NoAnswer,
}

/// Why a session has no PE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionFailure {
    /// The pool has no PE left that has not failed.
    NoPoolElement,
    /// The pool could not be resolved.
    Resolution(ResolutionFailure),
}

/// Where a bad message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A registrar association.
    Registrar(RegConn),
    /// A session's PE association.
    Session(SessionId),
}

/// What happened, for the application.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PuEvent {
    /// A resolution (asked for with `resolve`) has an answer.
    Resolved {
        /// The pool.
        pool_handle: PoolHandle,
        /// Its PEs, in the order the registrar chose.
        pool_elements: Vec<PoolElement>,
        /// Served from the cache, without asking a registrar.
        cached: bool,
    },
    /// A resolution failed.
    ResolutionFailed {
        /// The pool.
        pool_handle: PoolHandle,
        /// Why.
        cause: ResolutionFailure,
    },
    /// The session's first PE is connected.
    SessionUp {
        /// The session.
        session: SessionId,
        /// The PE.
        pe_id: PeId,
    },
    /// The session moved to another PE.
    Failover {
        /// The session.
        session: SessionId,
        /// The PE that failed.
        from: PeId,
        /// The PE now used.
        to: PeId,
        /// A COOKIE_ECHO with the last cookie went out before anything else.
        cookie_replayed: bool,
    },
    /// A message from the session's PE.
    Data {
        /// The session.
        session: SessionId,
        /// The message.
        frame: Frame,
    },
    /// The session has no PE for now (see [`SessionState::Idle`]).
    SessionFailed {
        /// The session.
        session: SessionId,
        /// Why.
        cause: SessionFailure,
    },
    /// A registrar or PE sent bytes that do not decode.
    BadMessage {
        /// Who sent them.
        from: Peer,
        /// What is wrong with them.
        error: DecodeError,
    },
    /// A registrar sent an ASAP ERROR.
    PeerError {
        /// The registrar association.
        conn: RegConn,
        /// Its causes.
        error: OperationError,
    },
}

/// Why [`PoolUser::send`] refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// No session with this ID (closed, or never opened).
    NoSuchSession,
    /// PPID 11 is ASAP's on the data channel.
    ReservedPpid,
    /// The session has no PE and its queue is full.
    QueueFull,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::NoSuchSession => "no such session",
            SendError::ReservedPpid => "PPID 11 is reserved for ASAP control messages",
            SendError::QueueFull => "the session has no PE and its send queue is full",
        })
    }
}

impl std::error::Error for SendError {}

/// Most ENDPOINT_UNREACHABLE reports kept while no registrar is reachable.
const MAX_PENDING_REPORTS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Link {
    Idle,
    Hunting,
    Up(RegConn),
}

#[derive(Clone, Debug)]
struct Request {
    pool_handle: PoolHandle,
    /// The application asked (not only a session).
    notify: bool,
    sent: u32,
    /// T1 deadline once sent on the current association.
    deadline: Option<Time>,
    give_up: Time,
}

/// The pool user state machine (see the module docs).
#[derive(Debug)]
pub struct PoolUser {
    config: PuConfig,
    rng: Xoshiro256,
    hunter: Hunter,
    link: Link,
    requests: Vec<Request>,
    reports: VecDeque<asap::EndpointUnreachable>,
    cache: Cache,
    sessions: BTreeMap<SessionId, Session>,
    conns: HashMap<PeConn, SessionId>,
    next_session: u32,
    next_conn: u64,
    transmits: VecDeque<PuTransmit>,
    reg_out: VecDeque<RegTransmit>,
    events: VecDeque<PuEvent>,
}

impl PoolUser {
    /// A pool user; it contacts a registrar only when it needs one.
    pub fn new(config: PuConfig, _now: Time, seed: u64) -> Self {
        PoolUser {
            rng: Xoshiro256::seed_from_u64(seed),
            hunter: Hunter::new(config.registrars.clone(), config.timers),
            cache: Cache::new(config.timers.stale_cache_value, config.max_cached_pools),
            config,
            link: Link::Idle,
            requests: Vec::new(),
            reports: VecDeque::new(),
            sessions: BTreeMap::new(),
            conns: HashMap::new(),
            next_session: 1,
            next_conn: 1,
            transmits: VecDeque::new(),
            reg_out: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    // ----- handle resolution -----

    /// Resolves `pool_handle`: from the cache when fresh (the event is
    /// queued at once), else by asking a registrar.
    pub fn resolve(&mut self, now: Time, pool_handle: &PoolHandle) {
        if let Some((pes, _)) = self.cache.fresh(now, pool_handle) {
            self.events.push_back(PuEvent::Resolved {
                pool_handle: pool_handle.clone(),
                pool_elements: pes.to_vec(),
                cached: true,
            });
            return;
        }
        self.request(now, pool_handle, true);
    }

    /// The cached PEs of a pool, if the answer is still fresh.
    pub fn cached(&self, now: Time, pool_handle: &PoolHandle) -> Option<&[PoolElement]> {
        self.cache.fresh(now, pool_handle).map(|(p, _)| p)
    }

    /// Tells a registrar that a PE did not answer and forgets it.
    pub fn report_unreachable(&mut self, now: Time, pool_handle: &PoolHandle, pe_id: PeId) {
        self.cache.remove_pe(pool_handle, pe_id);
        if self.reports.len() >= MAX_PENDING_REPORTS {
            // Reports are advice to the registrar; without one, the oldest go.
            self.reports.pop_front();
        }
        self.reports.push_back(asap::EndpointUnreachable {
            pool_handle: pool_handle.clone(),
            pe_id,
        });
        self.ensure_link(now);
        self.flush(now);
    }

    // ----- registrar association -----

    /// The driver connected registrar association `conn`.
    pub fn registrar_connected(&mut self, now: Time, conn: RegConn) {
        if self.hunter.connected(conn).is_some() {
            self.link = Link::Up(conn);
            self.flush(now);
        }
    }

    /// Registrar association `conn` closed or failed to connect.
    pub fn registrar_closed(&mut self, now: Time, conn: RegConn) {
        if self.hunter.closed(now, conn, &mut self.reg_out) {
            return;
        }
        if self.link == Link::Up(conn) {
            self.rehunt(now);
        }
    }

    /// One ASAP message arrived on registrar association `conn`.
    pub fn registrar_received(&mut self, now: Time, conn: RegConn, bytes: &[u8]) {
        if self.link != Link::Up(conn) {
            return;
        }
        let incoming = decode_asap(bytes);
        if let Some(bytes) = incoming.reply {
            self.reg_out.push_back(RegTransmit::Send { conn, bytes });
        }
        match incoming.message {
            Ok(AsapMessage::HandleResolutionResponse(r)) => self.on_resolution(now, r),
            Ok(AsapMessage::Error(e)) => self.events.push_back(PuEvent::PeerError {
                conn,
                error: e.error,
            }),
            Ok(_) => {}
            Err(error) => self.events.push_back(PuEvent::BadMessage {
                from: Peer::Registrar(conn),
                error,
            }),
        }
    }

    /// An ASAP Server Announce datagram from `from`.
    pub fn announce_received(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        if let Ok(AsapMessage::ServerAnnounce(a)) = decode_asap(bytes).message {
            if self.hunter.set.learn(now, from, &a) {
                self.hunter.announced(now, &mut self.reg_out);
            }
        }
    }

    // ----- sessions -----

    /// Opens a session to a PE of `pool_handle`.
    pub fn open_session(&mut self, now: Time, pool_handle: PoolHandle) -> SessionId {
        let id = SessionId(self.next_session);
        self.next_session = self.next_session.wrapping_add(1);
        self.sessions.insert(id, Session::new(pool_handle));
        self.connect_next(now, id);
        id
    }

    /// Where a session stands; `None` for an unknown session.
    pub fn session_state(&self, session: SessionId) -> Option<SessionState> {
        self.sessions.get(&session).map(|s| s.state)
    }

    /// The last cookie the session's PE sent.
    pub fn session_cookie(&self, session: SessionId) -> Option<&[u8]> {
        self.sessions.get(&session)?.cookie.as_deref()
    }

    /// Sends an application message; queued (bounded) while the session
    /// has no PE, and sent in order once it has.
    pub fn send(
        &mut self,
        _now: Time,
        session: SessionId,
        ppid: u32,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), SendError> {
        if ppid == PPID_ASAP {
            return Err(SendError::ReservedPpid);
        }
        let s = self
            .sessions
            .get_mut(&session)
            .ok_or(SendError::NoSuchSession)?;
        let frame = Frame::new(ppid, payload);
        if let SessionState::Up { conn, .. } = s.state {
            if s.queue.is_empty() {
                self.transmits.push_back(PuTransmit::SendPe { conn, frame });
                return Ok(());
            }
        }
        if s.queue.len() >= self.config.max_queued_messages
            || s.queued_bytes.saturating_add(frame.payload.len()) > self.config.max_queued_bytes
        {
            return Err(SendError::QueueFull);
        }
        s.queued_bytes += frame.payload.len();
        s.queue.push_back(frame);
        Ok(())
    }

    /// Gives up the session's PE (reported as unreachable) and moves to
    /// another; from [`SessionState::Idle`], tries again to find one (if
    /// the registrar then lists only PEs that failed before, they get
    /// another chance: they may be back).
    pub fn failover(&mut self, now: Time, session: SessionId) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return;
        };
        match s.conn() {
            Some(conn) => {
                self.conns.remove(&conn);
                self.transmits.push_back(PuTransmit::ClosePe { conn });
                self.pe_failed(now, session);
            }
            None => {
                s.resolved = false;
                s.retry = true;
                self.connect_next(now, session);
            }
        }
    }

    /// Closes a session and its PE association; queued messages are dropped.
    pub fn close_session(&mut self, _now: Time, session: SessionId) {
        if let Some(s) = self.sessions.remove(&session) {
            if let Some(conn) = s.conn() {
                self.conns.remove(&conn);
                self.transmits.push_back(PuTransmit::ClosePe { conn });
            }
        }
    }

    /// The data association `conn` is up.
    pub fn pe_connected(&mut self, _now: Time, conn: PeConn) {
        let Some(&sid) = self.conns.get(&conn) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let SessionState::Connecting { conn: c, pe_id } = s.state else {
            return;
        };
        if c != conn {
            return;
        }
        s.state = SessionState::Up { conn, pe_id };
        s.connect_deadline = None;
        let mut replayed = false;
        if s.was_up && s.control_channel() {
            if let Some(cookie) = &s.cookie {
                let echo = AsapMessage::from(asap::CookieEcho {
                    cookie: cookie.clone(),
                });
                // The cookie came in a message, so its echo fits too.
                if let Ok(bytes) = echo.to_bytes() {
                    self.transmits.push_back(PuTransmit::SendPe {
                        conn,
                        frame: Frame::new(PPID_ASAP, bytes),
                    });
                    replayed = true;
                }
            }
        }
        for frame in s.queue.drain(..) {
            self.transmits.push_back(PuTransmit::SendPe { conn, frame });
        }
        s.queued_bytes = 0;
        s.excluded.clear();
        s.retry = false;
        s.resolved = false;
        let event = match s.failover_from.take() {
            Some(from) => PuEvent::Failover {
                session: sid,
                from,
                to: pe_id,
                cookie_replayed: replayed,
            },
            None => PuEvent::SessionUp {
                session: sid,
                pe_id,
            },
        };
        s.was_up = true;
        self.events.push_back(event);
    }

    /// A frame from the PE on `conn` (over TCP, deframed with
    /// [`TcpDeframer`](crate::data_channel::TcpDeframer)).
    pub fn pe_received(&mut self, _now: Time, conn: PeConn, frame: Frame) {
        let Some(&sid) = self.conns.get(&conn) else {
            return;
        };
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        if !matches!(s.state, SessionState::Up { conn: c, .. } if c == conn) {
            return;
        }
        if !(frame.is_asap() && s.control_channel()) {
            self.events.push_back(PuEvent::Data {
                session: sid,
                frame,
            });
            return;
        }
        match AsapMessage::decode(&frame.payload, &DecodeOptions::DEFAULT) {
            Ok(d) => match d.message {
                AsapMessage::Cookie(c) => s.cookie = Some(c.cookie),
                AsapMessage::BusinessCard(b) => s.card = b.pool_elements,
                _ => {}
            },
            Err(error) => self.events.push_back(PuEvent::BadMessage {
                from: Peer::Session(sid),
                error,
            }),
        }
    }

    /// The data association `conn` closed or could not be opened.
    pub fn pe_closed(&mut self, now: Time, conn: PeConn) {
        if let Some(sid) = self.conns.remove(&conn) {
            self.pe_failed(now, sid);
        }
    }

    // ----- time and outputs -----

    /// Runs the timers due at `now` (call at [`PoolUser::poll_timeout`]).
    pub fn handle_timeout(&mut self, now: Time) {
        if self.hunter.timeout(now, &mut self.reg_out) == HuntProgress::GaveUp {
            self.hunter.stop(&mut self.reg_out);
            self.link = Link::Idle;
            self.reports.clear();
            let failed: Vec<Request> = std::mem::take(&mut self.requests);
            for r in failed {
                self.resolution_failed(now, r, ResolutionFailure::NoRegistrar);
            }
        }
        // Requests that waited too long overall.
        let mut i = 0;
        while i < self.requests.len() {
            if self.requests[i].give_up <= now {
                let r = self.requests.remove(i);
                self.resolution_failed(now, r, ResolutionFailure::NoAnswer);
            } else {
                i += 1;
            }
        }
        // T1 retransmissions, then another registrar.
        if let Link::Up(conn) = self.link {
            let max = self.config.timers.max_request_retransmit;
            let expired = self
                .requests
                .iter()
                .any(|r| r.deadline.is_some_and(|d| d <= now) && r.sent > max);
            if expired {
                self.reg_out.push_back(RegTransmit::Close { conn });
                self.rehunt(now);
            } else {
                for r in self
                    .requests
                    .iter_mut()
                    .filter(|r| r.deadline.is_some_and(|d| d <= now))
                {
                    r.deadline = None;
                }
                self.flush(now);
            }
        }
        let late: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.connect_deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for sid in late {
            if let Some(conn) = self.sessions.get(&sid).and_then(Session::conn) {
                self.conns.remove(&conn);
                self.transmits.push_back(PuTransmit::ClosePe { conn });
            }
            self.pe_failed(now, sid);
        }
    }

    /// When [`PoolUser::handle_timeout`] must be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Time> {
        let requests = self
            .requests
            .iter()
            .flat_map(|r| [r.deadline, Some(r.give_up)])
            .flatten();
        let sessions = self.sessions.values().filter_map(|s| s.connect_deadline);
        requests.chain(sessions).chain(self.hunter.deadline()).min()
    }

    /// The next thing the driver must do, if any.
    pub fn poll_transmit(&mut self) -> Option<PuTransmit> {
        if let Some(t) = self.reg_out.pop_front() {
            return Some(PuTransmit::Registrar(t));
        }
        self.transmits.pop_front()
    }

    /// The next event for the application, if any.
    pub fn poll_event(&mut self) -> Option<PuEvent> {
        self.events.pop_front()
    }

    // ----- internals -----

    fn ensure_link(&mut self, now: Time) {
        if self.link == Link::Idle {
            self.link = Link::Hunting;
            self.hunter.start(now, &mut self.reg_out);
        }
    }

    /// The registrar association is gone (or useless): start over with
    /// the next registrar; requests are sent again there.
    fn rehunt(&mut self, now: Time) {
        for r in &mut self.requests {
            r.deadline = None;
            r.sent = 0;
        }
        self.link = Link::Hunting;
        self.hunter.start(now, &mut self.reg_out);
    }

    /// Sends what waits for the registrar association, if it is up.
    fn flush(&mut self, now: Time) {
        let Link::Up(conn) = self.link else {
            return;
        };
        for rep in self.reports.drain(..) {
            if let Ok(bytes) = AsapMessage::from(rep).to_bytes() {
                self.reg_out.push_back(RegTransmit::Send { conn, bytes });
            }
        }
        let t1 = self.config.timers.t1_enrp_request;
        for r in self.requests.iter_mut().filter(|r| r.deadline.is_none()) {
            let bytes = AsapMessage::from(asap::HandleResolution {
                pool_handle: r.pool_handle.clone(),
                items: self.config.resolution_items,
            })
            .to_bytes();
            // Only a pool handle over 65 KB fails here; such a request
            // times out as unanswered.
            if let Ok(bytes) = bytes {
                self.reg_out.push_back(RegTransmit::Send { conn, bytes });
            }
            r.sent += 1;
            r.deadline = Some(now + t1);
        }
    }

    fn request(&mut self, now: Time, pool_handle: &PoolHandle, notify: bool) {
        if let Some(r) = self
            .requests
            .iter_mut()
            .find(|r| &r.pool_handle == pool_handle)
        {
            r.notify |= notify;
            return;
        }
        self.requests.push(Request {
            pool_handle: pool_handle.clone(),
            notify,
            sent: 0,
            deadline: None,
            give_up: now + self.config.timers.t5_server_hunt,
        });
        self.ensure_link(now);
        self.flush(now);
    }

    fn on_resolution(&mut self, now: Time, r: asap::HandleResolutionResponse) {
        let Some(i) = self
            .requests
            .iter()
            .position(|q| q.pool_handle == r.pool_handle)
        else {
            return;
        };
        let req = self.requests.remove(i);
        if let Some(error) = r.error {
            self.resolution_failed(now, req, ResolutionFailure::Error(error));
            return;
        }
        self.cache.store(
            now,
            r.pool_handle.clone(),
            r.policy,
            r.pool_elements.clone(),
        );
        if req.notify {
            self.events.push_back(PuEvent::Resolved {
                pool_handle: r.pool_handle.clone(),
                pool_elements: r.pool_elements,
                cached: false,
            });
        }
        for sid in self.waiting(&r.pool_handle) {
            self.connect_next(now, sid);
        }
    }

    fn resolution_failed(&mut self, _now: Time, req: Request, cause: ResolutionFailure) {
        for sid in self.waiting(&req.pool_handle) {
            if let Some(s) = self.sessions.get_mut(&sid) {
                s.state = SessionState::Idle;
                self.events.push_back(PuEvent::SessionFailed {
                    session: sid,
                    cause: SessionFailure::Resolution(cause.clone()),
                });
            }
        }
        if req.notify {
            self.events.push_back(PuEvent::ResolutionFailed {
                pool_handle: req.pool_handle,
                cause,
            });
        }
    }

    fn waiting(&self, pool_handle: &PoolHandle) -> Vec<SessionId> {
        self.sessions
            .iter()
            .filter(|(_, s)| s.state == SessionState::Resolving && &s.pool_handle == pool_handle)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The session's PE failed: report it, remember it, move on.
    fn pe_failed(&mut self, now: Time, sid: SessionId) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let Some(pe_id) = s.pe.as_ref().map(|p| p.pe_id) else {
            return;
        };
        if matches!(s.state, SessionState::Up { .. }) && s.failover_from.is_none() {
            s.failover_from = Some(pe_id);
        }
        s.state = SessionState::Idle;
        s.connect_deadline = None;
        s.excluded.push(pe_id);
        s.card.retain(|p| p.pe_id != pe_id);
        let handle = s.pool_handle.clone();
        self.report_unreachable(now, &handle, pe_id);
        self.connect_next(now, sid);
    }

    /// Picks the session's next PE and connects, or resolves first.
    fn connect_next(&mut self, now: Time, sid: SessionId) {
        let Some(s) = self.sessions.get_mut(&sid) else {
            return;
        };
        let Some(pe) = next_pe(s, &self.cache, &mut self.rng, now) else {
            if s.resolved {
                s.state = SessionState::Idle;
                self.events.push_back(PuEvent::SessionFailed {
                    session: sid,
                    cause: SessionFailure::NoPoolElement,
                });
            } else {
                s.resolved = true;
                s.state = SessionState::Resolving;
                let handle = s.pool_handle.clone();
                self.request(now, &handle, false);
            }
            return;
        };
        let conn = PeConn(self.next_conn);
        self.next_conn += 1;
        s.state = SessionState::Connecting {
            conn,
            pe_id: pe.pe_id,
        };
        s.connect_deadline = Some(now + self.config.timers.connect_timeout);
        self.conns.insert(conn, sid);
        self.transmits.push_back(PuTransmit::ConnectPe {
            conn,
            session: sid,
            pe_id: pe.pe_id,
            transport: pe.user_transport.clone(),
        });
        s.pe = Some(pe);
    }
}

/// The PE a session tries next: from the PE's last business card, else
/// from the cached resolution; `None` when every one of them has failed.
fn next_pe(s: &mut Session, cache: &Cache, rng: &mut impl Rng, now: Time) -> Option<PoolElement> {
    // A retry whose resolution lists only PEs that failed before gives
    // them another chance; else a session whose PEs all failed once
    // (e.g. in a partition) stays idle for good once they are back.
    if s.retry && s.resolved && !s.excluded.is_empty() {
        let cached = cache.fresh(now, &s.pool_handle).map(|(p, _)| p);
        let all_failed = cached.is_some_and(|pes| {
            !pes.is_empty() && pes.iter().all(|p| s.excluded.contains(&p.pe_id))
        });
        if all_failed {
            s.excluded.clear();
            s.retry = false;
        }
    }
    let usable = |p: &&PoolElement| !s.excluded.contains(&p.pe_id);
    let mut candidates: Vec<&PoolElement> = s.card.iter().filter(usable).collect();
    let mut policy = None;
    if candidates.is_empty() {
        if let Some((pes, p)) = cache.fresh(now, &s.pool_handle) {
            candidates = pes.iter().filter(usable).collect();
            policy = p;
        }
    }
    // The registrar already ordered the PEs by the pool's policy; the
    // random ones are drawn again so that users spread out.
    let random = policy.is_some_and(|p| {
        matches!(
            p.policy_type(),
            PolicyType::Random | PolicyType::WeightedRandom
        )
    });
    let pick = if random {
        let n = candidates.len() as u64;
        candidates.get(rng.below(n) as usize).copied()
    } else {
        candidates.first().copied()
    };
    pick.cloned()
}
