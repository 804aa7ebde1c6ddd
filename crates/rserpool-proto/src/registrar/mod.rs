//! The registrar (PR): the ASAP server side (RFC 5352) and the ENRP peer
//! (RFC 5353) as an I/O-free, deterministic state machine.
//!
//! Its driver feeds it events (messages from associations, associations
//! coming and going, timer expiry) with the current [`Time`], then drains
//! [`Registrar::poll_transmit`] and [`Registrar::poll_event`] and sleeps until
//! [`Registrar::poll_timeout`]. It never reads a clock and never touches a
//! socket; randomness comes from a seeded [`Xoshiro256`].
//!
//! Behaviour worth knowing (where RFC 5352/5353 leave a choice):
//! - A registration with an unspecified address (0.0.0.0, ::) gets the
//!   association's remote address; the PE's ASAP transport is the
//!   association's remote address (as RSPLIB takes the SCTP peer
//!   addresses). A PE known under another home PR that registers here
//!   moves here; the same PE ID from another association with another
//!   user transport is refused (Non-unique PE Identifier).
//! - Deregistration only through the registering association (else
//!   Rejection Due to Security); an unknown PE is answered positively.
//! - Endpoint Unreachable at MAX-BAD-PE-REPORT removes the PE here, also
//!   when another PR is its home (only the home sends DEL_PE); if the PE
//!   still lives at its home, the next checksum audit restores it.
//! - ASAP messages a registrar never receives (responses, keep-alives,
//!   announces, cookies, business cards) are answered with an ERROR
//!   (Unrecognized Message), like unknown types. ERRORs are never answered.
//!   A broken length field aborts the association (framing is lost).
//! - ENRP: an association becomes a peer with its first PRESENCE (always
//!   sent with R by the connecting side, and answered before anything
//!   else); two associations between the same PRs: the one opened by the
//!   lower server ID stays. The first peer of an unsynchronised PR is its
//!   mentor (full Handle Table, block-wise). A PRESENCE whose PE checksum
//!   differs from ours for that peer starts an audit (W flag, mark and
//!   sweep). A lost peer association makes the peer a suspect: dead after
//!   MAX-TIME-NO-RESPONSE unless it comes back; a silent one gets a
//!   PRESENCE with R after MAX-TIME-LAST-HEARD and is dead after
//!   MAX-TIME-NO-RESPONSE more. Dead peers with PEs are taken over (see
//!   the `takeover` module); [`Transmit::ConnectAsap`] opens the
//!   associations to the taken-over PEs.
//! - Entries learnt from peers live by their registration lifetime,
//!   refreshed by each Handle Update (a PE re-registers before it ends).

mod asap;
mod enrp;
mod refusal;
mod state;
mod sync;
mod takeover;
mod util;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::handlespace::{AssocId, DueTimer, EntryRef, Handlespace};
use crate::identity::Identity;
use crate::wire::{
    DecodeOptions, EncodeError, ErrorCauseCode, PeId, PoolHandle, ServerId, TransportParam,
};
use crate::{Time, Xoshiro256};

pub use asap::MAX_POOL_HANDLE_LEN;
pub use refusal::refusal;
use state::{Assoc, AssocTable, Conn, Peer, StaticPeer, SyncState, Takeover};

