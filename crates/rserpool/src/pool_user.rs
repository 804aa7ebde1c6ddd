//! The pool user runtime: the I/O-free [`PoolUser`] of `rserpool-proto`
//! driven by tokio sockets and a real clock.
//!
//! A [`PoolUserHandle`] resolves pool handles (answers are cached for
//! stale.cache.value), reports unreachable PEs, and opens [`Session`]s. A
//! session talks to one PE of a pool at a time; when that PE fails (its
//! data channel closes) or the application calls [`Session::failover`],
//! the session moves to another PE, replays the last COOKIE the old PE
//! sent (COOKIE_ECHO) before anything else, then sends the messages
//! queued meanwhile. The application sees [`SessionEvent`]s.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rserpool::pool_user::{PoolUserConfig, SessionEvent, start};
//!
//! let mut cfg = PoolUserConfig::new();
//! cfg.registrars = vec!["127.0.0.1:3863".parse().unwrap()];
//! let pu = start(cfg).await?;
//! let mut session = pu.open_session("echo").await?;
//! session.send(b"hello".to_vec()).await?;
//! while let Some(event) = session.recv().await {
//!     match event {
//!         SessionEvent::Data(frame) => { println!("{:?}", frame.payload); break; }
//!         SessionEvent::Failover { from, to, .. } => eprintln!("failover {from} -> {to}"),
//!         other => eprintln!("{other:?}"),
//!     }
//! }
//! session.close().await;
//! # Ok(())
//! # }
//! ```

use crate::announce::{ASAP_ANNOUNCE_GROUP, MulticastConfig};
use crate::driver::{Clock, EventLoop, Wake};
use crate::pool_element::{tls_registrar, tls_transport};
use crate::transport::data::{DataChannel, connect_data, connect_data_stream};
use crate::transport::link::{self, Link};
use crate::transport::tls::{TlsClient, TlsConfig};
use crate::transport::{self, Association, Carrier, Ppid, TransportMode};
use rserpool_proto::Time;
use rserpool_proto::asap_endpoint::{AsapTimers, RegConn, RegTransmit};
use rserpool_proto::data_channel::Frame;
use rserpool_proto::pool_user::{
    PeConn, PoolUser, PuConfig, PuEvent, PuTransmit, ResolutionFailure, SendError, SessionFailure,
    SessionId,
};
use rserpool_proto::wire::{PeId, PoolElement, PoolHandle, TransportParam};
use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, warn};

/// Frames queued for one association before it counts as stuck: a PE
/// that stops reading while this many messages wait is failed over from.
const SEND_QUEUE: usize = 1024;

/// How a pool user finds registrars.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolUserConfig {
    /// Registrars' ASAP endpoints, tried in order before announced ones.
    pub registrars: Vec<SocketAddr>,
    /// Listen for ASAP Server Announces here (`None`: static registrars only).
    pub announces: Option<MulticastConfig>,
    /// TCP or kernel SCTP (`Auto`: SCTP where the kernel has it).
    pub transport: TransportMode,
    /// ASAP timers: registrar hunt, resolution retries, connect timeout.
    pub timers: AsapTimers,
    /// Seed of the pool user's random generator (registrar hunt order).
    pub seed: u64,
    /// TLS to registrars (TCP only): the registrar must present a
    /// registrar certificate of the scope CA; this pool user presents its
    /// own if the configuration has one.
    pub tls: Option<TlsConfig>,
    /// With `tls`, sessions to PEs run over TLS too: a PE must show a
    /// certificate of the scope CA that names the pool (its PEs need
    /// `data_tls` as well). Without it the data channel is plain.
    pub data_tls: bool,
}

impl PoolUserConfig {
    /// Defaults: registrars found by announces on the loopback group
    /// 239.0.0.50:3863, RFC timers.
    pub fn new() -> Self {
        PoolUserConfig {
            registrars: Vec::new(),
            announces: Some(MulticastConfig::new(
                ASAP_ANNOUNCE_GROUP,
                Ipv4Addr::LOCALHOST,
            )),
            transport: TransportMode::Auto,
            timers: AsapTimers::DEFAULT,
            seed: crate::random_seed(),
            tls: None,
            data_tls: false,
        }
    }
}

