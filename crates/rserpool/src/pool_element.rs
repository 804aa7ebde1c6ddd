//! The pool element runtime: the I/O-free [`PoolElement`] of
//! `rserpool-proto` driven by tokio sockets and a real clock.
//!
//! A pool element has two endpoints:
//! - the **data listener**, registered as its user transport (transport
//!   use "data plus control"), where pool users open sessions; each
//!   session is handed to the application as a [`ServerSession`];
//! - the **control endpoint**, where registrars reach it. Its registrar
//!   associations are opened from that endpoint's port, so a registrar
//!   that takes the PE over (after its home registrar failed) connects to
//!   the address it saw and its ENDPOINT_KEEP_ALIVE lands here, never on
//!   the data listener (see [`crate::transport::data`]).
//!
//! One task owns the state machine, as in [`crate::registrar`]: reader
//! tasks forward registrar messages, writer tasks drain bounded queues.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use rserpool::pool_element::{PoolElementConfig, start};
//! use rserpool_proto::wire::Policy;
//!
//! let mut cfg = PoolElementConfig::new("echo", Policy::LeastUsed { load: 0 });
//! cfg.registrars = vec!["127.0.0.1:3863".parse().unwrap()];
//! let mut pe = start(cfg).await?;
//! pe.wait_registered().await;
//! while let Some(mut session) = pe.accept().await {
//!     tokio::spawn(async move {
//!         while let Ok(Some(msg)) = session.recv().await {
//!             if let rserpool::pool_element::SessionMessage::Data(frame) = msg {
//!                 let _ = session.send(frame.ppid, frame.payload).await;
//!             }
//!         }
//!     });
//! }
//! pe.stop().await
//! # }
//! ```

use crate::announce::{ASAP_ANNOUNCE_GROUP, AnnounceListener, MulticastConfig};
use crate::cookie::CookieKey;
use crate::driver::{Clock, EventLoop, Wake};
use crate::transport::data::{self, DataChannel, DataListener, DataReader, DataWriter};
use crate::transport::link::{self, Link};
use crate::transport::tls::{ClientAuth, Expect, TlsClient, TlsConfig, TlsServer};
use crate::transport::{self, Association, Carrier, Listener, Ppid, TransportMode};
use rserpool_proto::Time;
use rserpool_proto::asap_endpoint::{AsapTimers, RegConn};
use rserpool_proto::data_channel::Frame;
use rserpool_proto::pool_element::{
    PeConfig, PeEvent, PeSession, PeState, PeTransmit, PoolElement, RegistrationFailure,
    SessionInput, SetLoadError,
};
use rserpool_proto::wire::asap::BusinessCard;
use rserpool_proto::wire::{AddressList, PeId, Policy, PoolHandle, TransportParam, TransportUse};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

/// Messages queued for one registrar association before it counts as stuck.
const SEND_QUEUE: usize = 256;
/// Sessions accepted but not yet taken by the application.
const SESSION_BACKLOG: usize = 128;
/// Events kept for the application; older ones are dropped when it does
/// not read them.
const EVENT_BACKLOG: usize = 256;

/// What a pool element registers and where it listens.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PoolElementConfig {
    /// The pool to register in.
    pub pool_handle: PoolHandle,
    /// Policy with this PE's values (load, weight, priority, ...).
    pub policy: Policy,
    /// Where pool users reach this PE (port 0: the kernel picks one). An
    /// unspecified address is registered as such; the registrar fills in
    /// the address it sees the PE at. 0.0.0.0 and `[::]` listen dual-stack,
    /// so that address is reachable whichever family it has.
    pub data_addr: SocketAddr,
    /// The control endpoint for registrars; port 0 picks one.
    pub control_addr: SocketAddr,
    /// Registrars' ASAP endpoints, tried in order before announced ones.
    pub registrars: Vec<SocketAddr>,
    /// Listen for ASAP Server Announces here (`None`: static registrars only).
    pub announces: Option<MulticastConfig>,
    /// TCP or kernel SCTP (`Auto`: SCTP where the kernel has it).
    pub transport: TransportMode,
    /// The registration lifetime announced to the registrar.
    pub registration_life: Duration,
    /// ASAP timers: registrar hunt, registration retries, connect timeout.
    pub timers: AsapTimers,
    /// A fixed PE ID; `None` draws a random one.
    pub pe_id: Option<PeId>,
    /// Seed of the PE's random generator (its PE identifier, hunt order).
    pub seed: u64,
    /// TLS to registrars (TCP only): this PE presents its certificate
    /// (which must name the pool) and checks the registrar's.
    pub tls: Option<TlsConfig>,
    /// With `tls`, the data endpoint speaks TLS too: pool users see this
    /// PE's certificate (they need none of their own).
    pub data_tls: bool,
    /// Seal the session cookies with the pool secret, and take echoed
    /// ones only if sealed by a PE of this pool (see [`crate::cookie`]);
    /// `None`: plain cookies, as RSPLIB's.
    pub cookies: Option<CookieSealing>,
}

