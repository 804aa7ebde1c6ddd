//! The registrar daemon: the I/O-free registrar of `rserpool-proto`
//! driven by tokio sockets and a real clock.
//!
//! One task owns the state machine. Over TCP (and one-to-one SCTP) every
//! association has a reader task that forwards whole messages to it and a
//! writer task fed through a bounded queue; over one-to-many SCTP the
//! registrar task reads each endpoint itself, a batch per receive, and one
//! sender per endpoint writes what its links stage. Either way a slow peer never blocks the registrar:
//! when its queue is full, its association is dropped.

use crate::announce::{AnnounceListener, Announcer, MulticastConfig};
use crate::driver::{Clock, EventLoop, Wake};
use crate::http::{self, hub};
use crate::metrics::{self, DaemonCounters, SnapshotRequest};
use crate::transport::link::{self, AnyLink, Full, Limits, Link};
use crate::transport::many;
use crate::transport::tls::{ClientAuth, Expect, TlsClient, TlsConfig, TlsServer};
use crate::transport::{self, Association, Carrier, Listener, Ppid, SctpSockets, TransportMode};
use rserpool_proto::Time;
use rserpool_proto::handlespace::AssocId;
use rserpool_proto::registrar::{self as core, ConnId, Event, Registrar, Transmit};
use rserpool_proto::wire::enrp::msg_type as enrp_type;
use rserpool_proto::wire::{Protocol, TransportParam, TransportUse};
use std::collections::HashMap;

/// Maps keyed by identifiers this process or the kernel assigns (never
/// chosen by a peer), looked up for every message: a fast hash suffices.
pub(super) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub(super) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

mod one_to_many;
use one_to_many::ManyInput;

/// Messages queued for one ASAP association before it counts as stuck.
const SEND_QUEUE: usize = 4096;

/// The same for a peer registrar: every handle update goes through it, and
/// a dropped peer link loses updates until the next audit, so it may lag
/// far behind before it counts as stuck.
const PEER_SEND_QUEUE: usize = 1 << 18;
/// Bytes queued for one ASAP association before it counts as not reading
/// (a PU that never reads its answers must not grow the registrar).
const SEND_QUEUE_BYTES: usize = 1 << 20;
/// The same for a peer registrar (a whole handle table in flight).
const PEER_SEND_QUEUE_BYTES: usize = 64 << 20;
/// An accepted association must send its first message within this, and
/// complete any message it starts within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// An ASAP association that sends nothing for two sweeps this far apart is
/// closed (a PE acknowledges keep-alives every few seconds; a pool user
/// reconnects when it needs the registrar again).
pub const IDLE_SWEEP: Duration = Duration::from_secs(120);
/// Open files kept for listeners, announces, logs and metrics.
const RESERVED_FILES: u64 = 64;
/// One handle resolution in this many is timed for the latency histogram.
const HR_SAMPLE: u64 = 16;
/// Handle Updates to peers may wait this long for others to share their
/// write: a re-registration sends one to every peer, and a write to a peer
/// costs as much as one to a PE (over loopback it carries the peer's
/// receive too), so one per wake-up would double the registrar's writes.
/// Any other ENRP message goes at the end of its wake-up, with what waits.
const PEER_UPDATE_HOLD: Duration = Duration::from_millis(1);
/// Handle Updates held at most before they go anyway.
const PEER_UPDATE_BATCH: usize = 256;
/// How long a connection attempt to a peer or PE may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// TLS handshakes in progress at once per listener; connections beyond
/// are closed unanswered (a handshake costs a signature).
const MAX_HANDSHAKES: usize = 1024;

/// Everything the daemon needs besides the protocol configuration.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DaemonConfig {
    /// Protocol settings; its transports are filled in from the bound
    /// addresses at start.
    pub registrar: core::Config,
    /// ASAP listening addresses (several for multi-homing).
    pub asap_addrs: Vec<SocketAddr>,
    /// ENRP listening addresses.
    pub enrp_addrs: Vec<SocketAddr>,
    /// TCP or kernel SCTP (`Auto`: SCTP where the kernel has it).
    pub transport: TransportMode,
    /// HTTP listener: JSON API, watch, dashboard and Prometheus metrics
    /// (see the `http` module).
    pub metrics: Option<SocketAddr>,
    /// ASAP Server Announces are sent here (when `registrar.announce`).
    pub asap_announce: Option<MulticastConfig>,
    /// ENRP Presence announces are sent and listened for here.
    pub enrp_announce: Option<MulticastConfig>,
    /// Most ASAP and ENRP associations at once; further ones are refused.
    /// Lowered at start to what the process's open-file limit allows.
    pub max_associations: usize,
    /// Most associations accepted from one host (IP address) at once, so
    /// that one host cannot take every place; `None`: a quarter of
    /// `max_associations`.
    pub max_associations_per_host: Option<usize>,
    /// An accepted association's first message, and the rest of any
    /// message it starts, must arrive within this.
    pub handshake_timeout: Duration,
    /// ASAP associations silent for two sweeps this far apart are closed.
    pub idle_sweep: Duration,
    /// Seed of the registrar's random generator (PE selection, IDs).
    pub seed: u64,
    /// TLS with the scope CA and this registrar's certificate: ASAP and
    /// ENRP over TLS (TCP only), ENRP mutually authenticated, PEs
    /// authenticated by their certificates, pool users by none.
    pub tls: Option<TlsConfig>,
    /// Over kernel SCTP: ASAP and ENRP each on one one-to-many socket
    /// (no descriptor per PE, PU or peer; batched receive and send) or a
    /// socket per association; `Auto` picks one-to-many where the kernel
    /// gives each association its own send buffer. Peers connect to
    /// either alike.
    pub sctp_sockets: SctpSockets,
}