impl Default for PoolUserConfig {
    fn default() -> Self {
        PoolUserConfig::new()
    }
}

/// What happened on a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    /// The session reached its first PE.
    Up {
        /// The PE's identifier.
        pe_id: PeId,
    },
    /// A message from the session's PE.
    Data(Frame),
    /// The session moved to another PE; `cookie_replayed` when the last
    /// cookie went out to it first.
    Failover {
        /// The PE the session left.
        from: PeId,
        /// The PE the session uses now.
        to: PeId,
        /// Whether the last cookie went out to the new PE first.
        cookie_replayed: bool,
    },
    /// No PE for now; messages stay queued and [`Session::failover`]
    /// tries again.
    Failed(SessionFailure),
}

/// Why a pool user request failed.
#[derive(Debug)]
pub enum PuError {
    /// The pool's handles could not be resolved.
    Resolution(ResolutionFailure),
    /// The message could not be queued.
    Send(SendError),
    /// The pool user is not running any more.
    Stopped,
}

impl fmt::Display for PuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PuError::Resolution(ResolutionFailure::Error(e)) => {
                write!(f, "handle resolution failed: {e:?}")
            }
            PuError::Resolution(ResolutionFailure::NoRegistrar) => {
                f.write_str("handle resolution failed: no registrar reachable")
            }
            PuError::Resolution(ResolutionFailure::NoAnswer) => {
                f.write_str("handle resolution failed: no registrar answered")
            }
            PuError::Send(e) => e.fmt(f),
            PuError::Stopped => f.write_str("the pool user has stopped"),
        }
    }
}

impl std::error::Error for PuError {}

impl From<PuError> for io::Error {
    fn from(e: PuError) -> io::Error {
        let kind = match e {
            PuError::Stopped => io::ErrorKind::BrokenPipe,
            PuError::Send(SendError::QueueFull) => io::ErrorKind::WouldBlock,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e)
    }
}

enum Command {
    Resolve(
        PoolHandle,
        oneshot::Sender<Result<Vec<PoolElement>, ResolutionFailure>>,
    ),
    ReportUnreachable(PoolHandle, PeId),
    Open(
        PoolHandle,
        mpsc::UnboundedSender<SessionEvent>,
        oneshot::Sender<SessionId>,
    ),
    Send(
        SessionId,
        u32,
        Vec<u8>,
        oneshot::Sender<Result<(), SendError>>,
    ),
    Failover(SessionId),
    Cookie(SessionId, oneshot::Sender<Option<Vec<u8>>>),
    Close(SessionId),
}

/// A running pool user. Cheap to share: clone it into tasks.
#[derive(Clone, Debug)]
pub struct PoolUserHandle {
    commands: mpsc::Sender<Command>,
    _task: std::sync::Arc<TaskGuard>,
}

/// Ends the pool user's tasks when the last handle goes.
#[derive(Debug)]
struct TaskGuard(Vec<JoinHandle<()>>);

impl Drop for TaskGuard {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Command")
    }
}

impl PoolUserHandle {
    /// The PEs of a pool, from the cache while it is fresh.
    pub async fn resolve(
        &self,
        pool_handle: impl Into<PoolHandle>,
    ) -> Result<Vec<PoolElement>, PuError> {
        let (tx, rx) = oneshot::channel();
        self.command(Command::Resolve(pool_handle.into(), tx))
            .await?;
        rx.await
            .map_err(|_| PuError::Stopped)?
            .map_err(PuError::Resolution)
    }

    /// Tells a registrar that a PE did not answer (and forgets it).
    pub async fn report_unreachable(
        &self,
        pool_handle: impl Into<PoolHandle>,
        pe_id: PeId,
    ) -> Result<(), PuError> {
        self.command(Command::ReportUnreachable(pool_handle.into(), pe_id))
            .await
    }