/// How a PE authenticates its session cookies.
#[derive(Clone, Debug)]
pub struct CookieSealing {
    /// The pool's sealing key.
    pub key: CookieKey,
    /// Echoed cookies older than this are refused (limits replay).
    pub max_age: Duration,
}

impl PoolElementConfig {
    /// Defaults: all interfaces, kernel-chosen ports, registrars found by
    /// announces on the loopback group 239.0.0.50:3863, RFC timers.
    pub fn new(pool_handle: impl Into<PoolHandle>, policy: Policy) -> Self {
        PoolElementConfig {
            pool_handle: pool_handle.into(),
            policy,
            data_addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            control_addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            registrars: Vec::new(),
            announces: Some(MulticastConfig::new(
                ASAP_ANNOUNCE_GROUP,
                Ipv4Addr::LOCALHOST,
            )),
            transport: TransportMode::Auto,
            registration_life: Duration::from_secs(30),
            timers: AsapTimers::DEFAULT,
            pe_id: None,
            seed: crate::random_seed(),
            tls: None,
            data_tls: false,
            cookies: None,
        }
    }
}

/// Why [`PoolElementHandle::set_load`] failed.
#[derive(Debug)]
pub enum LoadError {
    /// The pool's policy takes no such load value.
    Policy(SetLoadError),
    /// The pool element is not running any more.
    Stopped,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Policy(e) => e.fmt(f),
            LoadError::Stopped => f.write_str("the pool element has stopped"),
        }
    }
}

impl std::error::Error for LoadError {}

enum Command {
    SetLoad(u32, oneshot::Sender<Result<(), SetLoadError>>),
    Deregister,
}

/// A running pool element.
#[derive(Debug)]
pub struct PoolElementHandle {
    pe_id: PeId,
    pool_handle: PoolHandle,
    data_addr: SocketAddr,
    control_addr: SocketAddr,
    carrier: Carrier,
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<PeEvent>,
    state: watch::Receiver<PeState>,
    sessions: mpsc::Receiver<ServerSession>,
    /// Dropped (or set) when the pool element ends: sessions stop.
    alive: watch::Sender<bool>,
    task: JoinHandle<()>,
    aux: Vec<JoinHandle<()>>,
}

impl PoolElementHandle {
    /// The PE identifier this PE registers under.
    pub fn pe_id(&self) -> PeId {
        self.pe_id
    }
    /// The pool this PE registers in.
    pub fn pool_handle(&self) -> &PoolHandle {
        &self.pool_handle
    }
    /// Where pool users connect.
    pub fn data_addr(&self) -> SocketAddr {
        self.data_addr
    }
    /// Where registrars connect (and where the PE's registrar
    /// associations come from).
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }
    /// The transport the PE's associations run over.
    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    /// The registration state now.
    pub fn state(&self) -> PeState {
        *self.state.borrow()
    }

    /// Waits until a registrar has accepted the registration.
    pub async fn wait_registered(&mut self) {
        let _ = self.state.wait_for(|s| s.registered).await;
    }

    /// The next registration event (registered, home changed, ...);
    /// `None` once the pool element has ended.
    pub async fn next_event(&mut self) -> Option<PeEvent> {
        self.events.recv().await
    }

    /// The next pool user session; `None` once the pool element has ended.
    pub async fn accept(&mut self) -> Option<ServerSession> {
        self.sessions.recv().await
    }

    /// Hands out the session queue, for a task that serves sessions while
    /// the handle stays with its owner.
    pub fn take_sessions(&mut self) -> SessionAcceptor {
        let (_, empty) = mpsc::channel(1);
        SessionAcceptor {
            rx: std::mem::replace(&mut self.sessions, empty),
        }
    }

    /// Registers a new load (adaptive policies only).
    pub async fn set_load(&self, load: u32) -> Result<(), LoadError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::SetLoad(load, tx))
            .await
            .map_err(|_| LoadError::Stopped)?;
        rx.await
            .map_err(|_| LoadError::Stopped)?
            .map_err(LoadError::Policy)
    }

    /// Graceful stop: deregisters (waiting for the registrar's answer at
    /// most T3 with its retransmissions, and never longer than 5 s), then
    /// closes every endpoint and session.
    pub async fn stop(mut self) -> io::Result<()> {
        let _ = self.commands.send(Command::Deregister).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), &mut self.task).await;
        self.shutdown();
        Ok(())
    }

    /// Ends at once, as a crash would: no deregistration, sockets close.
    pub fn kill(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.task.abort();
        for t in &self.aux {
            t.abort();
        }
        let _ = self.alive.send(false);
    }
}

