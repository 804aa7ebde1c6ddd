//! The registrar (PR): the ASAP server side (RFC 5352) and the ENRP peer
//! (RFC 5353) as an I/O-free, deterministic state machine.
//!
//! Its driver feeds it events (messages from associations, associations
//! coming and going, timer expiry) with the current [`Time`], then drains
//! [`Registrar::poll_transmit`] and [`Registrar::poll_event`] and sleeps until
//! [`Registrar::poll_timeout`]. It never reads a clock and never touches a
//! socket; randomness comes from a seeded [`Xoshiro256`].

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use crate::handlespace::set::{BTreeFamily, SetFamily};
use crate::handlespace::{AssocId, Handlespace, Time, Xoshiro256};
use crate::wire::{DecodeOptions, PeId, PoolHandle, ServerId, TransportParam};

/// An ENRP association to a peer registrar, named by the registrar; the
/// driver maps it to a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Every timer and limit (RFC 5352/5353 defaults where the RFC gives one,
/// else RSPLIB's).
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub id: ServerId,
    /// This PR's ASAP endpoint(s), put into ASAP Server Announce.
    pub asap_transport: Option<TransportParam>,
    /// This PR's ENRP endpoint, put into Server Information (Presence, List Response).
    pub enrp_transport: TransportParam,
    /// Static peers: ENRP addresses to connect to.
    pub peers: Vec<SocketAddr>,
    /// Most PEs in a Handle Resolution Response (RSPLIB: 3).
    pub max_hres_items: u32,
    /// MAX-BAD-PE-REPORT.
    pub max_bad_pe_reports: u32,
    pub keep_alive_transmission_interval: Duration,
    pub keep_alive_timeout: Duration,
    /// SERVER-ANNOUNCE-CYCLE; announces are sent only when `announce` is set.
    pub server_announce_cycle: Duration,
    /// Send ASAP Server Announce and ENRP Presence by multicast.
    pub announce: bool,
    pub peer_heartbeat_cycle: Duration,
    pub max_time_last_heard: Duration,
    pub max_time_no_response: Duration,
    /// How long to wait for a mentor before serving alone.
    pub mentor_discovery_timeout: Duration,
    pub takeover_expiry: Duration,
    pub max_elements_per_htr: usize,
    /// Handle resolutions per second per association (None: unlimited).
    pub max_hr_rate: Option<u32>,
    /// Endpoint unreachables per second per association (None: unlimited).
    pub max_eu_rate: Option<u32>,
    /// Registration lifetimes below this are raised to it.
    pub min_registration_lifetime: Duration,
    pub handlespace: crate::handlespace::Config,
    pub decode: DecodeOptions,
}

impl Config {
    /// RFC 5352/5353 defaults where the RFC gives one, else RSPLIB's.
    pub fn new(id: ServerId, enrp_transport: TransportParam) -> Config {
        Config {
            id,
            asap_transport: None,
            enrp_transport,
            peers: Vec::new(),
            max_hres_items: 3,
            max_bad_pe_reports: 3,
            keep_alive_transmission_interval: Duration::from_secs(5),
            keep_alive_timeout: Duration::from_secs(5),
            server_announce_cycle: Duration::from_secs(5),
            announce: false,
            peer_heartbeat_cycle: Duration::from_secs(30),
            max_time_last_heard: Duration::from_secs(61),
            max_time_no_response: Duration::from_secs(5),
            mentor_discovery_timeout: Duration::from_secs(5),
            takeover_expiry: Duration::from_secs(5),
            max_elements_per_htr: 128,
            max_hr_rate: None,
            max_eu_rate: None,
            min_registration_lifetime: Duration::from_secs(1),
            handlespace: crate::handlespace::Config::default(),
            decode: DecodeOptions::default(),
        }
    }
}

/// What the driver must do. Bytes are complete, encoded ASAP/ENRP messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    Asap {
        assoc: AssocId,
        bytes: Vec<u8>,
    },
    /// Abort an ASAP association (stream unusable, or the PR drops the client).
    CloseAsap {
        assoc: AssocId,
    },
    Enrp {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// Open an ENRP association to `to`; answer with enrp_connected or enrp_closed.
    ConnectEnrp {
        conn: ConnId,
        to: SocketAddr,
    },
    CloseEnrp {
        conn: ConnId,
    },
    /// ASAP Server Announce to the ASAP announce multicast group.
    AnnounceAsap {
        bytes: Vec<u8>,
    },
    /// ENRP Presence to the ENRP multicast group.
    AnnounceEnrp {
        bytes: Vec<u8>,
    },
    /// Open an ASAP association to a PE this PR has taken over (to any of
    /// `to`, in order); answer with [`Registrar::asap_connected`] or
    /// [`Registrar::asap_closed`]. Messages for it follow as `Asap`
    /// transmits only after it is connected.
    ConnectAsap {
        assoc: AssocId,
        to: Vec<SocketAddr>,
    },
}