    /// Opens a session to a PE of the pool; it connects in the
    /// background ([`SessionEvent::Up`]), messages sent meanwhile wait.
    pub async fn open_session(
        &self,
        pool_handle: impl Into<PoolHandle>,
    ) -> Result<Session, PuError> {
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let (tx, rx) = oneshot::channel();
        self.command(Command::Open(pool_handle.into(), events_tx, tx))
            .await?;
        let id = rx.await.map_err(|_| PuError::Stopped)?;
        Ok(Session {
            id,
            pu: self.clone(),
            events: events_rx,
        })
    }

    async fn command(&self, c: Command) -> Result<(), PuError> {
        self.commands.send(c).await.map_err(|_| PuError::Stopped)
    }
}

/// A session with a pool (see the module docs).
#[derive(Debug)]
pub struct Session {
    id: SessionId,
    pu: PoolUserHandle,
    events: mpsc::UnboundedReceiver<SessionEvent>,
}

impl Session {
    /// The session's identifier.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// Sends an application message with PPID 0.
    pub async fn send(&self, payload: impl Into<Vec<u8>>) -> Result<(), PuError> {
        self.send_ppid(0, payload).await
    }

    /// Sends an application message with a PPID of the application's
    /// (not 11, which is ASAP's).
    pub async fn send_ppid(&self, ppid: u32, payload: impl Into<Vec<u8>>) -> Result<(), PuError> {
        let (tx, rx) = oneshot::channel();
        self.pu
            .command(Command::Send(self.id, ppid, payload.into(), tx))
            .await?;
        rx.await
            .map_err(|_| PuError::Stopped)?
            .map_err(PuError::Send)
    }

    /// The next event; `None` once the pool user has stopped. Events
    /// wait (unbounded) until read: a session's application must read them.
    pub async fn recv(&mut self) -> Option<SessionEvent> {
        self.events.recv().await
    }

    /// The next application message, skipping other events.
    pub async fn recv_data(&mut self) -> Option<Frame> {
        loop {
            if let SessionEvent::Data(f) = self.recv().await? {
                return Some(f);
            }
        }
    }

    /// Gives up the current PE (reported unreachable) and moves on.
    pub async fn failover(&self) -> Result<(), PuError> {
        self.pu.command(Command::Failover(self.id)).await
    }

    /// The last cookie the session's PE sent.
    pub async fn cookie(&self) -> Result<Option<Vec<u8>>, PuError> {
        let (tx, rx) = oneshot::channel();
        self.pu.command(Command::Cookie(self.id, tx)).await?;
        rx.await.map_err(|_| PuError::Stopped)
    }

    /// Ends the session (dropping it does the same).
    pub async fn close(self) {}
}

impl Drop for Session {
    fn drop(&mut self) {
        // Best effort: if the queue is full, the driver notices the
        // dropped session at its next event.
        let _ = self.pu.commands.try_send(Command::Close(self.id));
    }
}

/// Starts a pool user; it contacts registrars only when it needs one.
pub async fn start(cfg: PoolUserConfig) -> io::Result<PoolUserHandle> {
    if cfg.registrars.is_empty() && cfg.announces.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no registrar given and announces are off: no registrar can be found",
        ));
    }
    let tls = match &cfg.tls {
        Some(t) => Some(t.client()?),
        None => None,
    };
    let transport_mode = if tls.is_some() {
        tls_transport(cfg.transport)?
    } else {
        cfg.transport
    };
    let carrier = transport_mode.resolve()?;
    let mut pu_cfg = PuConfig::new(cfg.registrars.clone());
    pu_cfg.timers = cfg.timers;
    let (tx, rx) = mpsc::channel::<Input>(1024);
    let mut tasks = Vec::new();
    if let Some(m) = &cfg.announces {
        let static_registrars = !cfg.registrars.is_empty();
        if let Some(t) = crate::pool_element::listen_for_announces(
            m,
            static_registrars,
            tx.clone(),
            Input::Announce,
        )? {
            tasks.push(t);
        }
    }
    let (cmd_tx, cmd_rx) = mpsc::channel(256);
    let driver = Driver {
        pu: PoolUser::new(pu_cfg, Time::ZERO, cfg.seed),
        carrier,
        connect_timeout: cfg.timers.connect_timeout,
        data_tls: tls.clone().filter(|_| cfg.data_tls),
        session_pools: HashMap::new(),
        tls,
        tx,
        reg_links: HashMap::new(),
        pe_links: HashMap::new(),
        sessions: HashMap::new(),
        resolving: HashMap::new(),
    };
    let events = EventLoop::new(Clock::start(), rx);
    tasks.push(tokio::spawn(driver.run(events, cmd_rx)));
    Ok(PoolUserHandle {
        commands: cmd_tx,
        _task: std::sync::Arc::new(TaskGuard(tasks)),
    })
}