impl Drop for PoolElementHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The session queue of a pool element (see [`PoolElementHandle::take_sessions`]).
#[derive(Debug)]
pub struct SessionAcceptor {
    rx: mpsc::Receiver<ServerSession>,
}

impl SessionAcceptor {
    /// The next session a pool user opened; `None` once the PE stopped.
    pub async fn accept(&mut self) -> Option<ServerSession> {
        self.rx.recv().await
    }
}

/// What a pool user sent on a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionMessage {
    /// An application message.
    Data(Frame),
    /// The pool user failed over to this PE and replays the state the
    /// previous PE handed out in its last COOKIE: resume from it.
    CookieEcho(Vec<u8>),
    /// Failover candidates the pool user proposes.
    BusinessCard(BusinessCard),
}

/// One pool user's session with this pool element.
#[derive(Debug)]
pub struct ServerSession {
    reader: DataReader,
    writer: DataWriter,
    session: PeSession,
    peer: Option<SocketAddr>,
    pool_handle: PoolHandle,
    alive: watch::Receiver<bool>,
    cookies: Option<Arc<CookieSealing>>,
    /// With sealing: the state of the cookie the pool user echoed.
    opened: Option<Vec<u8>>,
    nonce: u64,
}

fn stopped() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "the pool element has stopped",
    )
}

impl ServerSession {
    fn new(
        channel: DataChannel,
        pool_handle: PoolHandle,
        alive: watch::Receiver<bool>,
        cookies: Option<Arc<CookieSealing>>,
    ) -> ServerSession {
        let peer = channel.peer_addr();
        ServerSession {
            reader: channel.reader,
            writer: channel.writer,
            session: PeSession::new(TransportUse::DataPlusControl),
            peer,
            pool_handle,
            alive,
            cookies,
            opened: None,
            nonce: crate::random_seed(),
        }
    }

    /// The pool user's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The next message; `None` when the pool user closed the session.
    /// Malformed ASAP control frames are skipped (and logged).
    pub async fn recv(&mut self) -> io::Result<Option<SessionMessage>> {
        loop {
            let frame = tokio::select! {
                f = self.reader.recv() => f?,
                _ = self.alive.wait_for(|a| !*a) => return Err(stopped()),
            };
            let Some(frame) = frame else {
                return Ok(None);
            };
            match self.session.receive(frame) {
                Ok(SessionInput::Data(f)) => return Ok(Some(SessionMessage::Data(f))),
                Ok(SessionInput::CookieEcho(c)) => match &self.cookies {
                    None => return Ok(Some(SessionMessage::CookieEcho(c))),
                    Some(sealing) => {
                        match sealing.key.open(
                            self.pool_handle.as_bytes(),
                            &c,
                            unix_seconds(),
                            sealing.max_age,
                        ) {
                            Ok(state) => {
                                let state = state.to_vec();
                                self.opened = Some(state.clone());
                                return Ok(Some(SessionMessage::CookieEcho(state)));
                            }
                            Err(e) => warn!(peer = ?self.peer, "echoed cookie refused: {e}"),
                        }
                    }
                },
                Ok(SessionInput::BusinessCard(b)) => {
                    return Ok(Some(SessionMessage::BusinessCard(b)));
                }
                Err(e) => debug!(peer = ?self.peer, "session frame dropped: {e}"),
            }
        }
    }