/// What happened, for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    PeRegistered {
        pool: PoolHandle,
        pe: PeId,
        assoc: AssocId,
    },
    PeReregistered {
        pool: PoolHandle,
        pe: PeId,
    },
    PeRemoved {
        pool: PoolHandle,
        pe: PeId,
        reason: RemovalReason,
    },
    PeerUp {
        peer: ServerId,
        conn: ConnId,
    },
    PeerDown {
        peer: ServerId,
        reason: PeerDownReason,
    },
    SyncStarted {
        peer: ServerId,
    },
    SyncCompleted {
        peer: ServerId,
        entries: usize,
    },
    ChecksumMismatch {
        peer: ServerId,
        expected: u16,
        announced: u16,
    },
    TakeoverStarted {
        target: ServerId,
    },
    TakeoverCompleted {
        target: ServerId,
        pes: usize,
    },
    TakeoverAbandoned {
        target: ServerId,
    },
    /// A malformed or unexpected message; `answered` says whether an Error
    /// was sent back, `closed` whether the association was aborted.
    ProtocolError {
        from: Source,
        detail: String,
        answered: bool,
        closed: bool,
    },
    RateLimited {
        assoc: AssocId,
        what: &'static str,
    },
}

/// Where a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Asap(AssocId),
    Enrp(ConnId),
    Announce,
}

/// Why a PE left the handlespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalReason {
    Deregistered,
    KeepAliveTimeout,
    AssociationLost,
    LifetimeExpired,
    UnreachableReports,
    PeerUpdate,
    PeerDown,
}

/// Why a peer is no longer considered live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerDownReason {
    Timeout,
    AssociationLost,
    Replaced,
}

/// Counters the driver exports as metrics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// By ASAP message type (index = type byte, 0 = unknown).
    pub asap_in: [u64; 16],
    pub asap_out: [u64; 16],
    pub enrp_in: [u64; 16],
    pub enrp_out: [u64; 16],
    /// Error causes sent, index = cause code.
    pub errors_by_cause: [u64; 16],
    pub decode_errors: u64,
    pub syncs: u64,
    pub takeovers: u64,
    pub rate_limited: u64,
}

/// The registrar state machine.
pub struct Registrar<F: SetFamily = BTreeFamily> {
    config: Config,
    hs: Handlespace<F>,
    #[allow(dead_code)]
    rng: Xoshiro256,
    stats: Stats,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    next_assoc: AssocId,
    next_conn: u64,
}

impl<F: SetFamily> std::fmt::Debug for Registrar<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("id", &self.config.id)
            .field("handlespace", &self.hs)
            .finish_non_exhaustive()
    }
}

impl<F: SetFamily> Registrar<F> {
    pub fn new(config: Config, _now: Time, seed: u64) -> Self {
        Registrar {
            hs: Handlespace::new(config.handlespace),
            config,
            rng: Xoshiro256::seed_from_u64(seed),
            stats: Stats::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            next_assoc: 1,
            next_conn: 1,
        }
    }
    pub fn id(&self) -> ServerId {
        self.config.id
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn handlespace(&self) -> &Handlespace<F> {
        &self.hs
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Live peers as (id, conn).
    pub fn peers(&self) -> impl Iterator<Item = (ServerId, ConnId)> + '_ {
        std::iter::empty()
    }

    pub fn asap_accepted(&mut self, _now: Time, _remote: SocketAddr) -> AssocId {
        let a = self.next_assoc;
        self.next_assoc += 1;
        a
    }
    pub fn asap_received(&mut self, _now: Time, _assoc: AssocId, _bytes: &[u8]) {}
    /// An outgoing ConnectAsap succeeded.
    pub fn asap_connected(&mut self, _now: Time, _assoc: AssocId) {}
    /// The association is gone (closed, aborted, or failed): its PEs are removed.
    pub fn asap_closed(&mut self, _now: Time, _assoc: AssocId) {}

    pub fn enrp_accepted(&mut self, _now: Time, _remote: SocketAddr) -> ConnId {
        let c = ConnId(self.next_conn);
        self.next_conn += 1;
        c
    }
    /// An outgoing ConnectEnrp succeeded.
    pub fn enrp_connected(&mut self, _now: Time, _conn: ConnId) {}
    pub fn enrp_received(&mut self, _now: Time, _conn: ConnId, _bytes: &[u8]) {}
    /// An ENRP association failed or closed (also for a ConnectEnrp that failed).
    pub fn enrp_closed(&mut self, _now: Time, _conn: ConnId) {}
    /// An ENRP Presence received by UDP multicast (peer discovery).
    pub fn enrp_announce_received(&mut self, _now: Time, _from: SocketAddr, _bytes: &[u8]) {}

    /// When handle_timeout must be called next (None: nothing scheduled).
    pub fn poll_timeout(&self) -> Option<Time> {
        None
    }
    pub fn handle_timeout(&mut self, _now: Time) {}

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Graceful stop: nothing special is sent by RFC; queues transmits to
    /// close associations.
    pub fn shutdown(&mut self, _now: Time) {}
}