enum Input {
    RegConnected(RegConn, io::Result<Association>),
    RegMessage(RegConn, Vec<u8>),
    RegClosed(RegConn),
    PeConnected(PeConn, io::Result<DataChannel>),
    PeFrame(PeConn, Frame),
    PeClosed(PeConn),
    Announce(SocketAddr, Vec<u8>),
}

/// The driver's end of one association: a writer queue and the reader
/// task (aborted with it).
type Waiters = Vec<oneshot::Sender<Result<Vec<PoolElement>, ResolutionFailure>>>;

struct Driver {
    pu: PoolUser,
    carrier: Carrier,
    connect_timeout: Duration,
    tls: Option<TlsClient>,
    /// TLS on data channels (`PoolUserConfig::data_tls`).
    data_tls: Option<TlsClient>,
    /// Each session's pool: a PE's certificate must name it.
    session_pools: HashMap<SessionId, PoolHandle>,
    tx: mpsc::Sender<Input>,
    reg_links: HashMap<RegConn, Link<Vec<u8>>>,
    pe_links: HashMap<PeConn, Link<Frame>>,
    sessions: HashMap<SessionId, mpsc::UnboundedSender<SessionEvent>>,
    resolving: HashMap<PoolHandle, Waiters>,
}

impl Driver {
    async fn run(mut self, mut events: EventLoop<Input>, mut commands: mpsc::Receiver<Command>) {
        loop {
            let now = match events.next(self.pu.poll_timeout(), commands.recv()).await {
                Wake::Inputs(now) => {
                    for input in events.drain() {
                        self.input(input, now);
                    }
                    now
                }
                Wake::Other(Some(cmd), now) => {
                    self.command(cmd, now);
                    now
                }
                Wake::Other(None, _) | Wake::Closed => return,
                Wake::Timeout(now) => {
                    self.pu.handle_timeout(now);
                    now
                }
            };
            self.flush(now);
        }
    }

    fn command(&mut self, cmd: Command, now: Time) {
        match cmd {
            Command::Resolve(pool, reply) => {
                self.resolving.entry(pool.clone()).or_default().push(reply);
                self.pu.resolve(now, &pool);
            }
            Command::ReportUnreachable(pool, pe) => self.pu.report_unreachable(now, &pool, pe),
            Command::Open(pool, events, reply) => {
                let id = self.pu.open_session(now, pool.clone());
                self.session_pools.insert(id, pool);
                self.sessions.insert(id, events);
                let _ = reply.send(id);
            }
            Command::Send(id, ppid, payload, reply) => {
                let _ = reply.send(self.pu.send(now, id, ppid, payload));
            }
            Command::Failover(id) => self.pu.failover(now, id),
            Command::Cookie(id, reply) => {
                let _ = reply.send(self.pu.session_cookie(id).map(<[u8]>::to_vec));
            }
            Command::Close(id) => {
                self.pu.close_session(now, id);
                self.sessions.remove(&id);
                self.session_pools.remove(&id);
            }
        }
    }