impl DaemonConfig {
    /// A configuration with the defaults: TCP or SCTP chosen
    /// automatically, no HTTP listener, no announces, 100,000
    /// associations, a random seed.
    pub fn new(
        registrar: core::Config,
        asap_addrs: Vec<SocketAddr>,
        enrp_addrs: Vec<SocketAddr>,
    ) -> Self {
        DaemonConfig {
            registrar,
            asap_addrs,
            enrp_addrs,
            transport: TransportMode::Auto,
            metrics: None,
            asap_announce: None,
            enrp_announce: None,
            max_associations: 100_000,
            max_associations_per_host: None,
            handshake_timeout: HANDSHAKE_TIMEOUT,
            idle_sweep: IDLE_SWEEP,
            seed: crate::random_seed(),
            tls: None,
            sctp_sockets: SctpSockets::default(),
        }
    }
}

/// A running registrar.
#[derive(Debug)]
pub struct RegistrarHandle {
    asap_addrs: Vec<SocketAddr>,
    enrp_addrs: Vec<SocketAddr>,
    metrics_addr: Option<SocketAddr>,
    carrier: Carrier,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<io::Result<()>>,
    aux: Vec<JoinHandle<()>>,
}

impl RegistrarHandle {
    /// The bound ASAP addresses (with the ports chosen for port 0).
    pub fn asap_addrs(&self) -> &[SocketAddr] {
        &self.asap_addrs
    }
    /// The bound ENRP addresses.
    pub fn enrp_addrs(&self) -> &[SocketAddr] {
        &self.enrp_addrs
    }
    /// The HTTP listener's address (API, dashboard, `/metrics`).
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }
    /// The same as [`RegistrarHandle::metrics_addr`].
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }
    /// The transport the registrar's associations run over.
    pub fn carrier(&self) -> Carrier {
        self.carrier
    }

    /// Graceful stop: the registrar says goodbye and closes its associations.
    /// Returns once its listeners are closed (their addresses are free).
    pub async fn stop(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let r = (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)));
        for t in std::mem::take(&mut self.aux) {
            t.abort();
            let _ = t.await;
        }
        r
    }

    /// Stops at once, as a crash would: no goodbye, sockets just close.
    pub fn kill(self) {
        self.task.abort();
        for t in &self.aux {
            t.abort();
        }
    }

    /// Waits until the registrar ends by itself (it does only on errors).
    pub async fn join(mut self) -> io::Result<()> {
        (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(io::Error::other(e)))
    }
}

impl Drop for RegistrarHandle {
    fn drop(&mut self) {
        self.task.abort();
        for t in &self.aux {
            t.abort();
        }
    }
}

/// What the I/O tasks tell the registrar task.
enum Input {
    AsapAccepted(Association),
    AsapMessage(AssocId, Vec<u8>),
    AsapClosed(AssocId, Option<io::Error>),
    AsapConnected(AssocId, io::Result<Association>),
    EnrpAccepted(Association),
    EnrpConnected(ConnId, io::Result<Association>),
    EnrpMessage(ConnId, Vec<u8>),
    EnrpClosed(ConnId, Option<io::Error>),
    EnrpAnnounce(SocketAddr, Vec<u8>),
}