/// An ENRP association to a peer registrar, named by the registrar; the
/// driver maps it to a socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Every timer and limit (RFC 5352/5353 defaults where the RFC gives one,
/// else RSPLIB's).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// This registrar's server ID.
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
    /// How often the registrar checks a home PE with an Endpoint Keep-Alive.
    pub keep_alive_transmission_interval: Duration,
    /// How long a Keep-Alive waits for its acknowledgement before the PE is removed.
    pub keep_alive_timeout: Duration,
    /// SERVER-ANNOUNCE-CYCLE; announces are sent only when `announce` is set.
    pub server_announce_cycle: Duration,
    /// Send ASAP Server Announce and ENRP Presence by multicast.
    pub announce: bool,
    /// PEER-HEARTBEAT-CYCLE: how often a Presence goes to each peer.
    pub peer_heartbeat_cycle: Duration,
    /// MAX-TIME-LAST-HEARD: a peer silent this long is asked for a Presence.
    pub max_time_last_heard: Duration,
    /// MAX-TIME-NO-RESPONSE: a peer that does not answer within this is taken for dead.
    pub max_time_no_response: Duration,
    /// How long to wait for a mentor before serving alone.
    pub mentor_discovery_timeout: Duration,
    /// TAKEOVER-EXPIRY: how long a takeover waits for the peers to agree.
    pub takeover_expiry: Duration,
    /// Most Endpoint Keep-Alives (H flag) of a takeover unanswered at
    /// once: the next go as earlier ones are answered (or time out), so
    /// that each PE's answer time counts from its own Keep-Alive.
    pub takeover_reach_window: usize,
    /// Most PE entries in one Handle Table Response.
    pub max_elements_per_htr: usize,
    /// Handle resolutions per second per association (None: unlimited).
    pub max_hr_rate: Option<u32>,
    /// Endpoint unreachables per second per association (None: unlimited).
    pub max_eu_rate: Option<u32>,
    /// Registration lifetimes below this are raised to it.
    pub min_registration_lifetime: Duration,
    /// Hosts allowed as ENRP peers besides the static peers' (addresses or
    /// prefixes). Empty: any host (an open scope, as RSPLIB's); with
    /// entries, associations from other hosts are closed at once and
    /// peers learnt from List Responses or announces elsewhere are not
    /// contacted.
    pub peer_allow: Vec<AddrPrefix>,
    /// Most ENRP peers at once; peers learnt beyond it are not contacted.
    pub max_peers: usize,
    /// Most PEs registered through one ASAP association (a PE process
    /// registers one or a few): more get Lack of Resources, so that one
    /// client cannot fill the handlespace.
    pub max_pes_per_association: usize,
    /// Registration lifetimes above this are refused (Invalid Values) in
    /// ASAP and lowered to it from ENRP peers: a PE that never
    /// re-registers is gone after this long at most.
    pub max_registration_lifetime: Duration,
    /// An authenticated scope (TLS): ENRP only from registrar identities
    /// (and a PRESENCE only under the server ID the identity allows),
    /// registrations only from PE identities allowed into the pool, and a
    /// PE ID only re-registered by the identity that registered it. The
    /// driver hands identities in with [`Registrar::asap_identity`] and
    /// [`Registrar::enrp_identity`].
    pub require_identity: bool,
    /// The handlespace's own limits and tuning.
    pub handlespace: crate::handlespace::Config,
    /// Limits for decoding what peers and clients send.
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
            takeover_reach_window: 65_536,
            max_elements_per_htr: 128,
            max_hr_rate: None,
            max_eu_rate: None,
            min_registration_lifetime: Duration::from_secs(1),
            max_registration_lifetime: Duration::from_secs(3600),
            peer_allow: Vec::new(),
            max_peers: 64,
            max_pes_per_association: 4096,
            require_identity: false,
            handlespace: crate::handlespace::Config::default(),
            decode: DecodeOptions::default(),
        }
    }
}

/// What the driver must do. Bytes are complete, encoded ASAP/ENRP messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transmit {
    /// Send one ASAP message on an association.
    Asap {
        /// The ASAP association.
        assoc: AssocId,
        /// One encoded message.
        bytes: Vec<u8>,
    },
    /// Abort an ASAP association (stream unusable, or the PR drops the client).
    CloseAsap {
        /// The ASAP association.
        assoc: AssocId,
    },
    /// Send one ENRP message to a peer.
    Enrp {
        /// The ENRP association.
        conn: ConnId,
        /// One encoded message.
        bytes: Vec<u8>,
    },
    /// Open an ENRP association to `to`; answer with enrp_connected or enrp_closed.
    ConnectEnrp {
        /// The name for the new association.
        conn: ConnId,
        /// The peer's ENRP address.
        to: SocketAddr,
    },
    /// Close an ENRP association; no further reports for it.
    CloseEnrp {
        /// The ENRP association.
        conn: ConnId,
    },
    /// ASAP Server Announce to the ASAP announce multicast group.
    AnnounceAsap {
        /// The encoded Server Announce.
        bytes: Vec<u8>,
    },
    /// ENRP Presence to the ENRP multicast group.
    AnnounceEnrp {
        /// The encoded Presence.
        bytes: Vec<u8>,
    },
    /// Open an ASAP association to a PE this PR has taken over (to any of
    /// `to`, in order); answer with [`Registrar::asap_connected`] or
    /// [`Registrar::asap_closed`]. Messages for it follow as `Asap`
    /// transmits only after it is connected.
    ConnectAsap {
        /// The name for the new association.
        assoc: AssocId,
        /// The PE's ASAP addresses.
        to: Vec<SocketAddr>,
    },
}