    async fn send_frame(&mut self, frame: &Frame) -> io::Result<()> {
        if !*self.alive.borrow() {
            return Err(stopped());
        }
        self.writer.send(frame).await
    }

    /// Sends an application message (PPID 11 is reserved for ASAP).
    pub async fn send(&mut self, ppid: u32, payload: impl Into<Vec<u8>>) -> io::Result<()> {
        let frame = self
            .session
            .data(ppid, payload)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.send_frame(&frame).await
    }

    /// Hands the pool user state to replay to the next PE after a failover.
    pub async fn send_cookie(&mut self, cookie: &[u8]) -> io::Result<()> {
        let sealed;
        let cookie = match &self.cookies {
            None => cookie,
            Some(sealing) => {
                self.nonce = self.nonce.wrapping_add(1);
                sealed = sealing.key.seal(
                    self.pool_handle.as_bytes(),
                    cookie,
                    unix_seconds(),
                    self.nonce,
                );
                &sealed
            }
        };
        let frame = self
            .session
            .cookie(cookie)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.send_frame(&frame).await
    }

    /// Tells the pool user which PEs to fail over to.
    pub async fn send_business_card(
        &mut self,
        policy: Option<Policy>,
        pool_elements: Vec<rserpool_proto::wire::PoolElement>,
    ) -> io::Result<()> {
        let frame = self
            .session
            .business_card(self.pool_handle.clone(), policy, pool_elements)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        self.send_frame(&frame).await
    }

    /// The cookie the pool user echoed on this session, if it did.
    pub fn echoed_cookie(&self) -> Option<&[u8]> {
        match &self.cookies {
            None => self.session.echoed_cookie(),
            Some(_) => self.opened.as_deref(),
        }
    }

    /// Closes the session's sending direction.
    pub async fn close(mut self) -> io::Result<()> {
        self.writer.shutdown().await
    }
}

/// The user transport a PE registers for its data listener: data plus
/// control, as pool users exchange cookies and business cards on it.
fn user_transport(carrier: Carrier, addr: SocketAddr) -> TransportParam {
    transport(carrier, addr, TransportUse::DataPlusControl)
}

/// A transport parameter for one endpoint of this PE. Its ASAP (control)
/// endpoint is named with Transport Use DATA ONLY: RSPLIB rejects a
/// registrator transport marked DATA plus CONTROL.
fn transport(carrier: Carrier, addr: SocketAddr, transport_use: TransportUse) -> TransportParam {
    match carrier {
        Carrier::Tcp => TransportParam::Tcp {
            port: addr.port(),
            transport_use,
            address: addr.ip(),
        },
        Carrier::Sctp => TransportParam::Sctp {
            port: addr.port(),
            transport_use,
            addresses: AddressList::from_slice(&[addr.ip()]),
        },
    }
}

/// Binds `addr`; 0.0.0.0 is bound as `[::]`, dual-stack, so that the PE
/// is reachable over whichever family its registrar association uses
/// (the registrar fills in the unspecified address registered with the
/// association's address). Without IPv6 on the host, 0.0.0.0 it is.
fn dual_stack<T>(addr: SocketAddr, bind: impl Fn(SocketAddr) -> io::Result<T>) -> io::Result<T> {
    if addr.ip() != IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
        return bind(addr);
    }
    let both = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), addr.port());
    match bind(both) {
        Ok(l) => Ok(l),
        Err(e) => {
            debug!(%addr, "no dual-stack listener ({e}): IPv4 only");
            bind(addr)
        }
    }
}