/// Starts a registrar: binds its sockets, then runs it in the background.
pub async fn start(mut cfg: DaemonConfig) -> io::Result<RegistrarHandle> {
    let tls = match &cfg.tls {
        None => None,
        Some(t) => {
            if cfg.transport == TransportMode::Sctp {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "TLS runs over the TCP mapping only: use --transport tcp",
                ));
            }
            cfg.transport = TransportMode::Tcp;
            cfg.registrar.require_identity = true;
            Some(RegistrarTls {
                asap: t.server(ClientAuth::Optional)?,
                enrp: t.server(ClientAuth::Required)?,
                client: t.client()?,
            })
        }
    };
    let carrier = cfg.transport.resolve()?;
    let one_to_many =
        carrier == Carrier::Sctp && cfg.sctp_sockets.resolve() == SctpSockets::OneToMany;
    if carrier == Carrier::Sctp && cfg.sctp_sockets == SctpSockets::Auto && !one_to_many {
        info!(
            "a socket per SCTP association: this kernel shares one send buffer among a \
             one-to-many socket's associations (sysctl net.sctp.sndbuf_policy=1 gives each \
             its own, and this registrar one socket for all)"
        );
    }
    let (asap, asap_many, asap_addrs) = if one_to_many {
        let (sender, addrs) = bind_many(&cfg.asap_addrs, Ppid::Asap)?;
        (None, Some(sender), addrs)
    } else {
        let l = Listener::bind(&cfg.asap_addrs, carrier, Ppid::Asap)
            .map_err(|e| bind_error("ASAP", &cfg.asap_addrs, e))?;
        let addrs = l.local_addrs()?;
        (Some(l), None, addrs)
    };
    // With one ENRP address, associations to peers leave from it (as
    // from RSPLIB's one-to-many socket): a peer that checks the source of
    // an association against the announced ENRP endpoint accepts it.
    let (enrp, enrp_many, enrp_addrs) = if one_to_many {
        // Associations to peers are opened on the same socket, so they
        // leave from the ENRP port too.
        let (sender, addrs) = bind_many(&cfg.enrp_addrs, Ppid::Enrp)?;
        (None, Some(sender), addrs)
    } else {
        let l = match cfg.enrp_addrs.as_slice() {
            [one] => Listener::bind_shared(*one, carrier, Ppid::Enrp),
            many => Listener::bind(many, carrier, Ppid::Enrp),
        }
        .map_err(|e| bind_error("ENRP", &cfg.enrp_addrs, e))?;
        let addrs = l.local_addrs()?;
        (Some(l), None, addrs)
    };
    if cfg.registrar.peer_allow.is_empty() && enrp_addrs.iter().any(|a| !a.ip().is_loopback()) {
        warn!(
            "ENRP on {enrp_addrs:?} takes any host that reaches it as a peer registrar: \
             give --allow-peer for a network others reach"
        );
    }
    cfg.registrar.asap_transport = Some(transport_param(carrier, &asap_addrs));
    cfg.registrar.enrp_transport = transport_param(carrier, &enrp_addrs);

    let (tx, rx) = mpsc::channel::<Input>(8192);
    let mut aux = Vec::new();
    let handshake = cfg.handshake_timeout;
    if let Some(asap) = asap {
        aux.push(tokio::spawn(accept_loop(
            asap,
            tx.clone(),
            Input::AsapAccepted,
            tls.as_ref().map(|t| (t.asap.clone(), handshake)),
        )));
    }
    for sender in [&asap_many, &enrp_many].into_iter().flatten() {
        aux.push(tokio::spawn(sender.clone().run_writer()));
    }
    if let Some(enrp) = enrp {
        aux.push(tokio::spawn(accept_loop(
            enrp,
            tx.clone(),
            Input::EnrpAccepted,
            tls.as_ref().map(|t| (t.enrp.clone(), handshake)),
        )));
    }

    let (metrics_tx, metrics_rx) = mpsc::channel::<SnapshotRequest>(16);
    let (calls_tx, calls_rx) = mpsc::channel::<hub::Call>(http::CALL_QUEUE);
    let mut metrics_addr = None;
    if let Some(addr) = cfg.metrics {
        let listener = metrics::bind(addr)
            .await
            .map_err(|e| bind_error("metrics/HTTP", &[addr], e))?;
        metrics_addr = Some(listener.local_addr()?);
        let channels = http::Channels {
            calls: calls_tx,
            metrics: metrics_tx,
        };
        // With a certificate the API is HTTPS, as ASAP and ENRP are TLS.
        let https = match &cfg.tls {
            Some(t) => Some(t.server(ClientAuth::Optional)?),
            None => None,
        };
        aux.push(tokio::spawn(async move {
            if let Err(e) = http::serve(listener, channels, https).await {
                warn!("HTTP endpoint stopped: {e}");
            }
        }));
    }

    let asap_announcer = match (&cfg.asap_announce, cfg.registrar.announce) {
        (Some(m), true) => Some(Announcer::new(m)?),
        _ => None,
    };
    let enrp_announcer = match (&cfg.enrp_announce, cfg.registrar.announce) {
        (Some(m), true) => Some(Announcer::new(m)?),
        _ => None,
    };
    if let Some(m) = &cfg.enrp_announce {
        let listener = AnnounceListener::new(m)?;
        let tx = tx.clone();
        aux.push(tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            loop {
                match listener.recv(&mut buf).await {
                    Ok((bytes, from)) => {
                        if tx
                            .send(Input::EnrpAnnounce(from, bytes.to_vec()))
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        warn!("ENRP announce listener: {e}");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        }));
    }

    if one_to_many && !transport::sctp_send_buffer_per_association() {
        warn!(
            "--sctp-sockets one-to-many with net.sctp.sndbuf_policy 0: the associations share \
             one send buffer, so a peer that stops reading delays the others until it is \
             dropped, and the kernel's cost per message grows with their number"
        );
    }
    let max_associations = match open_file_limit() {
        // Associations of a one-to-many endpoint take no file.
        _ if one_to_many => cfg.max_associations,
        Some(files) if files.saturating_sub(RESERVED_FILES) < cfg.max_associations as u64 => {
            let n = usize::try_from(files.saturating_sub(RESERVED_FILES)).unwrap_or(usize::MAX);
            info!(
                "at most {n} associations: the open-file limit is {files} (raise it with ulimit -n)"
            );
            n
        }
        _ => cfg.max_associations,
    };
    info!(
        id = %cfg.registrar.id, %carrier, sctp_sockets = %if one_to_many { "one-to-many" } else { "one-to-one" },
        tls = tls.is_some(), asap = ?asap_addrs, enrp = ?enrp_addrs,
        "registrar started"
    );
    let (stop_tx, stop_rx) = oneshot::channel();
    let clock = Clock::start();
    let registrar: Registrar = Registrar::new(cfg.registrar.clone(), Time::ZERO, cfg.seed);
    let driver = Driver {
        registrar,
        clock,
        carrier,
        tx,
        asap_links: FastMap::default(),
        enrp_links: FastMap::default(),
        asap_announcer,
        enrp_announcer,
        max_associations,
        hosts: HostQuota::new(
            cfg.max_associations_per_host
                .unwrap_or((max_associations / 4).max(1)),
        ),
        asap_limits: Limits {
            queue: SEND_QUEUE,
            queue_bytes: SEND_QUEUE_BYTES,
            first_message: Some(cfg.handshake_timeout),
            partial_message: Some(cfg.handshake_timeout),
        },
        enrp_limits: Limits {
            queue: PEER_SEND_QUEUE,
            queue_bytes: PEER_SEND_QUEUE_BYTES,
            first_message: Some(cfg.handshake_timeout),
            partial_message: Some(cfg.handshake_timeout),
        },
        idle_sweep: cfg.idle_sweep,
        enrp_source: (enrp_addrs.len() == 1).then(|| enrp_addrs[0]),
        hr_seen: 0,
        next_idle_sweep: Instant::now() + cfg.idle_sweep,
        idle_marks: FastSet::default(),
        unreachable_peers: std::collections::HashSet::new(),
        counters: DaemonCounters {
            hr_sample: HR_SAMPLE,
            ..DaemonCounters::default()
        },
        dirty_asap: Vec::new(),
        dirty_enrp: Vec::new(),
        hub: hub::Hub::new(hub::Endpoints {
            transport: carrier.to_string(),
            asap: asap_addrs.clone(),
            enrp: enrp_addrs.clone(),
        }),
        // Without an HTTP listener nobody reads the change history.
        http: metrics_addr.is_some(),
        enrp_tls: tls.map(|t| t.client),
        many: one_to_many::Endpoints::new(asap_many, enrp_many),
        peer_held: 0,
        peer_urgent: false,
        peer_due: None,
        now: Time::ZERO,
        handshake_timeout: cfg.handshake_timeout,
    };
    let events = EventLoop::new(clock, rx);
    let task = tokio::spawn(driver.run(events, metrics_rx, calls_rx, stop_rx));
    Ok(RegistrarHandle {
        asap_addrs,
        enrp_addrs,
        metrics_addr,
        carrier,
        stop: Some(stop_tx),
        task,
        aux,
    })
}