/// What happened, for logs and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A PE registered with this registrar (its home).
    PeRegistered {
        /// The pool.
        pool: PoolHandle,
        /// The PE.
        pe: PeId,
        /// The association it registered on.
        assoc: AssocId,
    },
    /// A PE renewed its registration.
    PeReregistered {
        /// The pool.
        pool: PoolHandle,
        /// The PE.
        pe: PeId,
    },
    /// A PE left the handlespace.
    PeRemoved {
        /// The pool.
        pool: PoolHandle,
        /// The PE.
        pe: PeId,
        /// Why.
        reason: RemovalReason,
    },
    /// A PE entry learnt from a peer (Handle Update, Handle Table) was
    /// stored: new, or `updated` when it was known.
    PeLearned {
        /// The pool.
        pool: PoolHandle,
        /// The PE.
        pe: PeId,
        /// The entry's home registrar.
        home: ServerId,
        /// Whether the entry was already known.
        updated: bool,
    },
    /// A PE entry got another home PR by a takeover.
    PeHomeChanged {
        /// The pool.
        pool: PoolHandle,
        /// The PE.
        pe: PeId,
        /// The previous home registrar.
        from: ServerId,
        /// The new home registrar.
        to: ServerId,
    },
    /// A peer registrar is live (its Presence arrived).
    PeerUp {
        /// The peer registrar.
        peer: ServerId,
        /// The association it is live on.
        conn: ConnId,
    },
    /// A peer registrar is no longer live.
    PeerDown {
        /// The peer registrar.
        peer: ServerId,
        /// Why.
        reason: PeerDownReason,
    },
    /// A handle table synchronisation with a peer began.
    SyncStarted {
        /// The peer registrar.
        peer: ServerId,
    },
    /// A handle table synchronisation ended.
    SyncCompleted {
        /// The peer registrar.
        peer: ServerId,
        /// PE entries received.
        entries: usize,
    },
    /// A peer's checksum of its own PEs differs from this registrar's view; a resynchronisation follows.
    ChecksumMismatch {
        /// The peer registrar.
        peer: ServerId,
        /// The checksum computed here.
        expected: u16,
        /// The checksum the peer announced.
        announced: u16,
    },
    /// This registrar began to take over a dead peer.
    TakeoverStarted {
        /// The registrar taken over.
        target: ServerId,
    },
    /// The takeover succeeded: its PEs are this registrar's now.
    TakeoverCompleted {
        /// The registrar taken over.
        target: ServerId,
        /// PEs taken over.
        pes: usize,
    },
    /// The takeover was given up (another registrar won, or the peer came back).
    TakeoverAbandoned {
        /// The registrar taken over.
        target: ServerId,
    },
    /// A malformed or unexpected message; `answered` says whether an Error
    /// was sent back, `closed` whether the association was aborted.
    ProtocolError {
        /// Where it came from.
        from: Source,
        /// What was wrong.
        detail: String,
        /// Whether an Error was sent back.
        answered: bool,
        /// Whether the association was aborted.
        closed: bool,
    },
    /// A request was dropped: the association exceeded its rate.
    RateLimited {
        /// The ASAP association.
        assoc: AssocId,
        /// Which kind of request.
        what: &'static str,
    },
    /// A peer answered with an ENRP Error: its causes, and the PEs it
    /// refused where the Error names them (these are not sent to it again
    /// until they change).
    PeerError {
        /// The peer.
        peer: ServerId,
        /// The error causes.
        causes: Vec<ErrorCauseCode>,
        /// The PEs it refused.
        refused: Vec<(PoolHandle, PeId)>,
    },
    /// A message was not sent: it does not fit in 65535 bytes. The
    /// registrar's budgets keep every message it builds within the limit,
    /// so this names a bug rather than bad input.
    Unsent {
        /// Where it should have gone.
        to: Source,
        /// What did not fit.
        error: EncodeError,
    },
}