    fn input(&mut self, input: Input, now: Time) {
        match input {
            Input::RegConnected(conn, Ok(a)) => {
                let link = self.spawn_reg_link(conn, a);
                self.reg_links.insert(conn, link);
                self.pu.registrar_connected(now, conn);
            }
            Input::RegConnected(conn, Err(e)) => {
                debug!(conn = conn.0, "registrar connect failed: {e}");
                self.pu.registrar_closed(now, conn);
            }
            Input::RegMessage(conn, bytes) => {
                if self.reg_links.contains_key(&conn) {
                    self.pu.registrar_received(now, conn, &bytes);
                }
            }
            Input::RegClosed(conn) => {
                if self.reg_links.remove(&conn).is_some() {
                    self.pu.registrar_closed(now, conn);
                }
            }
            Input::PeConnected(conn, Ok(ch)) => {
                let link = self.spawn_pe_link(conn, ch);
                self.pe_links.insert(conn, link);
                self.pu.pe_connected(now, conn);
            }
            Input::PeConnected(conn, Err(e)) => {
                debug!(conn = conn.0, "PE connect failed: {e}");
                self.pu.pe_closed(now, conn);
            }
            Input::PeFrame(conn, frame) => {
                if self.pe_links.contains_key(&conn) {
                    self.pu.pe_received(now, conn, frame);
                }
            }
            Input::PeClosed(conn) => {
                if self.pe_links.remove(&conn).is_some() {
                    debug!(conn = conn.0, "PE data channel closed");
                    self.pu.pe_closed(now, conn);
                }
            }
            Input::Announce(from, bytes) => self.pu.announce_received(now, from, &bytes),
        }
    }

    fn spawn_reg_link(&self, conn: RegConn, a: Association) -> Link<Vec<u8>> {
        link::spawn(
            a,
            SEND_QUEUE,
            self.tx.clone(),
            move |m| Input::RegMessage(conn, m),
            move |_| Input::RegClosed(conn),
        )
    }

    fn spawn_pe_link(&self, conn: PeConn, ch: DataChannel) -> Link<Frame> {
        let DataChannel {
            mut reader,
            mut writer,
        } = ch;
        let (tx, mut rx) = mpsc::channel::<Frame>(SEND_QUEUE);
        let inputs = self.tx.clone();
        let reader = tokio::spawn(async move {
            while let Ok(Some(f)) = reader.recv().await {
                if inputs.send(Input::PeFrame(conn, f)).await.is_err() {
                    return;
                }
            }
            let _ = inputs.send(Input::PeClosed(conn)).await;
        });
        tokio::spawn(async move {
            while let Some(f) = rx.recv().await {
                if writer.send(&f).await.is_err() {
                    break;
                }
            }
            let _ = writer.shutdown().await;
        });
        Link::new(tx, reader)
    }

    fn flush(&mut self, now: Time) {
        while let Some(t) = self.pu.poll_transmit() {
            match t {
                PuTransmit::Registrar(RegTransmit::Connect { conn, to }) => {
                    let tx = self.tx.clone();
                    let carrier = self.carrier;
                    let timeout = self.connect_timeout;
                    let tls = self.tls.clone();
                    tokio::spawn(async move {
                        let mut r = connect_any(&to, timeout, |a| {
                            transport::connect(a, carrier, Ppid::Asap)
                        })
                        .await;
                        if let Some(tls) = tls {
                            r = match r {
                                Ok(a) => tls_registrar(&tls, a, timeout).await,
                                Err(e) => Err(e),
                            };
                        }
                        let _ = tx.send(Input::RegConnected(conn, r)).await;
                    });
                }
                PuTransmit::Registrar(RegTransmit::Send { conn, bytes }) => {
                    if let Some(link) = self.reg_links.get_mut(&conn) {
                        if link.send(bytes).is_err() {
                            warn!(conn = conn.0, "registrar not reading: dropping it");
                            self.reg_links.remove(&conn);
                            self.pu.registrar_closed(now, conn);
                        }
                    }
                }
                PuTransmit::Registrar(RegTransmit::Close { conn }) => {
                    self.reg_links.remove(&conn);
                }
                PuTransmit::ConnectPe {
                    conn,
                    transport,
                    session,
                    ..
                } => {
                    let tx = self.tx.clone();
                    let timeout = self.connect_timeout;
                    let r = pe_endpoint(&transport, self.carrier);
                    let tls = self
                        .data_tls
                        .clone()
                        .zip(self.session_pools.get(&session).cloned());
                    tokio::spawn(async move {
                        let r = match (r, tls) {
                            (Ok((addrs, carrier)), None) => {
                                connect_any(&addrs, timeout, |a| connect_data(a, carrier)).await
                            }
                            (Ok((addrs, carrier)), Some((tls, pool))) => {
                                connect_any(&addrs, timeout, |a| {
                                    let (tls, pool) = (tls.clone(), pool.clone());
                                    async move {
                                        let s = connect_data_stream(a, carrier).await?;
                                        let r = tls.connect_data(s, &pool).await;
                                        if let Err(e) = &r {
                                            warn!(pe = %a, "data channel TLS failed: {e}");
                                        }
                                        r
                                    }
                                })
                                .await
                            }
                            (Err(e), _) => Err(e),
                        };
                        let _ = tx.send(Input::PeConnected(conn, r)).await;
                    });
                }
                PuTransmit::SendPe { conn, frame } => {
                    if let Some(link) = self.pe_links.get(&conn) {
                        if link.tx.try_send(frame).is_err() {
                            warn!(conn = conn.0, "PE not reading: failing over");
                            self.pe_links.remove(&conn);
                            self.pu.pe_closed(now, conn);
                        }
                    }
                }
                PuTransmit::ClosePe { conn } => {
                    self.pe_links.remove(&conn);
                }
            }
        }
        while let Some(e) = self.pu.poll_event() {
            self.event(e, now);
        }
    }