/// Starts a pool element: binds its endpoints, then registers in the
/// background.
pub async fn start(cfg: PoolElementConfig) -> io::Result<PoolElementHandle> {
    if cfg.registrars.is_empty() && cfg.announces.is_none() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "no registrar given and announces are off: no registrar can be found",
        ));
    }
    let data_tls = match &cfg.tls {
        Some(t) if cfg.data_tls => {
            Some((t.server(ClientAuth::Optional)?, cfg.timers.connect_timeout))
        }
        _ => None,
    };
    let (tls, control_tls) = match &cfg.tls {
        Some(t) if !t.has_certificate() => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a PE over TLS needs its certificate and key (one that names its pool)",
            ));
        }
        Some(t) => (
            Some(t.client()?),
            Some((t.server(ClientAuth::Required)?, cfg.timers.connect_timeout)),
        ),
        None => (None, None),
    };
    let transport_mode = if tls.is_some() {
        tls_transport(cfg.transport)?
    } else {
        cfg.transport
    };
    let carrier = transport_mode.resolve()?;
    let named = |what: &'static str, addr: SocketAddr| {
        move |e: io::Error| io::Error::new(e.kind(), format!("{what} address {addr}: {e}"))
    };
    let data_listener = dual_stack(cfg.data_addr, |a| DataListener::bind(a, carrier))
        .map_err(named("data", cfg.data_addr))?;
    let data_addr = data_listener.local_addr()?;
    let control = dual_stack(cfg.control_addr, |a| data::bind_control(a, carrier))
        .map_err(named("control", cfg.control_addr))?;
    let control_addr = control
        .local_addrs()?
        .first()
        .copied()
        .ok_or_else(|| io::Error::other("control endpoint has no address"))?;

    let mut pe_cfg = PeConfig::new(
        cfg.pool_handle.clone(),
        cfg.policy,
        user_transport(carrier, data_addr),
        cfg.registrars.clone(),
    );
    pe_cfg.registration_life = cfg.registration_life;
    pe_cfg.timers = cfg.timers;
    pe_cfg.pe_id = cfg.pe_id;
    // Named in the registration, so a registrar that takes this PE over
    // knows where to connect, whatever port the association came from.
    pe_cfg.asap_transport = Some(transport(carrier, control_addr, TransportUse::DataOnly));

    let (tx, rx) = mpsc::channel::<Input>(1024);
    let (alive, alive_rx) = watch::channel(true);
    let (sessions_tx, sessions_rx) = mpsc::channel(SESSION_BACKLOG);
    let mut aux = Vec::new();
    if let Some(m) = &cfg.announces {
        let static_registrars = !cfg.registrars.is_empty();
        if let Some(t) = listen_for_announces(m, static_registrars, tx.clone(), Input::Announce)? {
            aux.push(t);
        }
    }
    aux.push(tokio::spawn(accept_sessions(
        data_listener,
        sessions_tx,
        cfg.pool_handle.clone(),
        alive_rx,
        cfg.cookies.clone().map(Arc::new),
        data_tls,
    )));
    aux.push(tokio::spawn(accept_registrars(
        control,
        tx.clone(),
        control_tls,
    )));

    let clock = Clock::start();
    let pe = PoolElement::new(pe_cfg, Time::ZERO, cfg.seed);
    let pe_id = pe.pe_id();
    info!(pool = %cfg.pool_handle, pe = %pe_id, data = %data_addr, control = %control_addr, %carrier, "pool element started");
    let (state_tx, state_rx) = watch::channel(pe.state());
    let (events_tx, events_rx) = mpsc::channel(EVENT_BACKLOG);
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let driver = Driver {
        pe,
        clock,
        carrier,
        control_addr,
        connect_timeout: cfg.timers.connect_timeout,
        tls,
        tx,
        links: HashMap::new(),
        state: state_tx,
        events: events_tx,
    };
    let task = tokio::spawn(driver.run(EventLoop::new(clock, rx), cmd_rx));
    Ok(PoolElementHandle {
        pe_id,
        pool_handle: cfg.pool_handle,
        data_addr,
        control_addr,
        carrier,
        commands: cmd_tx,
        events: events_rx,
        state: state_rx,
        sessions: sessions_rx,
        alive,
        task,
        aux,
    })
}