/// Where a message came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// An ASAP association.
    Asap(AssocId),
    /// An ENRP association.
    Enrp(ConnId),
    /// A multicast announce.
    Announce,
}

/// Why a PE left the handlespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemovalReason {
    /// The PE deregistered.
    Deregistered,
    /// The PE did not acknowledge a Keep-Alive in time.
    KeepAliveTimeout,
    /// The PE's ASAP association was lost.
    AssociationLost,
    /// The registration lifetime ran out.
    LifetimeExpired,
    /// Enough pool users reported the PE unreachable (MAX-BAD-PE-REPORT).
    UnreachableReports,
    /// A peer registrar's Handle Update removed it.
    PeerUpdate,
    /// Its home registrar died and it was not taken over.
    PeerDown,
}

/// Why a peer is no longer considered live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerDownReason {
    /// Nothing heard within MAX-TIME-NO-RESPONSE.
    Timeout,
    /// Its association was lost and it did not come back in time.
    AssociationLost,
    /// Another association took its server ID.
    Replaced,
}

/// Counters the driver exports as metrics.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// By ASAP message type (index = type byte, 0 = unknown).
    pub asap_in: [u64; 16],
    /// By ASAP message type sent.
    pub asap_out: [u64; 16],
    /// By ENRP message type received.
    pub enrp_in: [u64; 16],
    /// By ENRP message type sent.
    pub enrp_out: [u64; 16],
    /// Error causes sent, index = cause code.
    pub errors_by_cause: [u64; 16],
    /// Messages that did not decode.
    pub decode_errors: u64,
    /// Handle table synchronisations completed.
    pub syncs: u64,
    /// Takeovers completed.
    pub takeovers: u64,
    /// Requests dropped by the rate limits.
    pub rate_limited: u64,
}

/// The registrar state machine. See the module documentation.
pub struct Registrar {
    config: Config,
    hs: Handlespace,
    rng: Xoshiro256,
    stats: Stats,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
    /// The latest time handed in (time never goes backwards here).
    now: Time,
    assocs: AssocTable,
    next_conn: u64,
    conns: BTreeMap<ConnId, Conn>,
    statics: Vec<StaticPeer>,
    /// Live peers: identified by a PRESENCE on their association.
    peers: BTreeMap<ServerId, Peer>,
    /// Peers whose association was lost: dead at the deadline unless they
    /// come back.
    suspects: BTreeMap<ServerId, Time>,
    /// The hosts (remote IP addresses of its associations) each peer was
    /// identified from, kept while it is live, suspect or being taken
    /// over: its ID is not accepted from another host meanwhile.
    peer_hosts: BTreeMap<ServerId, Vec<IpAddr>>,
    /// The hosts that reported each PE unreachable: MAX-BAD-PE-REPORT
    /// counts distinct hosts, so that one pool user cannot evict a PE.
    unreachable_reporters: BTreeMap<(PoolHandle, PeId), Vec<IpAddr>>,
    /// Takeovers this PR runs, by target.
    takeovers: BTreeMap<ServerId, Takeover>,
    /// Targets another PR is taking over: until when, and every initiator
    /// we acknowledged (any of them may be the one that wins).
    foreign_takeovers: BTreeMap<ServerId, (Time, BTreeSet<ServerId>)>,
    /// Taken-over PEs still to reach with a Keep-Alive (H flag), and the
    /// ones reached but not answered yet (`Config::takeover_reach_window`).
    reach: takeover::Reach,
    sync: SyncState,
    mentor_deadline: Option<Time>,
    next_heartbeat: Time,
    next_announce: Option<Time>,
    due: Vec<DueTimer>,
    resolve_buf: Vec<EntryRef>,
    stopped: bool,
}

impl std::fmt::Debug for Registrar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registrar")
            .field("id", &self.config.id)
            .field("handlespace", &self.hs)
            .field("peers", &self.peers.len())
            .field("associations", &self.assocs.len())
            .finish_non_exhaustive()
    }
}