    fn event(&mut self, e: PuEvent, now: Time) {
        let (session, ev) = match e {
            PuEvent::Resolved {
                pool_handle,
                pool_elements,
                ..
            } => {
                for w in self.resolving.remove(&pool_handle).unwrap_or_default() {
                    let _ = w.send(Ok(pool_elements.clone()));
                }
                return;
            }
            PuEvent::ResolutionFailed { pool_handle, cause } => {
                for w in self.resolving.remove(&pool_handle).unwrap_or_default() {
                    let _ = w.send(Err(cause.clone()));
                }
                return;
            }
            PuEvent::SessionUp { session, pe_id } => (session, SessionEvent::Up { pe_id }),
            PuEvent::Failover {
                session,
                from,
                to,
                cookie_replayed,
            } => (
                session,
                SessionEvent::Failover {
                    from,
                    to,
                    cookie_replayed,
                },
            ),
            PuEvent::Data { session, frame } => (session, SessionEvent::Data(frame)),
            PuEvent::SessionFailed { session, cause } => (session, SessionEvent::Failed(cause)),
            other => {
                debug!(event = ?other, "pool user event");
                return;
            }
        };
        if let Some(tx) = self.sessions.get(&session) {
            if tx.send(ev).is_err() {
                // The application dropped the session without closing it.
                self.sessions.remove(&session);
                self.pu.close_session(now, session);
            }
        }
    }
}

/// The addresses and carrier of a PE's user transport.
fn pe_endpoint(t: &TransportParam, own: Carrier) -> io::Result<(Vec<SocketAddr>, Carrier)> {
    let carrier = match t {
        TransportParam::Tcp { .. } => Carrier::Tcp,
        TransportParam::Sctp { .. } if own == Carrier::Sctp => Carrier::Sctp,
        TransportParam::Sctp { .. } => TransportMode::Sctp.resolve()?,
        other => {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!(
                    "PE transport {:?} is not supported for sessions",
                    other.kind()
                ),
            ));
        }
    };
    let addrs: Vec<SocketAddr> = t
        .addresses()
        .iter()
        .filter(|a| !a.is_unspecified())
        .map(|a| SocketAddr::new(*a, t.port()))
        .collect();
    Ok((addrs, carrier))
}

/// Tries the addresses in order, each with `timeout`.
async fn connect_any<T, F, Fut>(
    addrs: &[SocketAddr],
    timeout: Duration,
    connect: F,
) -> io::Result<T>
where
    F: Fn(SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no address to connect to");
    for &a in addrs {
        match tokio::time::timeout(timeout, connect(a)).await {
            Ok(Ok(x)) => return Ok(x),
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        }
    }
    Err(last)
}