/// A one-to-many endpoint on `addrs` (their port, if 0, chosen by the
/// kernel): its sender and the addresses it listens on.
fn bind_many(addrs: &[SocketAddr], ppid: Ppid) -> io::Result<(Arc<many::Sender>, Vec<SocketAddr>)> {
    let role = match ppid {
        Ppid::Asap => "ASAP",
        Ppid::Enrp => "ENRP",
    };
    let ep = many::Endpoint::bind(addrs, ppid).map_err(|e| bind_error(role, addrs, e))?;
    let port = ep.local_addr()?.port();
    let bound = addrs
        .iter()
        .map(|a| SocketAddr::new(a.ip(), port))
        .collect();
    Ok((many::Sender::new(Arc::new(ep)), bound))
}

/// A bind failure that names the listener's role and address(es), e.g.
/// "ENRP address 127.0.0.1:9901 is already in use (another registrar?)".
fn bind_error(role: &str, addrs: &[SocketAddr], e: io::Error) -> io::Error {
    let list = addrs
        .iter()
        .map(SocketAddr::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    let what = if addrs.len() == 1 {
        "address"
    } else {
        "addresses"
    };
    let msg = if e.kind() == io::ErrorKind::AddrInUse {
        format!("{role} {what} {list} is already in use (another registrar?)")
    } else {
        format!("{role} {what} {list}: {e}")
    };
    io::Error::new(e.kind(), msg)
}

/// How peers and PEs reach a listener, as a transport parameter.
fn transport_param(carrier: Carrier, addrs: &[SocketAddr]) -> TransportParam {
    let port = addrs.first().map_or(0, SocketAddr::port);
    match carrier {
        Carrier::Sctp => TransportParam::Sctp {
            port,
            transport_use: TransportUse::DataPlusControl,
            addresses: addrs.iter().map(SocketAddr::ip).collect(),
        },
        Carrier::Tcp => TransportParam::Tcp {
            port,
            transport_use: TransportUse::DataPlusControl,
            address: addrs.first().map_or([0, 0, 0, 0].into(), SocketAddr::ip),
        },
    }
}

/// The registrar's TLS ends: its two listeners and its outgoing ENRP.
struct RegistrarTls {
    asap: TlsServer,
    enrp: TlsServer,
    client: TlsClient,
}

async fn accept_loop(
    listener: Listener,
    tx: mpsc::Sender<Input>,
    wrap: fn(Association) -> Input,
    tls: Option<(TlsServer, Duration)>,
) {
    let deliver = move |a: Association, _peer: SocketAddr| {
        let tx = tx.clone();
        async move { tx.send(wrap(a)).await.is_ok() }
    };
    crate::transport::tls::accept_loop(listener, tls, MAX_HANDSHAKES, deliver).await;
}

struct Driver {
    registrar: Registrar,
    clock: Clock,
    carrier: Carrier,
    tx: mpsc::Sender<Input>,
    asap_links: FastMap<AssocId, AnyLink>,
    enrp_links: FastMap<ConnId, AnyLink>,
    asap_announcer: Option<Announcer>,
    enrp_announcer: Option<Announcer>,
    max_associations: usize,
    /// Accepted associations per remote host.
    hosts: HostQuota,
    /// Limits of accepted ASAP and ENRP associations (those this
    /// registrar opens wait for no first message).
    asap_limits: Limits,
    enrp_limits: Limits,
    idle_sweep: Duration,
    /// Where outgoing ENRP associations leave from, if the port is shared.
    enrp_source: Option<SocketAddr>,
    /// Handle resolutions received, for sampling their latency.
    hr_seen: u64,
    /// When idle ASAP associations are looked for next.
    next_idle_sweep: Instant,
    /// ASAP associations silent since the last sweep.
    idle_marks: FastSet<AssocId>,
    /// Peer addresses whose last connection attempt failed (logged once).
    unreachable_peers: std::collections::HashSet<SocketAddr>,
    /// What the metrics show besides the registrar's statistics.
    counters: DaemonCounters,
    /// Links with messages pushed since their last flush.
    dirty_asap: Vec<AssocId>,
    dirty_enrp: Vec<ConnId>,
    /// State of the HTTP API: history and watchers.
    hub: hub::Hub,
    /// Whether the HTTP listener runs (the hub records changes only then).
    http: bool,
    /// TLS for outgoing ENRP associations (the peer must be a registrar)
    /// and for those to taken-over PEs.
    enrp_tls: Option<TlsClient>,
    /// The one-to-many endpoints, if ASAP and ENRP run on them.
    many: one_to_many::Endpoints,
    /// Messages pushed on peer links and not yet flushed, whether one is
    /// not a Handle Update, and when they must go at the latest (see
    /// [`PEER_UPDATE_HOLD`]).
    peer_held: usize,
    peer_urgent: bool,
    peer_due: Option<Time>,
    /// The time of the current wake-up.
    now: Time,
    handshake_timeout: Duration,
}

/// What else than association events wakes the registrar task.
enum Other {
    /// What one receive of a one-to-many endpoint took.
    Many(Protocol, Vec<ManyInput>),
    Metrics(Option<SnapshotRequest>),
    Call(Option<hub::Call>),
    Stop,
}

impl Driver {
    fn now(&self) -> Time {
        self.clock.now()
    }

    fn instant(&self, t: Time) -> Instant {
        self.clock.instant(t)
    }

    /// The association limits, for either kind of link: the place of the
    /// new association's host, or `None` (logged; the caller refuses it).
    fn admission(&mut self, remote: Option<SocketAddr>, protocol: Protocol) -> Option<HostSlot> {
        let peer = remote.map_or_else(|| "unknown".to_string(), |r| r.to_string());
        if self.asap_links.len() + self.enrp_links.len() >= self.max_associations {
            warn!(%peer, "association limit reached: refusing {protocol:?} association");
            return None;
        }
        let slot = self.hosts.take(remote);
        if slot.is_none() {
            warn!(%peer, "association limit of the host reached: refusing {protocol:?} association");
            self.counters.refused_per_host += 1;
        }
        slot
    }

    async fn run(
        mut self,
        mut events: EventLoop<Input>,
        mut metrics_rx: mpsc::Receiver<SnapshotRequest>,
        mut calls_rx: mpsc::Receiver<hub::Call>,
        mut stop: oneshot::Receiver<()>,
    ) -> io::Result<()> {
        self.flush().await;
        let mut metrics_open = true;
        let mut calls_open = true;
        // The one-to-many endpoints are read by this task itself: a batch
        // costs no task switch and no channel on its way to the machine.
        let asap_ep = self.many.asap.as_ref().map(|s| s.endpoint().clone());
        let enrp_ep = self.many.enrp.as_ref().map(|s| s.endpoint().clone());
        let mut asap_buf = one_to_many::buffer(asap_ep.is_some());
        let mut enrp_buf = one_to_many::buffer(enrp_ep.is_some());
        loop {
            let other = async {
                tokio::select! {
                    req = metrics_rx.recv(), if metrics_open => Other::Metrics(req),
                    call = calls_rx.recv(), if calls_open => Other::Call(call),
                    _ = &mut stop => Other::Stop,
                    b = one_to_many::receive(asap_ep.as_deref(), &mut asap_buf, Protocol::Asap) => {
                        Other::Many(Protocol::Asap, b)
                    }
                    b = one_to_many::receive(enrp_ep.as_deref(), &mut enrp_buf, Protocol::Enrp) => {
                        Other::Many(Protocol::Enrp, b)
                    }
                }
            };
            let deadline = [
                self.registrar.poll_timeout(),
                self.many.deadline(),
                self.peer_due,
            ]
            .into_iter()
            .flatten()
            .min();
            let wake = events.next(deadline, other).await;
            if let Wake::Inputs(now) | Wake::Timeout(now) | Wake::Other(_, now) = &wake {
                self.now = *now;
            }
            match wake {
                Wake::Inputs(now) => {
                    self.sweep_idle(now);
                    self.expire_many(now);
                    for input in events.drain() {
                        self.input(input, now);
                    }
                }
                Wake::Timeout(now) => {
                    self.sweep_idle(now);
                    self.expire_many(now);
                    self.registrar.handle_timeout(now);
                }
                Wake::Other(Other::Metrics(Some(req)), _) => {
                    let _ = req.send(self.render_metrics());
                }
                // No metrics endpoint (or it stopped): a closed channel is
                // always ready, so stop polling it.
                Wake::Other(Other::Metrics(None), _) => metrics_open = false,
                Wake::Other(Other::Many(protocol, batch), now) => {
                    self.sweep_idle(now);
                    self.expire_many(now);
                    for i in batch {
                        self.many_input(protocol, i, now);
                    }
                }
                Wake::Other(Other::Call(Some(call)), _) => {
                    let links = hub::Links {
                        asap: self.asap_links.len(),
                        enrp: self.enrp_links.len(),
                    };
                    self.hub.answer(call, &mut self.registrar, links);
                }
                Wake::Other(Other::Call(None), _) => calls_open = false,
                Wake::Other(Other::Stop, now) => {
                    info!(id = %self.registrar.id(), "registrar stopping");
                    self.registrar.shutdown(now);
                    self.peer_urgent = true;
                    self.flush().await;
                    // Let writers hand their last messages to the kernel.
                    self.asap_links.clear();
                    self.enrp_links.clear();
                    self.many.flush();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    return Ok(());
                }
                Wake::Closed => break,
            }
            self.flush().await;
        }
        Ok(())
    }

    fn input(&mut self, input: Input, now: Time) {
        match input {
            Input::AsapAccepted(a) => {
                let Some(slot) = self.admission(a.peer_addr(), Protocol::Asap) else {
                    refuse(a, Protocol::Asap);
                    return;
                };
                let remote = a
                    .peer_addr()
                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                let id = self.registrar.asap_accepted(now, remote);
                if let Some(identity) = a.identity() {
                    debug!(assoc = id, %identity, "ASAP association authenticated");
                    self.registrar.asap_identity(id, identity.clone());
                }
                if a.peer_addresses().len() > 1 {
                    self.registrar.asap_remote_addresses(id, a.peer_addresses());
                }
                debug!(assoc = id, %remote, "ASAP association up");
                let link = self
                    .spawn_link(
                        a,
                        self.asap_limits,
                        move |bytes| Input::AsapMessage(id, bytes),
                        move |e| Input::AsapClosed(id, e),
                    )
                    .with_guard(slot);
                self.asap_links.insert(id, AnyLink::Own(link));
            }
            Input::AsapMessage(id, bytes) => {
                if self.asap_links.contains_key(&id) {
                    self.asap_received(now, id, &bytes);
                }
            }
            Input::AsapClosed(id, e) => {
                if self.asap_links.remove(&id).is_some() {
                    debug!(assoc = id, error = ?e, "ASAP association closed");
                    self.registrar.asap_closed(now, id);
                }
            }
            Input::AsapConnected(id, Ok(a)) => {
                if let Some(identity) = a.identity() {
                    self.registrar.asap_identity(id, identity.clone());
                }
                let link = self.spawn_link(
                    a,
                    Limits {
                        first_message: None,
                        ..self.asap_limits
                    },
                    move |bytes| Input::AsapMessage(id, bytes),
                    move |e| Input::AsapClosed(id, e),
                );
                self.asap_links.insert(id, AnyLink::Own(link));
                self.registrar.asap_connected(now, id);
            }
            Input::AsapConnected(id, Err(e)) => {
                debug!(assoc = id, "ASAP connect failed: {e}");
                self.registrar.asap_closed(now, id);
            }
            Input::EnrpAccepted(a) => {
                let Some(slot) = self.admission(a.peer_addr(), Protocol::Enrp) else {
                    refuse(a, Protocol::Enrp);
                    return;
                };
                let remote = a
                    .peer_addr()
                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                let conn = self.registrar.enrp_accepted(now, remote);
                debug!(conn = conn.0, %remote, "ENRP association accepted");
                if let Some(identity) = a.identity() {
                    self.registrar.enrp_identity(conn, identity.clone());
                }
                let link = self
                    .spawn_link(
                        a,
                        self.enrp_limits,
                        move |bytes| Input::EnrpMessage(conn, bytes),
                        move |e| Input::EnrpClosed(conn, e),
                    )
                    .with_guard(slot);
                self.enrp_links.insert(conn, AnyLink::Own(link));
            }
            Input::EnrpConnected(conn, Ok(a)) => {
                let identity = a.identity().cloned();
                if let Some(to) = self.registrar.conn_address(conn) {
                    if self.unreachable_peers.remove(&to) {
                        info!(peer = %to, "peer registrar reachable again");
                    }
                }
                let link = self.spawn_link(
                    a,
                    Limits {
                        first_message: None,
                        ..self.enrp_limits
                    },
                    move |bytes| Input::EnrpMessage(conn, bytes),
                    move |e| Input::EnrpClosed(conn, e),
                );
                self.enrp_links.insert(conn, AnyLink::Own(link));
                if let Some(identity) = identity {
                    self.registrar.enrp_identity(conn, identity);
                }
                self.registrar.enrp_connected(now, conn);
            }
            Input::EnrpConnected(conn, Err(e)) => {
                // Said once per address at INFO (an operator's --peer may be
                // wrong), then at DEBUG while it is retried.
                match self.registrar.conn_address(conn) {
                    Some(to) if self.unreachable_peers.insert(to) => {
                        info!(peer = %to, "cannot reach peer registrar: {e} (retrying)")
                    }
                    _ => debug!(conn = conn.0, "ENRP connect failed: {e}"),
                }
                self.registrar.enrp_closed(now, conn);
            }
            Input::EnrpMessage(conn, bytes) => {
                if self.enrp_links.contains_key(&conn) {
                    self.registrar.enrp_received(now, conn, &bytes);
                }
            }
            Input::EnrpClosed(conn, e) => {
                if self.enrp_links.remove(&conn).is_some() {
                    debug!(conn = conn.0, error = ?e, "ENRP association closed");
                    self.registrar.enrp_closed(now, conn);
                }
            }
            Input::EnrpAnnounce(from, bytes) => {
                self.registrar.enrp_announce_received(now, from, &bytes)
            }
        }
    }

    /// A message of ASAP association `id` to the registrar.
    fn asap_received(&mut self, now: Time, id: AssocId, bytes: &[u8]) {
        // Every HR_SAMPLE-th handle resolution is timed: two clock reads
        // per resolution would cost more than the resolution.
        let timed = bytes.first() == Some(&0x05) && {
            self.hr_seen = self.hr_seen.wrapping_add(1);
            self.hr_seen % HR_SAMPLE == 0
        };
        let start = timed.then(std::time::Instant::now);
        self.registrar.asap_received(now, id, bytes);
        if let Some(start) = start {
            self.counters.hr_latency.record(start.elapsed());
        }
    }

    fn spawn_link(
        &self,
        a: Association,
        limits: Limits,
        on_message: impl Fn(Vec<u8>) -> Input + Send + 'static,
        on_close: impl FnOnce(Option<io::Error>) -> Input + Send + 'static,
    ) -> Link {
        link::spawn_limited(a, limits, self.tx.clone(), on_message, on_close)
    }

    /// Closes ASAP associations silent since the sweep before the last.
    fn sweep_idle(&mut self, now: Time) {
        let at = self.instant(now);
        if at < self.next_idle_sweep {
            return;
        }
        self.next_idle_sweep = at + self.idle_sweep;
        let mut idle = Vec::new();
        for (id, link) in &mut self.asap_links {
            if link.take_activity() {
                self.idle_marks.remove(id);
            } else if !self.idle_marks.insert(*id) {
                idle.push(*id);
            }
        }
        for id in idle {
            debug!(assoc = id, "ASAP association idle: closing it");
            self.idle_marks.remove(&id);
            self.remove_asap(id);
            self.registrar.asap_closed(now, id);
        }
    }

    /// Carries out what the registrar asked for: every message for one
    /// association goes out in one write at the end (see [`Link::flush`]).
    /// Handle Updates alone may wait for more ([`PEER_UPDATE_HOLD`]).
    async fn flush(&mut self) {
        loop {
            self.transmit().await;
            let peers_now = !self.dirty_enrp.is_empty()
                && (self.peer_urgent
                    || self.peer_held >= PEER_UPDATE_BATCH
                    || self.peer_due.is_some_and(|due| due <= self.now));
            if self.dirty_asap.is_empty() && !peers_now {
                break;
            }
            // A link found closed tells the registrar, which may have
            // more to send: hence the loop.
            for assoc in std::mem::take(&mut self.dirty_asap) {
                self.flush_asap(assoc);
            }
            if peers_now {
                self.peer_held = 0;
                self.peer_urgent = false;
                self.peer_due = None;
                for conn in std::mem::take(&mut self.dirty_enrp) {
                    self.flush_enrp(conn);
                }
            }
        }
        if !self.dirty_enrp.is_empty() && self.peer_due.is_none() {
            let hold = u64::try_from(PEER_UPDATE_HOLD.as_micros()).unwrap_or(u64::MAX);
            self.peer_due = Some(Time::from_micros(self.now.as_micros().saturating_add(hold)));
        }
        self.many.flush();
        while let Some(e) = self.registrar.poll_event() {
            self.counters.count(&e);
            if self.http {
                self.hub.observe(&e, &self.registrar);
            }
            log_event(&e);
        }
    }

    /// Sends what is pushed on an ASAP link; drops it if it cannot.
    fn flush_asap(&mut self, assoc: AssocId) {
        let Some(link) = self.asap_links.get_mut(&assoc) else {
            return;
        };
        if let Err(full) = link.flush() {
            self.asap_failed(assoc, full);
        }
    }

    /// Sends what is pushed on an ENRP link; drops it if it cannot.
    fn flush_enrp(&mut self, conn: ConnId) {
        let Some(link) = self.enrp_links.get_mut(&conn) else {
            return;
        };
        if let Err(full) = link.flush() {
            self.enrp_failed(conn, full);
        }
    }

    /// Drops an ASAP link (its association closes gracefully).
    fn remove_asap(&mut self, assoc: AssocId) -> Option<AnyLink> {
        let link = self.asap_links.remove(&assoc)?;
        self.many.forget(&link, Protocol::Asap);
        Some(link)
    }

    /// Drops an ENRP link (its association closes gracefully).
    fn remove_enrp(&mut self, conn: ConnId) -> Option<AnyLink> {
        let link = self.enrp_links.remove(&conn)?;
        self.many.forget(&link, Protocol::Enrp);
        Some(link)
    }

    fn asap_failed(&mut self, assoc: AssocId, full: Full) {
        match full {
            // Its write failed: the peer is gone, not slow.
            Full::Closed => debug!(assoc, "ASAP association closed while sending"),
            _ => warn!(assoc, ?full, "ASAP association not reading: dropping it"),
        }
        if let Some(mut link) = self.remove_asap(assoc) {
            link.abort();
        }
        let now = self.now();
        self.registrar.asap_closed(now, assoc);
    }

    fn enrp_failed(&mut self, conn: ConnId, full: Full) {
        match full {
            Full::Closed => debug!(conn = conn.0, "ENRP association closed while sending"),
            _ => warn!(conn = conn.0, ?full, "ENRP peer not reading: dropping it"),
        }
        if let Some(mut link) = self.remove_enrp(conn) {
            link.abort();
        }
        let now = self.now();
        self.registrar.enrp_closed(now, conn);
    }

    /// Takes the registrar's transmits: messages are pushed on their
    /// links (flushed by the caller), the rest carried out.
    async fn transmit(&mut self) {
        while let Some(t) = self.registrar.poll_transmit() {
            match t {
                Transmit::Asap { assoc, bytes } => {
                    if let Some(link) = self.asap_links.get_mut(&assoc) {
                        match link.push(bytes) {
                            Ok(true) => self.dirty_asap.push(assoc),
                            Ok(false) => {}
                            Err(full) => self.asap_failed(assoc, full),
                        }
                    }
                }
                Transmit::CloseAsap { assoc } => {
                    // What was pushed goes out before the writer closes.
                    self.flush_asap(assoc);
                    self.remove_asap(assoc);
                }
                Transmit::Enrp { conn, bytes } => {
                    if let Some(link) = self.enrp_links.get_mut(&conn) {
                        let update = bytes.first() == Some(&enrp_type::HANDLE_UPDATE);
                        match link.push(bytes) {
                            Ok(first) => {
                                if first {
                                    self.dirty_enrp.push(conn);
                                }
                                self.peer_held += 1;
                                self.peer_urgent |= !update;
                            }
                            Err(full) => self.enrp_failed(conn, full),
                        }
                    }
                }
                Transmit::CloseEnrp { conn } => {
                    self.flush_enrp(conn);
                    self.remove_enrp(conn);
                }
                Transmit::ConnectEnrp { conn, to } if self.many.enrp.is_some() => {
                    let now = self.now();
                    self.connect_enrp_many(conn, to, now);
                }
                Transmit::ConnectEnrp { conn, to } => {
                    let tx = self.tx.clone();
                    let carrier = self.carrier;
                    let local = self.enrp_source;
                    let tls = self.enrp_tls.clone();
                    tokio::spawn(async move {
                        let timed_out =
                            || io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
                        let mut r = Err(timed_out());
                        if let Some(local) = local {
                            r = tokio::time::timeout(
                                CONNECT_TIMEOUT,
                                transport::connect_from(local, to, carrier, Ppid::Enrp),
                            )
                            .await
                            .unwrap_or_else(|_| Err(timed_out()));
                        }
                        // Over SCTP "address not available" means an
                        // association between the two endpoints exists
                        // already (the peer connected to us, crossing
                        // ours): it serves, and one from another port
                        // would not (RSPLIB drops a PRESENCE whose port
                        // is not that of the association).
                        let crossing = carrier == Carrier::Sctp
                            && matches!(&r, Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable);
                        if let (Err(e), false) = (&r, crossing) {
                            // The shared port can be busy (TCP's
                            // TIME_WAIT, a crossing connection): any port
                            // will do for this project's registrars.
                            debug!(
                                conn = conn.0,
                                "ENRP connect from the listening port failed: {e}"
                            );
                            r = tokio::time::timeout(
                                CONNECT_TIMEOUT,
                                transport::connect(to, carrier, Ppid::Enrp),
                            )
                            .await
                            .unwrap_or_else(|_| Err(timed_out()));
                        }
                        if let Some(tls) = tls {
                            r = match r {
                                Ok(a) => {
                                    let up = tokio::time::timeout(
                                        CONNECT_TIMEOUT,
                                        tls.connect(a, Expect::Registrar),
                                    )
                                    .await
                                    .unwrap_or_else(|_| Err(timed_out()));
                                    if let Err(e) = &up {
                                        warn!(conn = conn.0, %to, "ENRP TLS handshake failed: {e}");
                                    }
                                    up
                                }
                                Err(e) => Err(e),
                            };
                        }
                        let _ = tx.send(Input::EnrpConnected(conn, r)).await;
                    });
                }
                Transmit::ConnectAsap { assoc, to } => {
                    let tx = self.tx.clone();
                    let carrier = self.carrier;
                    let tls = self.enrp_tls.clone();
                    tokio::spawn(async move {
                        let mut last = io::Error::new(
                            io::ErrorKind::AddrNotAvailable,
                            "no address to connect to",
                        );
                        for addr in to {
                            match tokio::time::timeout(
                                CONNECT_TIMEOUT,
                                transport::connect(addr, carrier, Ppid::Asap),
                            )
                            .await
                            {
                                Ok(Ok(a)) => {
                                    // A taken-over PE shows its certificate,
                                    // which its re-registrations need.
                                    let r = match &tls {
                                        None => Ok(a),
                                        Some(tls) => tokio::time::timeout(
                                            CONNECT_TIMEOUT,
                                            tls.connect(a, Expect::Any),
                                        )
                                        .await
                                        .unwrap_or_else(|_| {
                                            Err(io::Error::new(
                                                io::ErrorKind::TimedOut,
                                                "TLS handshake timed out",
                                            ))
                                        }),
                                    };
                                    match r {
                                        Ok(a) => {
                                            let _ =
                                                tx.send(Input::AsapConnected(assoc, Ok(a))).await;
                                            return;
                                        }
                                        Err(e) => last = e,
                                    }
                                }
                                Ok(Err(e)) => last = e,
                                Err(_) => {
                                    last =
                                        io::Error::new(io::ErrorKind::TimedOut, "connect timed out")
                                }
                            }
                        }
                        let _ = tx.send(Input::AsapConnected(assoc, Err(last))).await;
                    });
                }
                Transmit::AnnounceAsap { bytes } => {
                    if let Some(a) = &self.asap_announcer {
                        if let Err(e) = a.send(&bytes).await {
                            debug!("ASAP announce not sent: {e}");
                        }
                    }
                }
                Transmit::AnnounceEnrp { bytes } => {
                    if let Some(a) = &self.enrp_announcer {
                        if let Err(e) = a.send(&bytes).await {
                            debug!("ENRP announce not sent: {e}");
                        }
                    }
                }
            }
        }
    }

    fn render_metrics(&self) -> String {
        let associations = metrics::Associations {
            asap: self.asap_links.len(),
            enrp: self.enrp_links.len(),
        };
        metrics::render_registrar(&self.registrar, associations, &self.counters)
    }
}

/// Answers an association beyond the limit with Lack of Resources, then
/// closes it.
fn refuse(mut a: Association, protocol: Protocol) {
    let bytes = core::refusal(protocol);
    tokio::spawn(async move {
        // A single bare cause always encodes.
        if let Ok(bytes) = bytes {
            let _ = tokio::time::timeout(CONNECT_TIMEOUT, a.send(&bytes)).await;
        }
        let _ = a.writer.shutdown().await;
    });
}

fn log_event(e: &Event) {
    match e {
        Event::PeRegistered { pool, pe, assoc } => debug!(%pool, %pe, assoc, "PE registered"),
        Event::PeReregistered { pool, pe } => debug!(%pool, %pe, "PE re-registered"),
        Event::PeRemoved { pool, pe, reason } => debug!(%pool, %pe, ?reason, "PE removed"),
        Event::PeLearned {
            pool,
            pe,
            home,
            updated,
        } => debug!(%pool, %pe, %home, updated, "PE learnt from a peer"),
        Event::PeHomeChanged { pool, pe, from, to } => {
            debug!(%pool, %pe, %from, %to, "PE home changed")
        }
        Event::PeerUp { peer, conn } => info!(%peer, conn = conn.0, "peer up"),
        Event::PeerDown { peer, reason } => info!(%peer, ?reason, "peer down"),
        Event::SyncStarted { peer } => info!(%peer, "synchronising handlespace"),
        Event::SyncCompleted { peer, entries } => info!(%peer, entries, "handlespace synchronised"),
        Event::ChecksumMismatch {
            peer,
            expected,
            announced,
        } => {
            warn!(%peer, expected = format_args!("{expected:#06x}"), announced = format_args!("{announced:#06x}"), "checksum mismatch: resynchronising")
        }
        Event::TakeoverStarted { target } => info!(%target, "takeover started"),
        Event::TakeoverCompleted { target, pes } => info!(%target, pes, "takeover completed"),
        Event::TakeoverAbandoned { target } => warn!(%target, "takeover abandoned"),
        Event::ProtocolError {
            from,
            detail,
            answered,
            closed,
        } => {
            warn!(?from, answered, closed, "protocol error: {detail}")
        }
        Event::RateLimited { assoc, what } => debug!(assoc, what, "rate limited"),
        Event::Unsent { to, error } => warn!(?to, "message not sent: {error}"),
        Event::PeerError {
            peer,
            causes,
            refused,
        } => {
            let names: Vec<String> = causes
                .iter()
                .map(|c| format!("{} ({:#06x})", c.name(), c.code()))
                .collect();
            warn!(
                %peer,
                refused = refused.len(),
                "peer answered with ENRP Error: {}",
                names.join(", ")
            )
        }
    }
}

/// The process's soft limit of open files (Linux, from /proc): every
/// association takes one, so the association limit must stay below it or
/// new clients are refused while idle ones hold the files.
fn open_file_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Associations per remote host: a slot is taken at accept and given back
/// when its link is dropped, however the association ends.
#[derive(Debug)]
struct HostQuota {
    per_host: usize,
    counts: std::sync::Arc<std::sync::Mutex<HashMap<std::net::IpAddr, usize>>>,
}

/// One taken place of a host; released on drop.
#[derive(Debug)]
struct HostSlot {
    host: std::net::IpAddr,
    counts: std::sync::Arc<std::sync::Mutex<HashMap<std::net::IpAddr, usize>>>,
}

impl HostQuota {
    fn new(per_host: usize) -> HostQuota {
        HostQuota {
            per_host,
            counts: std::sync::Arc::default(),
        }
    }

    /// A place for one more association from `peer`'s host, if it has one.
    fn take(&self, peer: Option<SocketAddr>) -> Option<HostSlot> {
        let host = peer.map_or(std::net::IpAddr::from([0, 0, 0, 0]), |p| p.ip());
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(host).or_insert(0);
        if *n >= self.per_host {
            return None;
        }
        *n += 1;
        Some(HostSlot {
            host,
            counts: self.counts.clone(),
        })
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.host) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.host);
            }
        }
    }
}