impl Registrar {
    /// A registrar with an empty handlespace; it connects to its static
    /// peers at once (see [`Registrar::poll_transmit`]).
    pub fn new(mut config: Config, now: Time, seed: u64) -> Self {
        config.handlespace.max_bad_pe_reports = config.max_bad_pe_reports;
        let statics = config.peers.iter().map(|a| StaticPeer::new(*a)).collect();
        let mut r = Registrar {
            hs: Handlespace::new(config.handlespace),
            rng: Xoshiro256::seed_from_u64(seed),
            stats: Stats::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            now,
            assocs: AssocTable::default(),
            next_conn: 1,
            conns: BTreeMap::new(),
            statics,
            peers: BTreeMap::new(),
            suspects: BTreeMap::new(),
            peer_hosts: BTreeMap::new(),
            unreachable_reporters: BTreeMap::new(),
            takeovers: BTreeMap::new(),
            foreign_takeovers: BTreeMap::new(),
            reach: takeover::Reach::default(),
            sync: SyncState::Unsynced,
            mentor_deadline: Some(now + config.mentor_discovery_timeout),
            next_heartbeat: now + config.peer_heartbeat_cycle,
            next_announce: None,
            due: vec![DueTimer::NONE; 64],
            resolve_buf: Vec::new(),
            stopped: false,
            config,
        };
        for i in 0..r.statics.len() {
            r.connect_static(i);
        }
        r
    }