/// Listens for ASAP Server Announces in the background. A listener that
/// cannot be set up (no multicast on this host) is an error only when
/// there are no static registrars to fall back on.
pub(crate) fn listen_for_announces<I: Send + 'static>(
    m: &MulticastConfig,
    static_registrars: bool,
    tx: mpsc::Sender<I>,
    wrap: fn(SocketAddr, Vec<u8>) -> I,
) -> io::Result<Option<JoinHandle<()>>> {
    let listener = match AnnounceListener::new(m) {
        Ok(l) => l,
        Err(e) if static_registrars => {
            warn!(group = %m.group, "not listening for ASAP announces: {e}");
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(Some(tokio::spawn(async move {
        let mut buf = vec![0u8; 65536];
        loop {
            match listener.recv(&mut buf).await {
                Ok((bytes, from)) => {
                    if tx.send(wrap(from, bytes.to_vec())).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    warn!("ASAP announce listener: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })))
}

async fn accept_sessions(
    listener: DataListener,
    tx: mpsc::Sender<ServerSession>,
    pool_handle: PoolHandle,
    alive: watch::Receiver<bool>,
    cookies: Option<Arc<CookieSealing>>,
    tls: Option<(TlsServer, Duration)>,
) {
    let handshakes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let accepted = match &tls {
            None => listener.accept().await,
            Some((server, timeout)) => match listener.accept_stream().await {
                Ok((stream, peer)) => {
                    // The handshake runs in a task of its own, bounded in
                    // time and number; the session follows it.
                    use std::sync::atomic::Ordering;
                    if handshakes.load(Ordering::Relaxed) >= MAX_DATA_HANDSHAKES {
                        warn!(%peer, "too many TLS handshakes in progress: closing the connection");
                        continue;
                    }
                    handshakes.fetch_add(1, Ordering::Relaxed);
                    let (server, timeout, count) = (server.clone(), *timeout, handshakes.clone());
                    let (tx, pool_handle, alive, cookies) = (
                        tx.clone(),
                        pool_handle.clone(),
                        alive.clone(),
                        cookies.clone(),
                    );
                    tokio::spawn(async move {
                        let r = tokio::time::timeout(timeout, server.accept_data(stream)).await;
                        count.fetch_sub(1, Ordering::Relaxed);
                        match r {
                            Ok(Ok(channel)) => {
                                let s = ServerSession::new(channel, pool_handle, alive, cookies);
                                offer_session(&tx, s, peer);
                            }
                            Ok(Err(e)) => warn!(%peer, "data channel TLS handshake failed: {e}"),
                            Err(_) => warn!(%peer, "data channel TLS handshake timed out"),
                        }
                    });
                    continue;
                }
                Err(e) => Err(e),
            },
        };
        match accepted {
            Ok((channel, peer)) => {
                let s = ServerSession::new(
                    channel,
                    pool_handle.clone(),
                    alive.clone(),
                    cookies.clone(),
                );
                if !offer_session(&tx, s, peer) {
                    return;
                }
            }
            Err(e) => {
                warn!("data listener accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// TLS handshakes in progress at once on the data endpoint, and on the
/// control endpoint.
const MAX_DATA_HANDSHAKES: usize = 256;

/// Hands a new session to the application; false once it is gone.
fn offer_session(tx: &mpsc::Sender<ServerSession>, s: ServerSession, peer: SocketAddr) -> bool {
    debug!(%peer, "pool user session accepted");
    // A full backlog means the application does not take sessions:
    // refuse this one by dropping it.
    match tx.try_send(s) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(_)) => {
            warn!(%peer, "session backlog full: refusing the session");
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Accepts registrars (a new home after a takeover) on the control
/// endpoint; with TLS only those with a registrar certificate.
async fn accept_registrars(
    listener: Listener,
    tx: mpsc::Sender<Input>,
    tls: Option<(TlsServer, Duration)>,
) {
    let with_tls = tls.is_some();
    let deliver = move |a: Association, peer: SocketAddr| {
        let tx = tx.clone();
        async move {
            if with_tls && a.identity().is_none_or(|i| i.registrar.is_none()) {
                let who = a.identity().map(ToString::to_string);
                warn!(%peer, ?who, "control association without a registrar certificate: closed");
                return true;
            }
            tx.send(Input::Accepted(a)).await.is_ok()
        }
    };
    crate::transport::tls::accept_loop(listener, tls, MAX_DATA_HANDSHAKES, deliver).await;
}

enum Input {
    Connected(RegConn, io::Result<Association>),
    Accepted(Association),
    Message(RegConn, Vec<u8>),
    Closed(RegConn),
    Announce(SocketAddr, Vec<u8>),
}

struct Driver {
    pe: PoolElement,
    clock: Clock,
    carrier: Carrier,
    control_addr: SocketAddr,
    connect_timeout: Duration,
    tls: Option<TlsClient>,
    tx: mpsc::Sender<Input>,
    links: HashMap<RegConn, Link>,
    state: watch::Sender<PeState>,
    events: mpsc::Sender<PeEvent>,
}

impl Driver {
    async fn run(mut self, mut events: EventLoop<Input>, mut commands: mpsc::Receiver<Command>) {
        let mut deregistering = false;
        self.flush(self.clock.now());
        loop {
            let command = async {
                if deregistering {
                    std::future::pending().await
                } else {
                    commands.recv().await
                }
            };
            let now = match events.next(self.pe.poll_timeout(), command).await {
                Wake::Inputs(now) => {
                    for input in events.drain() {
                        self.input(input, now);
                    }
                    now
                }
                Wake::Timeout(now) => {
                    self.pe.handle_timeout(now);
                    now
                }
                Wake::Other(Some(Command::SetLoad(load, reply)), now) => {
                    let _ = reply.send(self.pe.set_load(now, load));
                    now
                }
                Wake::Other(Some(Command::Deregister) | None, now) => {
                    deregistering = true;
                    self.pe.deregister(now);
                    now
                }
                Wake::Closed => break,
            };
            if self.flush(now) {
                // Let the writers hand the last messages to the kernel.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return;
            }
        }
    }

    fn input(&mut self, input: Input, now: Time) {
        match input {
            Input::Connected(conn, Ok(a)) => {
                debug!(conn = conn.0, peer = ?a.peer_addr(), "registrar association up");
                let link = self.spawn_link(conn, a);
                self.links.insert(conn, link);
                self.pe.registrar_connected(now, conn);
            }
            Input::Connected(conn, Err(e)) => {
                info!(conn = conn.0, "cannot reach registrar {e}: still hunting");
                self.pe.registrar_closed(now, conn);
            }
            Input::Accepted(a) => {
                let remote = a
                    .peer_addr()
                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                let conn = self.pe.registrar_accepted(now, remote);
                debug!(conn = conn.0, %remote, "registrar opened an association");
                let link = self.spawn_link(conn, a);
                self.links.insert(conn, link);
            }
            Input::Message(conn, bytes) => {
                if self.links.contains_key(&conn) {
                    self.pe.registrar_received(now, conn, &bytes);
                }
            }
            Input::Closed(conn) => {
                if self.links.remove(&conn).is_some() {
                    debug!(conn = conn.0, "registrar association closed");
                    self.pe.registrar_closed(now, conn);
                }
            }
            Input::Announce(from, bytes) => self.pe.announce_received(now, from, &bytes),
        }
    }

    fn spawn_link(&self, conn: RegConn, a: Association) -> Link {
        link::spawn(
            a,
            SEND_QUEUE,
            self.tx.clone(),
            move |m| Input::Message(conn, m),
            move |_| Input::Closed(conn),
        )
    }

    /// Carries out what the state machine asked for; true once it has
    /// deregistered (the driver ends).
    fn flush(&mut self, now: Time) -> bool {
        while let Some(t) = self.pe.poll_transmit() {
            match t {
                PeTransmit::Connect { conn, to } => {
                    let tx = self.tx.clone();
                    let carrier = self.carrier;
                    let local = self.control_addr;
                    let timeout = self.connect_timeout;
                    let tls = self.tls.clone();
                    tokio::spawn(async move {
                        let mut r = connect_registrar(local, &to, carrier, timeout).await;
                        if let Some(tls) = tls {
                            r = match r {
                                Ok(a) => tls_registrar(&tls, a, timeout).await,
                                Err(e) => Err(e),
                            };
                        }
                        let _ = tx.send(Input::Connected(conn, r)).await;
                    });
                }
                PeTransmit::Send { conn, bytes } => {
                    if let Some(link) = self.links.get_mut(&conn) {
                        if link.send(bytes).is_err() {
                            warn!(
                                conn = conn.0,
                                "registrar association not reading: dropping it"
                            );
                            self.links.remove(&conn);
                            self.pe.registrar_closed(now, conn);
                        }
                    }
                }
                PeTransmit::Close { conn } => {
                    self.links.remove(&conn);
                }
            }
        }
        let mut done = false;
        while let Some(e) = self.pe.poll_event() {
            log_event(&e);
            done |= matches!(e, PeEvent::Deregistered { .. });
            // The application may not read events: the newest are dropped.
            let _ = self.events.try_send(e);
        }
        self.state.send_if_modified(|s| {
            let new = self.pe.state();
            let changed = *s != new;
            *s = new;
            changed
        });
        done
    }
}

/// The transport under TLS: TCP (the only mapping TLS runs over).
pub(crate) fn tls_transport(mode: TransportMode) -> io::Result<TransportMode> {
    match mode {
        TransportMode::Sctp => Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "TLS runs over the TCP mapping only: use --transport tcp",
        )),
        _ => Ok(TransportMode::Tcp),
    }
}

/// Starts TLS on a new registrar association; the server must hold a
/// registrar certificate of the scope.
pub(crate) async fn tls_registrar(
    tls: &TlsClient,
    a: Association,
    timeout: Duration,
) -> io::Result<Association> {
    let peer = a.peer_addr();
    let r = tokio::time::timeout(timeout, tls.connect(a, Expect::Registrar))
        .await
        .unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            ))
        });
    if let Err(e) = &r {
        warn!(registrar = ?peer, "TLS with the registrar failed: {e}");
    }
    r
}

/// Connects to a registrar from the control endpoint's port, falling back
/// to an ephemeral port (then a takeover cannot reach this PE, but
/// registration works) when the kernel refuses the shared port.
async fn connect_registrar(
    local: SocketAddr,
    to: &[SocketAddr],
    carrier: Carrier,
    timeout: Duration,
) -> io::Result<Association> {
    let mut last = io::Error::new(io::ErrorKind::AddrNotAvailable, "no registrar address");
    for &addr in to {
        // A dual-stack control endpoint ([::]) reaches both families.
        let dual = local.is_ipv6() && local.ip().is_unspecified();
        if local.is_ipv4() == addr.is_ipv4() || dual {
            match tokio::time::timeout(timeout, data::connect_from(local, addr, carrier)).await {
                Ok(Ok(a)) => return Ok(a),
                Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    last = e;
                    continue;
                }
                Ok(Err(e)) => {
                    warn!(%local, %addr, "cannot connect from the control endpoint ({e}): using an ephemeral port, so a takeover cannot reach this PE");
                }
                Err(_) => {
                    last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                    continue;
                }
            }
        }
        match tokio::time::timeout(timeout, transport::connect(addr, carrier, Ppid::Asap)).await {
            Ok(Ok(a)) => return Ok(a),
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
        }
    }
    // The error names every address tried: the operator's first question.
    let tried: Vec<String> = to.iter().map(SocketAddr::to_string).collect();
    Err(io::Error::new(
        last.kind(),
        format!("{} ({last})", tried.join(", ")),
    ))
}

fn log_event(e: &PeEvent) {
    match e {
        PeEvent::Registered { pe_id, registrar } => {
            info!(pe = %pe_id, registrar = ?registrar, "registered")
        }
        PeEvent::RegistrationFailed { cause } => match cause {
            RegistrationFailure::Rejected(e) => {
                warn!("registration refused: {}", cause_names(e))
            }
            RegistrationFailure::NoResponse => {
                warn!("registration unanswered: trying another registrar")
            }
            RegistrationFailure::NoRegistrar => warn!("no registrar reached: still hunting"),
            RegistrationFailure::TooLong(e) => warn!("registration not sent: {e}"),
        },
        PeEvent::HomeLost { registrar } => warn!(?registrar, "home registrar lost: hunting"),
        PeEvent::HomeChanged { from, to } => {
            info!(?from, %to, "taken over by a new home registrar")
        }
        PeEvent::Deregistered { confirmed } => info!(confirmed, "deregistered"),
        PeEvent::BadMessage { conn, error } => {
            warn!(conn = conn.0, "bad message from registrar: {error}")
        }
        PeEvent::PeerError { conn, error } => {
            warn!(
                conn = conn.0,
                "registrar reported an error: {}",
                cause_names(error)
            )
        }
    }
}

/// The causes of an Operation Error by name (RSPLIB's private codes too).
fn cause_names(e: &rserpool_proto::wire::OperationError) -> String {
    let names: Vec<String> = e
        .causes
        .iter()
        .map(|c| format!("{} ({:#06x})", c.code.name(), c.code.code()))
        .collect();
    names.join(", ")
}

/// Seconds since the Unix epoch (cookie issue times).
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