    /// This registrar's server ID.
    pub fn id(&self) -> ServerId {
        self.config.id
    }
    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The handlespace, read-only.
    pub fn handlespace(&self) -> &Handlespace {
        &self.hs
    }
    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }
    /// Live peers as (id, conn).
    pub fn peers(&self) -> impl Iterator<Item = (ServerId, ConnId)> + '_ {
        self.peers.iter().map(|(id, p)| (*id, p.conn))
    }
    /// The remote address of an ENRP association (for logs).
    pub fn conn_address(&self, conn: ConnId) -> Option<SocketAddr> {
        self.conns.get(&conn).and_then(|c| c.remote)
    }
    /// True once a full handlespace synchronisation from a mentor completed.
    pub fn is_synchronised(&self) -> bool {
        matches!(self.sync, SyncState::Synced)
    }
    /// Peers whose association was lost, with the time they count as dead
    /// unless they come back.
    pub fn suspects(&self) -> impl Iterator<Item = (ServerId, Time)> + '_ {
        self.suspects.iter().map(|(id, t)| (*id, *t))
    }
    /// Targets of takeovers in progress.
    pub fn takeovers_in_progress(&self) -> impl Iterator<Item = ServerId> + '_ {
        self.takeovers.keys().copied()
    }

    fn tick(&mut self, now: Time) -> Time {
        if now > self.now {
            self.now = now;
        }
        self.now
    }

    // ---- ASAP ----

    /// A PE or PU connected; the returned id names the association.
    pub fn asap_accepted(&mut self, now: Time, remote: SocketAddr) -> AssocId {
        self.tick(now);
        let a = self.alloc_assoc();
        if self.stopped {
            self.transmits.push_back(Transmit::CloseAsap { assoc: a });
        } else {
            self.assocs.insert(a, Assoc::accepted(remote));
        }
        a
    }

    /// All addresses of a multi-homed association's remote endpoint (over
    /// SCTP, as the kernel reports them), so that the PE's ASAP transport
    /// forwarded to peers lists every one, as RSPLIB's does. Without this
    /// call the address the association was accepted from stands alone.
    pub fn asap_remote_addresses(&mut self, assoc: AssocId, addrs: &[IpAddr]) {
        if let Some(a) = self.assocs.get_mut(&assoc) {
            a.set_remote_addrs(addrs.iter().take(util::MAX_REGISTRATOR_ADDRESSES).copied());
        }
    }

    /// Who the transport authenticated at the other end of an ASAP
    /// association (a PE's or a pool user's certificate); call it before
    /// the association's first message.
    pub fn asap_identity(&mut self, assoc: AssocId, identity: Identity) {
        if let Some(a) = self.assocs.get_mut(&assoc) {
            a.set_identity(identity);
        }
    }

    /// One complete ASAP message from an association.
    pub fn asap_received(&mut self, now: Time, assoc: AssocId, bytes: &[u8]) {
        let now = self.tick(now);
        if self.stopped {
            return;
        }
        self.on_asap(now, assoc, bytes);
    }

    /// An outgoing [`Transmit::ConnectAsap`] succeeded: held messages go out.
    pub fn asap_connected(&mut self, now: Time, assoc: AssocId) {
        let now = self.tick(now);
        self.on_asap_connected(now, assoc);
    }

    /// The association is gone (closed, aborted, or failed): its PEs are removed.
    pub fn asap_closed(&mut self, now: Time, assoc: AssocId) {
        let now = self.tick(now);
        self.drop_assoc(now, assoc);
        self.reach_more(now);
    }

    // ---- ENRP ----

    /// A peer connected to us; the returned id names the association.
    /// With a peer allow-list, one from any other host is closed at once.
    pub fn enrp_accepted(&mut self, now: Time, remote: SocketAddr) -> ConnId {
        self.tick(now);
        let c = self.alloc_conn();
        if self.stopped {
            self.transmits.push_back(Transmit::CloseEnrp { conn: c });
        } else if !self.peer_host_allowed(remote.ip()) {
            self.transmits.push_back(Transmit::CloseEnrp { conn: c });
            self.event(Event::ProtocolError {
                from: Source::Enrp(c),
                detail: format!("ENRP association from {remote}: not an allowed peer host"),
                answered: false,
                closed: true,
            });
        } else {
            self.conns.insert(c, Conn::accepted(remote, self.now));
        }
        c
    }

    /// Who the transport authenticated at the other end of an ENRP
    /// association (accepted or opened); call it before the association's
    /// first message (and before [`Registrar::enrp_connected`]). In an
    /// authenticated scope an identity without the registrar role closes
    /// the association at once.
    pub fn enrp_identity(&mut self, conn: ConnId, identity: Identity) {
        if self.config.require_identity && identity.registrar.is_none() {
            if self.conns.contains_key(&conn) {
                self.close_conn(conn);
            }
            self.event(Event::ProtocolError {
                from: Source::Enrp(conn),
                detail: format!("ENRP association from {identity}: not a registrar certificate"),
                answered: false,
                closed: true,
            });
            return;
        }
        if let Some(c) = self.conns.get_mut(&conn) {
            c.identity = Some(identity);
        }
    }

    /// An outgoing [`Transmit::ConnectEnrp`] succeeded.
    pub fn enrp_connected(&mut self, now: Time, conn: ConnId) {
        let now = self.tick(now);
        self.on_enrp_connected(now, conn);
    }

    /// One complete ENRP message from a peer association.
    pub fn enrp_received(&mut self, now: Time, conn: ConnId, bytes: &[u8]) {
        let now = self.tick(now);
        if self.stopped {
            return;
        }
        self.on_enrp(now, conn, bytes);
    }

    /// An ENRP association failed or closed (also for a ConnectEnrp that failed).
    pub fn enrp_closed(&mut self, now: Time, conn: ConnId) {
        let now = self.tick(now);
        self.on_enrp_closed(now, conn);
    }

    /// An ENRP Presence received by UDP multicast (peer discovery).
    pub fn enrp_announce_received(&mut self, now: Time, from: SocketAddr, bytes: &[u8]) {
        let now = self.tick(now);
        if self.stopped {
            return;
        }
        self.on_announce(now, from, bytes);
    }

    // ---- time ----

    /// When [`Registrar::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Time> {
        if self.stopped {
            return None;
        }
        // O(1) and possibly early (then handle_timeout finds nothing due):
        // this runs after every message.
        let mut t = self.hs.next_wakeup();
        let mut at = |d: Time| {
            t = Some(t.map_or(d, |x| x.min(d)));
        };
        at(self.next_heartbeat);
        if let Some(d) = self.mentor_deadline {
            at(d);
        }
        if let Some(d) = self.next_announce {
            at(d);
        }
        for s in &self.statics {
            if let Some(d) = s.retry_at {
                at(d);
            }
        }
        for p in self.peers.values() {
            at(p.liveness_deadline(&self.config));
        }
        for d in self.suspects.values() {
            at(*d);
        }
        for c in self.conns.values() {
            if c.connected && c.peer.is_none() {
                at(c.since + self.config.max_time_no_response);
            }
        }
        for t in self.takeovers.values() {
            at(t.deadline);
        }
        for (d, _) in self.foreign_takeovers.values() {
            at(*d);
        }
        if let Some(d) = self.reach.sweep_due(self.config.takeover_reach_window) {
            at(d);
        }
        t
    }

    /// Runs everything due at `now`.
    pub fn handle_timeout(&mut self, now: Time) {
        let now = self.tick(now);
        if self.stopped {
            return;
        }
        self.run_pe_timers(now);
        self.reach_more(now);
        self.run_peer_timers(now);
        self.run_takeover_timers(now);
        self.run_cycle_timers(now);
    }

    fn run_cycle_timers(&mut self, now: Time) {
        if self.mentor_deadline.is_some_and(|d| d <= now) {
            self.mentor_deadline = None;
            if self.config.announce {
                self.next_announce = Some(now);
            }
        }
        if now >= self.next_heartbeat {
            self.next_heartbeat = now + self.config.peer_heartbeat_cycle.max(MIN_CYCLE);
            self.send_heartbeats();
        }
        if let Some(d) = self.next_announce {
            if d <= now {
                self.next_announce = Some(now + self.config.server_announce_cycle.max(MIN_CYCLE));
                self.send_server_announce();
            }
        }
        for i in 0..self.statics.len() {
            if self.statics[i].retry_at.is_some_and(|d| d <= now) {
                self.statics[i].retry_at = None;
                self.connect_static(i);
            }
        }
        // A takeover we agreed to did not happen: try ourselves (RSPLIB
        // restarts its no-response timer for the target).
        let lapsed: Vec<ServerId> = self
            .foreign_takeovers
            .iter()
            .filter(|(_, (until, _))| *until <= now)
            .map(|(t, _)| *t)
            .collect();
        for target in lapsed {
            self.foreign_takeovers.remove(&target);
            self.start_takeover(now, target);
        }
    }

    // ---- outputs ----

    /// The next thing the driver must do, if any.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }
    /// The next event for logs and metrics, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Graceful stop: nothing special is sent by RFC; queues transmits to
    /// close every association. The registrar does nothing afterwards.
    pub fn shutdown(&mut self, now: Time) {
        self.tick(now);
        for a in std::mem::take(&mut self.assocs).into_keys() {
            self.transmits.push_back(Transmit::CloseAsap { assoc: a });
        }
        for c in std::mem::take(&mut self.conns).into_keys() {
            self.transmits.push_back(Transmit::CloseEnrp { conn: c });
        }
        self.peers.clear();
        self.suspects.clear();
        self.takeovers.clear();
        self.reach = takeover::Reach::default();
        self.stopped = true;
    }

    fn alloc_assoc(&mut self) -> AssocId {
        self.assocs.next_id()
    }

    fn alloc_conn(&mut self) -> ConnId {
        let c = ConnId(self.next_conn);
        self.next_conn += 1;
        c
    }

    fn event(&mut self, e: Event) {
        self.events.push_back(e);
    }
}

/// Cycles shorter than this are raised to it, so a zero in the
/// configuration cannot make the registrar spin.
const MIN_CYCLE: Duration = Duration::from_millis(10);

/// An IP address prefix (`10.0.0.0/8`, `fd00::/16`, or one address), for
/// the peer allow-list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AddrPrefix {
    addr: IpAddr,
    len: u8,
}

impl AddrPrefix {
    /// `len` is cut to the family's address length.
    pub fn new(addr: IpAddr, len: u8) -> AddrPrefix {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        AddrPrefix {
            addr,
            len: len.min(max),
        }
    }

    /// Whether `ip` lies in the prefix (IPv4-mapped IPv6 addresses count
    /// as their IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => prefix_eq(
                u128::from(a.to_bits()) << 96,
                u128::from(b.to_bits()) << 96,
                self.len,
            ),
            (IpAddr::V6(a), IpAddr::V6(b)) => prefix_eq(a.to_bits(), b.to_bits(), self.len),
            _ => false,
        }
    }
}

fn prefix_eq(a: u128, b: u128, len: u8) -> bool {
    len == 0 || (a ^ b) >> (128 - u32::from(len)) == 0
}

impl std::str::FromStr for AddrPrefix {
    type Err = String;
    fn from_str(s: &str) -> Result<AddrPrefix, String> {
        let (a, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or prefix (e.g. 10.0.0.0/8)"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(AddrPrefix::new(addr, len))
    }
}

impl std::fmt::Display for AddrPrefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}
